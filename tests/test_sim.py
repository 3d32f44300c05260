"""Simulator: schema of every line, signatures (libsodium and OpenSSL), bad input as truth
says, physics recomputed from truth, determinism. The schema check and the reference
quarantine logic are written here, independent of `truceline.ingest`."""

from __future__ import annotations

import base64
import json
import math
import re
import stat

import numpy as np
import orjson
import pytest
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from pyproj import Geod

from truceline.sim import KEYS_FILE, SimConfig, simulate
from truceline.sim import core as sim_core
from truceline.sim.atmosphere import Atmosphere, speed_of_sound
from truceline.sim.render import _n

GEOD = Geod(ellps="WGS84")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


@pytest.fixture(scope="module")
def sc():
    cfg = SimConfig(bad_share=0.03)
    return simulate(None, None, hours=3, seed=11, intensity=2.0, config=cfg, workers=1)


@pytest.fixture(scope="module")
def lines(sc):
    return list(sc.lines)


@pytest.fixture(scope="module")
def registry(sc):
    return {s["id"]: s for s in sc.sensors}


# ---------------------------------------------------------------- strict schema (spec 2)
def _num(x):
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _time_ok(x):
    if not isinstance(x, str) or not TIME_RE.match(x):
        return False
    from datetime import datetime

    try:
        datetime.strptime(x[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return False
    return True


def _cov_ok(c):
    return (isinstance(c, list) and len(c) == 2 and all(isinstance(r, list) and len(r) == 2 for r in c)
            and all(_num(v) for r in c for v in r) and c[0][1] == c[1][0] and c[0][0] > 0 and c[1][1] > 0
            and c[0][0] * c[1][1] - c[0][1] ** 2 > 0)


def _latlon(b):
    return _num(b.get("lat")) and _num(b.get("lon")) and -90 <= b["lat"] <= 90 and -180 <= b["lon"] <= 180


def schema_errors(r) -> list[str]:
    """Strict check of a report object against formats.md section 2 (no extra fields)."""
    errs = []
    if set(r) != {"id", "sensor", "kind", "seq", "time", "body", "sig"}:
        errs.append(f"envelope keys {sorted(r)}")
        return errs
    if not isinstance(r["id"], str) or not r["id"]:
        errs.append("id")
    if not isinstance(r["sensor"], str):
        errs.append("sensor")
    if not isinstance(r["seq"], int) or isinstance(r["seq"], bool) or r["seq"] < 0:
        errs.append("seq")
    if not _time_ok(r["time"]):
        errs.append("time")
    try:
        if len(base64.b64decode(r["sig"], validate=True)) != 64:
            errs.append("sig length")
    except Exception:
        errs.append("sig base64")
    b, k = r["body"], r["kind"]
    if not isinstance(b, dict):
        return errs + ["body"]
    if k == "acoustic":
        allowed = {"class", "azimuth_deg", "air_temp_c", "wind_speed_mps", "wind_from_deg", "snr_db"}
        ok = set(b) <= allowed and b.get("class") in ("launch", "impact", "unknown")
        ok &= all(_num(b[f]) for f in allowed - {"class"} if f in b)
        ok &= ("wind_speed_mps" in b) == ("wind_from_deg" in b)
        ok &= 0 <= b.get("azimuth_deg", 0) < 360 and 0 <= b.get("wind_from_deg", 0) < 360
        ok &= b.get("wind_speed_mps", 0) >= 0 and -60 < b.get("air_temp_c", 0) < 60
    elif k == "radar":
        ok = set(b) == {"launch", "impact", "launch_time", "impact_time", "projectile"}
        ok = ok and all(set(b[p]) == {"lat", "lon", "cov_en_m2"} and _latlon(b[p]) and _cov_ok(b[p]["cov_en_m2"])
                        for p in ("launch", "impact"))
        ok = ok and _time_ok(b["launch_time"]) and _time_ok(b["impact_time"])
        ok = ok and b["projectile"] in ("mortar", "shell", "rocket")
    elif k == "uav":
        allowed = {"lat", "lon", "cep_m", "object", "caliber_mm", "count", "confidence", "media_sha256"}
        ok = set(b) <= allowed and {"lat", "lon", "cep_m", "object"} <= set(b) and _latlon(b)
        ok = ok and _num(b["cep_m"]) and b["cep_m"] > 0
        ok = ok and b["object"] in ("tank", "artillery", "mlrs", "mortar", "apc", "truck", "personnel",
                                    "air_defence", "unknown")
        ok = ok and ("caliber_mm" not in b or (b["object"] in ("artillery", "mortar", "mlrs") and b["caliber_mm"] > 0))
        ok = ok and isinstance(b.get("count", 1), int) and b.get("count", 1) >= 1
        ok = ok and _num(b.get("confidence", 0.5)) and 0 <= b.get("confidence", 0.5) <= 1
        ok = ok and re.fullmatch(r"[0-9a-f]{64}", b.get("media_sha256", "0" * 64)) is not None
    elif k == "satellite":
        ok = set(b) == {"lat", "lon", "radius_m", "frp_mw", "confidence"} and _latlon(b)
        ok = ok and b["radius_m"] > 0 and b["frp_mw"] > 0 and b["confidence"] in ("low", "nominal", "high")
    elif k == "monitor":
        ok = set(b) == {"lat", "lon", "category", "text"} and _latlon(b)
        ok = ok and isinstance(b["category"], str) and isinstance(b["text"], str) and b["text"]
    else:
        ok = False
    if not ok:
        errs.append(f"{k} body {b}")
    return errs


def reference_reason(line: bytes, registry, accepted: dict, seqs: dict) -> str | None:
    """Quarantine reason per formats.md section 2, first that applies; None = accepted/duplicate."""
    try:
        r = json.loads(line)
    except ValueError:
        return "malformed"
    if not isinstance(r, dict):
        return "malformed"
    if not {"id", "sensor", "kind", "seq", "time", "body", "sig"} <= set(r) or schema_errors(r):
        return "schema"
    reg = registry.get(r["sensor"])
    if reg is None or reg["kind"] != r["kind"]:
        return "unknown_sensor"
    unsigned = {k: v for k, v in r.items() if k != "sig"}
    try:
        VerifyKey(base64.b64decode(reg["public_key"])).verify(rfc8785.dumps(unsigned), base64.b64decode(r["sig"]))
    except BadSignatureError:
        return "bad_signature"
    if r["id"] in accepted:
        return None if accepted[r["id"]] == unsigned else "conflict"
    if seqs.get((r["sensor"], r["seq"]), r["id"]) != r["id"]:
        return "replay"
    accepted[r["id"]] = unsigned
    seqs[(r["sensor"], r["seq"])] = r["id"]
    return None


# ---------------------------------------------------------------- tests
def test_registry_is_spec_conformant(sc):
    kinds = {"acoustic", "radar", "uav", "satellite", "monitor"}
    ids = set()
    for s in sc.sensors:
        assert s["id"] not in ids
        ids.add(s["id"])
        assert s["kind"] in kinds
        assert len(base64.b64decode(s["public_key"], validate=True)) == 32
        if s["kind"] in ("acoustic", "radar"):
            assert -90 <= s["lat"] <= 90 and -180 <= s["lon"] <= 180
        else:
            assert "lat" not in s
        if s["kind"] == "acoustic":
            assert 0 < s["timing_sigma_s"] < 0.05
            assert ("wind_sigma_mps" in s) == ("wind_sigma_deg" in s)
    assert {s["kind"] for s in sc.sensors} == kinds


def test_every_line_matches_truth_classification(sc, lines, registry):
    """Schema, signatures and the reasons of a correct ingest, line by line, equal truth."""
    truth = sc.truth
    expected = {b["line"]: b for b in truth["bad_records"]}
    dups = {d["line"] for d in truth["duplicates"]}
    blanks = set(truth["blank_lines"])
    accepted, seqs = {}, {}
    reasons_seen = set()
    for no, line in enumerate(lines, start=1):
        if not line.strip():
            assert no in blanks
            continue
        before = len(accepted)
        reason = reference_reason(line, registry, accepted, seqs)
        if no in expected:
            assert reason == expected[no]["reason"], (no, line[:200], expected[no])
            reasons_seen.add(reason)
            if reason != "malformed":
                assert json.loads(line)["id"] == expected[no]["id"]
        else:
            assert reason is None, (no, reason, line[:200])
            assert (len(accepted) == before) == (no in dups)
    assert reasons_seen == {"malformed", "schema", "unknown_sensor", "bad_signature", "conflict", "replay"}
    assert dups and blanks
    assert len(accepted) == truth["counts"]["reports"]


def test_signatures_verify_with_openssl_and_jcs_is_exact(sc, lines, registry):
    bad = {b["line"] for b in sc.truth["bad_records"]} | set(sc.truth["blank_lines"])
    n = 0
    for no, line in enumerate(lines, start=1):
        if no in bad:
            continue
        r = orjson.loads(line)
        unsigned = {k: v for k, v in r.items() if k != "sig"}
        canon = rfc8785.dumps(unsigned)
        assert orjson.dumps(unsigned, option=orjson.OPT_SORT_KEYS) == canon
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(registry[r["sensor"]]["public_key"]))
        key.verify(base64.b64decode(r["sig"]), canon)
        n += 1
        if n % 7 == 0:  # a tampered copy must fail
            with pytest.raises(InvalidSignature):
                key.verify(base64.b64decode(r["sig"]), canon.replace(b'"seq":', b'"seq":1', 1))
    assert n > 1000


def test_example_vectors_verify_with_same_reference_check():
    """The reference check above accepts the spec's signed examples (it is not vacuous)."""
    from pathlib import Path

    spec = Path(__file__).resolve().parents[2] / "shared" / "spec"
    reg = {s["id"]: s for s in json.loads((spec / "examples_sensors.json").read_text())}
    acc, seqs = {}, {}
    for line in (spec / "examples_reports.jsonl").read_bytes().splitlines():
        assert reference_reason(line, reg, acc, seqs) is None
        assert reference_reason(line.replace(b'"seq": ', b'"seq": 9', 1), reg, {}, {}) == "bad_signature"


def _reports_by_id(lines):
    out = {}
    for line in lines:
        try:
            r = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(r, dict) and "id" in r:
            out.setdefault(r["id"], r)
    return out


def test_acoustic_arrivals_recomputed_from_truth(sc, lines, registry):
    """arrival = emission + geodesic distance / (c(T) + w.u) + N(0, timing_sigma)."""
    by_id = _reports_by_id(lines)
    atm = Atmosphere(json.loads(json.dumps(sc.truth["atmosphere"])))  # from truth.json alone
    outliers = set(sc.truth["acoustic_outliers"])
    z, zt, zaz, rid_rows = [], [], [], []
    for kind, key in (("launches", "time"), ("impacts", "time")):
        for ev in sc.truth[kind]:
            for rid in ev["reports"]:
                r = by_id[rid]
                if r["kind"] != "acoustic" or rid in outliers:
                    continue
                s = registry[r["sensor"]]
                fwd, back, d = GEOD.inv(ev["lon"], ev["lat"], s["lon"], s["lat"])
                t_rep = sim_core.parse_time(r["time"])
                prop = math.radians((back + 180.0) % 360.0)
                u, v = atm.wind_en(s["lon"], s["lat"], t_rep)
                c = float(speed_of_sound(atm.temperature_c(s["lon"], s["lat"], t_rep))) + float(u) * math.sin(prop) + float(v) * math.cos(prop)
                t_pred = sim_core.parse_time(ev[key]) + d / c
                z.append((t_rep - t_pred) / s["timing_sigma_s"])
                b = r["body"]
                if "air_temp_c" in b:  # with the array's own (noisy) temperature and no wind: bias bounded
                    c_rep = 331.3 * math.sqrt(1 + b["air_temp_c"] / 273.15)
                    zt.append(abs(t_rep - sim_core.parse_time(ev[key]) - d / c_rep) / (d / c_rep))
                if "azimuth_deg" in b:
                    zaz.append(((b["azimuth_deg"] - back % 360 + 180) % 360 - 180) / s["azimuth_sigma_deg"])
                rid_rows.append(rid)
    z = np.asarray(z)
    assert len(z) > 300
    assert np.mean(np.abs(z) < 4) > 0.995
    assert 0.85 < np.std(z[np.abs(z) < 6]) < 1.15
    assert abs(np.mean(z)) < 0.2
    # ignoring wind costs at most ~4 % of travel time (12 m/s / 330 m/s) plus temperature error
    assert np.max(zt) < 0.045 and np.mean(zt) > 1e-4
    zaz = np.asarray(zaz)
    assert len(zaz) > 50 and 0.8 < np.std(zaz) < 1.2


def test_detection_probability_falls_with_distance(sc, registry):
    ids_by_sensor = {}
    by_report = {}
    for ev in sc.truth["launches"]:
        for rid in ev["reports"]:
            by_report[rid] = ev["id"]
    ac = [s for s in sc.sensors if s["kind"] == "acoustic"]
    lon = np.array([s["lon"] for s in ac])
    lat = np.array([s["lat"] for s in ac])
    heard_near, heard_far = [], []
    reports = _reports_by_id(sc.lines)
    for ev in sc.truth["launches"]:
        if ev["weapon"] != "artillery":
            continue
        heard = {reports[r]["sensor"] for r in ev["reports"] if r in reports}
        _f, _b, d = GEOD.inv(np.full(len(ac), ev["lon"]), np.full(len(ac), ev["lat"]), lon, lat)
        for s, dist in zip(ac, d, strict=True):
            if dist < 6000:
                heard_near.append(s["id"] in heard)
            elif 22000 < dist < 35000:
                heard_far.append(s["id"] in heard)
    del ids_by_sensor
    assert len(heard_near) > 20 and len(heard_far) > 20
    assert np.mean(heard_near) > 0.7 > 0.3 > np.mean(heard_far)


def test_radar_uav_satellite_errors_match_reported_uncertainty(sc, lines):
    by_id = _reports_by_id(lines)
    d2 = []
    for ev in sc.truth["launches"]:
        for rid in ev["reports"]:
            r = by_id[rid]
            if r["kind"] != "radar":
                continue
            b = r["body"]["launch"]
            az, _b, d = GEOD.inv(ev["lon"], ev["lat"], b["lon"], b["lat"])
            e = np.array([d * math.sin(math.radians(az)), d * math.cos(math.radians(az))])
            C = np.array(b["cov_en_m2"])
            assert C[0][0] < 0.01**2 * 60000**2  # ~0.3 % of range, not more
            d2.append(float(e @ np.linalg.solve(C, e)))
    d2 = np.asarray(d2)
    assert len(d2) > 30
    assert 0.85 < np.mean(d2 < 5.991) / 0.95 < 1.08
    ratios = []
    for obj in sc.truth["weapon_objects"] + sc.truth["buffer_presences"]:
        for rid in obj["reports"]:
            r = by_id[rid]
            if r["kind"] != "uav":
                continue
            _a, _b, d = GEOD.inv(obj["lon"], obj["lat"], r["body"]["lon"], r["body"]["lat"])
            ratios.append(d / r["body"]["cep_m"])
    assert len(ratios) > 30
    assert 0.75 < np.median(ratios) < 1.3   # CEP: half of the errors inside


def test_ground_truth_geography(sc):
    from truceline.geo import default_territory_path, load_territory

    t = load_territory(default_territory_path())
    L = sc.truth["launches"]
    lon = np.array([x["lon"] for x in L])
    lat = np.array([x["lat"] for x in L])
    assert (t.party_at(lon, lat) == np.array([x["party"] for x in L])).all()
    imp = sc.truth["impacts"]
    other = np.array([x["territory"] != x["fired_by"] for x in imp])
    assert other.mean() > 0.9
    near = np.array([x["distance_to_line_m"] < 500 for x in L])
    assert near.any() and (~near).any()
    for o in sc.truth["weapon_objects"]:
        assert o["in_exclusion_zone"] == (o["exclusion_distance_m"] > 0 and o["distance_to_line_m"] < o["exclusion_distance_m"])
    assert any(o["in_exclusion_zone"] for o in sc.truth["weapon_objects"])
    assert any(not o["in_exclusion_zone"] and o["exclusion_distance_m"] > 0 for o in sc.truth["weapon_objects"])
    for i in imp:
        dt = sim_core.parse_time(i["time"]) - sim_core.parse_time(L[int(i["launch"][1:]) - 1]["time"])
        assert 4.0 <= dt <= i["range_m"] / 100.0


def test_out_of_order_listed_correctly(sc, lines):
    flagged = {x["line"] for x in sc.truth["out_of_order"]}
    bad = {b["line"] for b in sc.truth["bad_records"]} | {d["line"] for d in sc.truth["duplicates"]}
    best = {}
    computed = set()
    for no, line in enumerate(lines, start=1):
        if no in bad or not line.strip():
            continue
        r = orjson.loads(line)
        if r["seq"] < best.get(r["sensor"], -1):
            computed.add(no)
        best[r["sensor"]] = max(best.get(r["sensor"], -1), r["seq"])
    assert computed == flagged and flagged


def test_deterministic_files_and_workers_do_not_matter(tmp_path, monkeypatch):
    a = simulate(None, None, hours=0.5, seed=5, intensity=1.0, out_dir=tmp_path / "a", workers=1)
    monkeypatch.setattr(sim_core, "CHUNK", 150)
    simulate(None, None, hours=0.5, seed=5, intensity=1.0, out_dir=tmp_path / "b", workers=2)
    simulate(None, None, hours=0.5, seed=6, intensity=1.0, out_dir=tmp_path / "c", workers=1)
    assert a.truth["counts"]["lines"] > 600
    for f in ("reports.jsonl", "sensors.json", "truth.json", KEYS_FILE):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    for f in ("reports.jsonl", "truth.json", "sensors.json"):
        assert (tmp_path / "a" / f).read_bytes() != (tmp_path / "c" / f).read_bytes(), f
    mode = (tmp_path / "a" / KEYS_FILE).stat().st_mode
    assert not mode & (stat.S_IRGRP | stat.S_IROTH)
    secret = json.loads((tmp_path / "a" / KEYS_FILE).read_text())
    assert secret["secret"] is True and "SECRET" in secret["WARNING"]
    from nacl.signing import SigningKey

    reg = {s["id"]: s for s in json.loads((tmp_path / "a" / "sensors.json").read_text())}
    for sid, k in list(secret["keys"].items())[:20]:
        pub = SigningKey(base64.b64decode(k)).verify_key.encode()
        assert base64.b64encode(pub).decode() == reg[sid]["public_key"]


def test_stream_paces_by_arrival_time(tmp_path):
    from truceline.sim.stream import stream_lines

    now = [0.0]
    slept = []

    def sleep(dt):
        slept.append(dt)
        now[0] += dt

    arrival = np.array([100.0, 100.5, 160.0, 220.0])
    out = tmp_path / "tail.jsonl"
    n = stream_lines([b"a", b"b", b"c", b"d"], arrival, out, 60.0, sleep=sleep, clock=lambda: now[0])
    assert n == 4 and out.read_bytes() == b"a\nb\nc\nd\n"
    assert sum(slept) == pytest.approx(2.0)


def test_cli_simulate_writes_files(tmp_path):
    from typer.testing import CliRunner

    from truceline.cli import app

    res = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path), "--hours", "0.25", "--seed", "2",
                                   "--stream", str(tmp_path / "s.jsonl"), "--speedup", "0"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "reports.jsonl").read_bytes() == (tmp_path / "s.jsonl").read_bytes()
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["format"] == "truceline-sim-truth/1" and truth["scenario"]["seed"] == 2
    bad = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path / "x"), "--hours", "-1"])
    assert bad.exit_code != 0


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), st.integers(min_value=0, max_value=7))
def test_number_normalisation_gives_rfc8785_bytes(x, digits):
    v = _n(round(x, digits))
    obj = {"b": v, "a": [v, {"z": v}]}
    assert orjson.dumps(obj, option=orjson.OPT_SORT_KEYS) == rfc8785.dumps(obj)
    assert abs(v - round(x, digits)) < 1e-4


