"""NASA FIRMS active-fire CSV -> signed `satellite` reports (spec section 2), logged.

The importer is a sensor of kind `satellite` (default id `firms-importer`) with its own
Ed25519 key, kept in the store (`truceline_meta`, key `importer_key:<id>`) or in a key
file (`--importer-key FILE`, same format as a log key file, created if missing). Each CSV
row becomes a report signed by that key; the body carries the spec fields plus optional
provenance fields (`source_sha256` of the CSV file, `source_row`, the FIRMS columns it
came from), so the signature and the evidence log cover where every detection came from.
An `import` entry (file name, SHA-256, row counts, importer key) is appended to the log
too. Re-importing the same file yields the same ids, sequence numbers and signatures
(Ed25519 is deterministic), so it is a no-op: every report is a duplicate.

Column mapping (VIIRS and MODIS files as FIRMS distributes them, and the project's
`firms_viirs_*.csv` extracts):

| report field | from |
|---|---|
| `lat`, `lon` | `latitude`, `longitude` |
| `time` | `timestamp_utc` if present, else `acq_date` + `acq_time` (HHMM) or `acq_time_utc` (HH:MM) |
| `frp_mw` | `frp` |
| `radius_m` | half the pixel: 500 * sqrt(`scan` * `track`) (km -> m); without scan/track 187.5 m (VIIRS 375 m) or 500 m (MODIS 1 km) |
| `confidence` | VIIRS `low`/`nominal`/`high` (or `l`/`n`/`h`); MODIS 0-100: < 30 low, 30-79 nominal, >= 80 high (FIRMS' own classes) |
| optional | `bright_k` (`bright_ti4` or `brightness`), `bright_2_k` (`bright_ti5` or `bright_t31`), `scan_km`, `track_km`, `satellite`, `instrument`, `daynight`, `firms_version`, `source_event_id` (`event_id`) |

Columns named `derived_*` (added by third parties, not FIRMS) are ignored.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from truceline import formats
from truceline.errors import InputError
from truceline.evidence.keys import read_key_file, write_key_file
from truceline.evidence.log import append_entries
from truceline.ingest.registry import Sensor, registry_from_json
from truceline.jcs import canonical_bytes
from truceline.store import Store
from truceline.store.reports import meta

OPERATOR = "truceline FIRMS importer (signs on import; provenance: source_sha256)"


def _meta_get(conn, key: str) -> str | None:  # type: ignore[no-untyped-def]
    return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()


def importer_key(store: Store, sensor_id: str, key_file: str | Path | None = None) -> Ed25519PrivateKey:
    """The importer's signing key: from `key_file` (created if missing) or the store."""
    if key_file is not None:
        path = Path(key_file)
        if not path.exists():
            write_key_file(path, formats.new_private_key())
        return read_key_file(path)
    with store.write() as conn:
        stored = _meta_get(conn, f"importer_key:{sensor_id}")
        if stored is not None:
            return formats.private_key_from_b64(stored)
        key = formats.new_private_key()
        conn.execute(meta.insert().values(key=f"importer_key:{sensor_id}", value=formats.private_key_to_b64(key)))
        return key


def importer_sensor(sensor_id: str, key: Ed25519PrivateKey) -> dict[str, Any]:
    """The importer's registry entry (spec section 1)."""
    return {"id": sensor_id, "kind": "satellite", "public_key": formats.public_key_b64(key), "operator": OPERATOR}


def _num(row: dict[str, str], *names: str) -> float | None:
    for name in names:
        text = (row.get(name) or "").strip()
        if text:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError(f"{name} is not finite")
            return value
    return None


