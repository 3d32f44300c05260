"""FIRMS importer: VIIRS (the project's real December 2025 extract) and MODIS columns,
signed on import, provenance in the log, idempotent re-import."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from common import SHARED_DATA
from truceline import formats
from truceline.errors import InputError
from truceline.evidence import inclusion_proof, latest_head
from truceline.evidence.audit import audit
from truceline.ingest import load_registry, validate_lines
from truceline.ingest.firms import import_firms_file
from truceline.store.reports import reports

VIIRS = SHARED_DATA / "firms_viirs_ukraine_2025-12.csv"

MODIS = """latitude,longitude,brightness,scan,track,acq_date,acq_time,satellite,instrument,confidence,version,bright_t31,frp,daynight
48.1,37.9,320.5,1.2,1.1,2026-01-06,0314,Terra,MODIS,85,6.1NRT,290.1,25.3,N
48.2,37.8,310.2,,,2026-01-06,5,Aqua,MODIS,29,6.1NRT,285.0,4.0,D
48.3,37.7,305.0,1.0,1.0,2026-01-06,1200,Aqua,MODIS,30,6.1NRT,280.0,0,D
95.0,37.7,305.0,1.0,1.0,2026-01-06,1200,Aqua,MODIS,50,6.1NRT,280.0,3,D
"""


def test_viirs_import_signed_logged_idempotent(store, tmp_path):
    sensors_out, reports_out = tmp_path / "sensors.json", tmp_path / "firms.jsonl"
    result = import_firms_file(VIIRS, store, sensors_out=sensors_out, reports_out=reports_out)
    assert result["rows"] == 290 and result["rows_skipped"] == 0
    assert result["ingest"]["accepted"] == 290
    # the written reports verify with the written registry entry, as anyone's reports would
    registry = load_registry(sensors_out)
    checked = validate_lines(reports_out.read_bytes().splitlines(), registry, workers=1)
    assert len(checked.accepted) == 290 and not checked.quarantined
    first = checked.accepted[0]
    assert first["kind"] == "satellite" and first["time"] == "2025-12-02T22:29:00Z"
    body = first["body"]
    assert body["lat"] == 48.53733 and body["frp_mw"] == 0.95 and body["confidence"] == "nominal"
    assert body["radius_m"] == pytest.approx(500 * (0.5 * 0.66) ** 0.5, abs=0.1)
    assert body["source_sha256"] == result["source_sha256"] and body["source_row"] == 1
    assert not any(k.startswith("derived") for k in body)
    # provenance record is a log entry with the file's hash
    record = result["import_record"]
    assert record["sha256"] == result["source_sha256"] and record["rows"] == 290
    proof = inclusion_proof(store, record["id"], kind="import")
    assert proof["leaf_index"] == 0
    again = import_firms_file(VIIRS, store)
    assert again["ingest"]["accepted"] == 0 and again["ingest"]["duplicates"] == 290
    assert latest_head(store)["tree_size"] == 291
    assert audit(store).ok


def test_modis_columns_and_confidence_mapping(store, tmp_path):
    path = tmp_path / "modis.csv"
    path.write_text(MODIS)
    out = tmp_path / "modis.jsonl"
    result = import_firms_file(path, store, reports_out=out, sensor_id="firms-modis")
    assert result["rows"] == 4 and result["rows_skipped"] == 1 and "row 4" in result["problems"][0]
    bodies = [json.loads(line)["body"] for line in out.read_text().splitlines()]
    times = [json.loads(line)["time"] for line in out.read_text().splitlines()]
    assert [b["confidence"] for b in bodies] == ["high", "low", "nominal"]
    assert times == ["2026-01-06T03:14:00Z", "2026-01-06T00:05:00Z", "2026-01-06T12:00:00Z"]
    assert bodies[0]["bright_k"] == 320.5 and bodies[0]["bright_2_k"] == 290.1
    assert bodies[0]["radius_m"] == pytest.approx(500 * (1.2 * 1.1) ** 0.5, abs=0.1)
    assert bodies[1]["radius_m"] == 500.0  # MODIS 1 km pixel without scan/track
    with store.engine.connect() as conn:
        seqs = sorted(s for (s,) in conn.execute(sa.select(reports.c.seq)))
    assert seqs == [0, 1, 2]


def test_importer_key_file(store, tmp_path):
    path = tmp_path / "modis.csv"
    path.write_text(MODIS)
    key_file = tmp_path / "importer.key"
    result = import_firms_file(path, store, importer_key=key_file)
    assert key_file.exists()
    assert result["importer"]["public_key"] == json.loads(key_file.read_text())["public_key"]
    assert formats.b64decode(result["importer"]["public_key"], 32)


def test_not_a_firms_csv(store, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="latitude"):
        import_firms_file(path, store)


def test_import_firms_cli(tmp_path):
    from typer.testing import CliRunner

    from truceline.cli import app

    path = tmp_path / "modis.csv"
    path.write_text(MODIS)
    db = f"sqlite:///{tmp_path / 'f.sqlite'}"
    result = CliRunner().invoke(app, ["import", "firms", str(path), "--db", db, "--json",
                                      "--sensors-out", str(tmp_path / "sensors.json")])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["ingest"]["accepted"] == 3 and out["rows_skipped"] == 1
    assert load_registry(tmp_path / "sensors.json")["firms-importer"].kind == "satellite"