def test_truth_accounts_for_every_accepted_report(sc, lines):
    t = sc.truth
    listed = []
    for key in ("launches", "impacts", "weapon_objects", "buffer_presences", "fires", "false_alarms"):
        for ev in t[key]:
            listed.extend(ev["reports"])
    listed.extend(m["report"] for m in t["monitor_reports"])
    bad = {b["line"] for b in t["bad_records"]} | {d["line"] for d in t["duplicates"]} | set(t["blank_lines"])
    accepted = {orjson.loads(line)["id"] for no, line in enumerate(lines, start=1) if no not in bad}
    assert set(listed) == accepted
    radar = sum(1 for ev in t["launches"] for r in ev["reports"])
    assert radar > 0 and len(accepted) == t["counts"]["reports"]


def test_other_geometry_and_parties(tmp_path):
    """A territory nobody tuned for: two parties, one straight 67 km line."""
    from truceline.geo import load_territory

    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"party": "AA"}, "geometry": {"type": "Polygon", "coordinates": [
            [[10.0, 45.0], [10.8, 45.0], [10.8, 45.6], [10.0, 45.6], [10.0, 45.0]]]}},
        {"type": "Feature", "properties": {"party": "BB"}, "geometry": {"type": "Polygon", "coordinates": [
            [[10.8, 45.0], [11.6, 45.0], [11.6, 45.6], [10.8, 45.6], [10.8, 45.0]]]}}]}
    path = tmp_path / "t.geojson"
    path.write_text(json.dumps(fc))
    s = simulate(path, None, hours=4, seed=3, intensity=3.0, start="2026-07-01T12:00:00Z")
    assert s.truth["scenario"]["territory"]["parties"] == ["AA", "BB"]
    assert s.truth["scenario"]["start"] == "2026-07-01T12:00:00Z"
    t = load_territory(path)
    L = s.truth["launches"]
    assert len(L) > 10
    assert (t.party_at([x["lon"] for x in L], [x["lat"] for x in L]) == [x["party"] for x in L]).all()
    ac = [x for x in s.sensors if x["kind"] == "acoustic"]
    sides = t.party_at([x["lon"] for x in ac], [x["lat"] for x in ac])
    assert set(sides) == {"AA", "BB"} and 20 <= len(ac) <= 40
    first = [r for r in s.reports if r is not None][0]
    assert first["time"] >= "2026-07-01T12:00:00"