def _time(row: dict[str, str]) -> str:
    stamp = (row.get("timestamp_utc") or "").strip()
    if stamp:
        if stamp.endswith("+00:00"):
            stamp = stamp[:-6] + "Z"
        formats.parse_time(stamp)
        return stamp
    date = (row.get("acq_date") or "").strip()
    clock = (row.get("acq_time_utc") or "").strip()
    if clock:
        hh, mm = clock.split(":")[:2]
    else:
        raw = (row.get("acq_time") or "").strip()
        if not raw.isdigit():
            raise ValueError("no acq_time / acq_time_utc / timestamp_utc")
        raw = raw.zfill(4)
        hh, mm = raw[:2], raw[2:]
    dt = datetime.strptime(f"{date} {int(hh):02d}:{int(mm):02d}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _confidence(text: str) -> str:
    text = (text or "").strip().lower()
    named = {"l": "low", "low": "low", "n": "nominal", "nominal": "nominal", "h": "high", "high": "high"}
    if text in named:
        return named[text]
    value = float(text)
    if not 0 <= value <= 100:
        raise ValueError(f"confidence {text} outside 0..100")
    return "low" if value < 30 else "nominal" if value < 80 else "high"


def row_body(row: dict[str, str], source_sha256: str, row_number: int) -> dict[str, Any]:
    """Satellite report body for one CSV row (ValueError if the row is unusable)."""
    lat, lon = _num(row, "latitude", "lat"), _num(row, "longitude", "lon")
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError("latitude/longitude missing or out of range")
    instrument = (row.get("instrument") or "").strip().upper()
    scan, track = _num(row, "scan"), _num(row, "track")
    if scan is not None and track is not None and scan > 0 and track > 0:
        radius = round(500.0 * math.sqrt(scan * track), 1)
    else:
        radius = 500.0 if instrument == "MODIS" or "brightness" in row else 187.5
    frp = _num(row, "frp")
    if frp is None or frp < 0:
        raise ValueError("frp missing or negative")
    body: dict[str, Any] = {"lat": lat, "lon": lon, "radius_m": radius, "frp_mw": frp,
                            "confidence": _confidence(row.get("confidence", ""))}
    b1, b2 = _num(row, "bright_ti4", "brightness"), _num(row, "bright_ti5", "bright_t31")
    optional: dict[str, Any] = {"bright_k": b1, "bright_2_k": b2, "scan_km": scan, "track_km": track}
    for key, column in (("satellite", "satellite"), ("instrument", "instrument"), ("daynight", "daynight"),
                        ("firms_version", "version"), ("source_event_id", "event_id")):
        text = (row.get(column) or "").strip()
        optional[key] = text or None
    body.update({k: v for k, v in optional.items() if v is not None})
    body["source_sha256"] = source_sha256
    body["source_row"] = row_number
    return body


def _seq_base(store: Store, sensor_id: str, source_sha256: str, rows: int) -> int:
    """First sequence number for this file: reserved once per (importer, file), so a
    re-import reuses it and a new file continues after every earlier one."""
    with store.write() as conn:
        key = f"importer_seq:{sensor_id}:{source_sha256}"
        base = _meta_get(conn, key)
        if base is not None:
            return int(base)
        next_key = f"importer_next_seq:{sensor_id}"
        nxt = int(_meta_get(conn, next_key) or 0)
        conn.execute(meta.insert().values(key=key, value=str(nxt)))
        if _meta_get(conn, next_key) is None:
            conn.execute(meta.insert().values(key=next_key, value=str(nxt + rows)))
        else:
            conn.execute(meta.update().where(meta.c.key == next_key).values(value=str(nxt + rows)))
        return nxt


def firms_reports(data: bytes, source_sha256: str, sensor_id: str, key: Ed25519PrivateKey, seq_base: int,
                  source_name: str = "") -> tuple[list[dict[str, Any]], list[str], int]:
    """(signed reports, problems, data rows) for the CSV bytes."""
    text = data.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"latitude", "longitude"} <= {f.strip() for f in reader.fieldnames}:
        raise InputError(f"{source_name}: not a FIRMS CSV (needs latitude and longitude columns)")
    reports: list[dict[str, Any]] = []
    problems: list[str] = []
    rows = 0
    for number, row in enumerate(reader, start=1):
        rows += 1
        row = {(k or "").strip(): v for k, v in row.items() if not (k or "").startswith("derived_")}
        try:
            body = row_body(row, source_sha256, number)
            when = _time(row)
        except (ValueError, TypeError) as exc:
            problems.append(f"{source_name}: row {number}: {exc}")
            continue
        report = {"id": f"firms-{hashlib.sha256(f'{source_sha256}:{number}'.encode()).hexdigest()[:20]}",
                  "sensor": sensor_id, "kind": "satellite", "seq": seq_base + number - 1, "time": when,
                  "body": body}
        report["sig"] = formats.b64encode(key.sign(canonical_bytes(report)))
        reports.append(report)
    return reports, problems, rows


def import_firms_file(path: str | Path, store: Store, *, sensor_id: str = "firms-importer",
                      importer_key: str | Path | None = None, log_key: str | Path | None = None,
                      sensors_out: str | Path | None = None, reports_out: str | Path | None = None) -> dict[str, Any]:
    """Import one FIRMS CSV into the store and the log; returns a JSON-able summary."""
    from truceline.ingest.store_sink import ingest_lines

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read FIRMS CSV: {exc.strerror or exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    key = _importer_key(store, sensor_id, importer_key)
    entry = importer_sensor(sensor_id, key)
    registry: dict[str, Sensor] = registry_from_json([entry])
    rows_estimate = max(1, data.count(b"\n"))
    base = _seq_base(store, sensor_id, digest, rows_estimate)
    reports, problems, rows = firms_reports(data, digest, sensor_id, key, base, str(path))
    lines = [canonical_bytes(r) for r in reports]
    if reports_out is not None:
        Path(reports_out).write_bytes(b"".join(line + b"\n" for line in lines))
    if sensors_out is not None:
        _merge_registry(Path(sensors_out), entry)
    record = {"id": f"import-{digest[:20]}", "type": "import", "feed": "NASA FIRMS active fire CSV",
              "file_name": path.name, "sha256": digest, "rows": rows, "rows_skipped": len(problems),
              "reports": len(reports), "importer": sensor_id, "importer_public_key": entry["public_key"],
              "first_seq": base}
    append_entries(store, [record], "import", [record["id"]])
    summary = ingest_lines(lines, registry, store, source=digest, source_name=str(path), workers=1, log_key=log_key)
    return {"source_sha256": digest, "rows": rows, "rows_skipped": len(problems), "problems": problems,
            "import_record": record, "importer": entry, "ingest": summary.to_json()}


def _importer_key(store: Store, sensor_id: str, key_file: str | Path | None) -> Ed25519PrivateKey:
    return importer_key(store, sensor_id, key_file)


def _merge_registry(path: Path, entry: dict[str, Any]) -> None:
    entries: list[dict[str, Any]] = []
    if path.exists():
        try:
            entries = json.loads(path.read_text())
        except ValueError as exc:
            raise InputError(f"{path}: existing sensor registry is not JSON: {exc}") from None
        if not isinstance(entries, list):
            raise InputError(f"{path}: existing sensor registry is not a JSON array")
    entries = [e for e in entries if not (isinstance(e, dict) and e.get("id") == entry["id"])] + [entry]
    path.write_text(json.dumps(entries, indent=1) + "\n")
