"""Validation API (no database): reasons, precedence, line numbers, hostile input."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common import FIXTURES, SPEC, SensorNet, jsonl
from truceline.errors import InputError
from truceline.ingest import Quarantine, load_registry, registry_from_json, validate_lines
from truceline.ingest.validate import REASONS


def test_spec_examples_all_accepted_in_order():
    registry = load_registry(SPEC / "examples_sensors.json")
    lines = (SPEC / "examples_reports.jsonl").read_bytes().splitlines()
    result = validate_lines(lines, registry)
    assert result.quarantined == []
    assert [r["id"] for r in result.accepted] == [json.loads(x)["id"] for x in lines if x]
    assert result.accepted[0] == json.loads(lines[0])  # exactly as received, sig included


def test_blank_lines_skipped_and_line_numbers_from_one(net: SensorNet):
    good = jsonl([net.report("ac-1")])[0]
    lines = [b"", b"   ", good, b"\r", b"{", b"", b"[1]"]
    result = validate_lines(lines, net.registry())
    assert len(result.accepted) == 1
    assert [(q.line, q.reason) for q in result.quarantined] == [(5, "malformed"), (7, "malformed")]


def test_bom_tolerated_on_line_one_only(net: SensorNet):
    a, b = jsonl([net.report("ac-1"), net.report("ac-1")])
    result = validate_lines([b"\xef\xbb\xbf" + a, b"\xef\xbb\xbf" + b], net.registry())
    assert len(result.accepted) == 1
    assert [(q.line, q.reason) for q in result.quarantined] == [(2, "malformed")]


def test_str_lines_and_crlf(net: SensorNet):
    text = json.dumps(net.report("mon-1"), ensure_ascii=False) + "\r\n"
    result = validate_lines([text], net.registry())
    assert len(result.accepted) == 1 and result.accepted[0]["body"]["text"].startswith("Обстріл")


def test_duplicate_conflict_replay_in_one_batch(net: SensorNet):
    r1 = net.report("ac-1", seq=10)
    same = dict(r1)
    other_content = net.report("ac-1", rid=r1["id"], seq=11)  # same id, different content
    replay = net.report("ac-1", rid="another", seq=10)  # same (sensor, seq), other id
    both = net.report("ac-1", rid=r1["id"], seq=10, time="2026-01-06T00:00:01Z")  # conflict wins over replay
    result = validate_lines(jsonl([r1, same, other_content, replay, both]), net.registry())
    assert [r["id"] for r in result.accepted] == [r1["id"]]
    assert result.duplicates == 1
    assert [(q.line, q.reason, q.id) for q in result.quarantined] == [
        (3, "conflict", r1["id"]), (4, "replay", "another"), (5, "conflict", r1["id"])]


@pytest.mark.parametrize("workers", [1, 2])
def test_conflict_and_replay_keep_raw_line(net: SensorNet, workers: int):
    """`raw` of a conflict/replay record is the line as read (here: pretty spacing, keys
    reversed, a non-UTF-8 free but escaped text), decoded like every other reason's."""
    r1 = net.report("mon-1", seq=10)
    conflict = net.report("mon-1", rid=r1["id"], seq=11)
    replay = net.report("mon-1", rid="another", seq=10)
    conflict_line = json.dumps(dict(reversed(list(conflict.items()))), separators=(", ", ": "))
    replay_line = json.dumps(replay, ensure_ascii=True)
    filler = jsonl([net.report("ac-1") for _ in range(4100)])  # enough lines for the parallel path
    lines = [*jsonl([r1]), *filler, conflict_line.encode() + b"\n", replay_line]
    result = validate_lines(lines, net.registry(), workers=workers)
    by_reason = {q.reason: q for q in result.quarantined}
    assert set(by_reason) == {"conflict", "replay"}
    assert by_reason["conflict"].raw == conflict_line and by_reason["conflict"].line == len(lines) - 1
    assert by_reason["replay"].raw == replay_line and by_reason["replay"].line == len(lines)


def test_reports_may_arrive_out_of_order(net: SensorNet):
    reports = [net.report("ac-1", seq=s) for s in (5, 3, 9, 1)]
    assert len(validate_lines(jsonl(reports), net.registry()).accepted) == 4


def _reason(net: SensorNet, report) -> str | None:
    result = validate_lines(jsonl([report]), net.registry())
    return result.quarantined[0].reason if result.quarantined else None


def test_precedence_schema_before_unknown_sensor_before_signature(net: SensorNet):
    rep = net.report("ac-1")
    assert _reason(net, {**rep, "sensor": "nobody", "seq": -1}) == "schema"
    assert _reason(net, {**rep, "sensor": "nobody"}) == "unknown_sensor"
    assert _reason(net, {**rep, "kind": "radar"}) == "schema"  # radar body missing: schema first
    radar = net.report("wlr-1")
    assert _reason(net, {**radar, "sensor": "ac-1"}) == "unknown_sensor"  # kind differs from registry
    assert _reason(net, {**rep, "time": "2026-01-06T00:00:02Z"}) == "bad_signature"
    assert _reason(net, {**rep, "sig": rep["sig"][:-4]}) == "schema"  # not 64 bytes
    signed_by_other = net.sign(rep, sensor="ac-2")
    assert _reason(net, signed_by_other) == "bad_signature"


def test_extra_fields_allowed_and_signed(net: SensorNet):
    rep = net.report("uav-1", {**{"lat": 1.0, "lon": 2.0, "cep_m": 5, "object": "mlrs"}, "vendor_note": [1, {"x": None}]},
                     firmware="1.2")
    result = validate_lines(jsonl([rep]), net.registry())
    assert result.accepted == [rep]


BAD_BODIES = {
    "acoustic": [{"class": "boom"}, {}, {"class": "launch", "azimuth_deg": "north"},
                 {"class": "launch", "air_temp_c": -300}, {"class": "launch", "wind_speed_mps": -1},
                 {"class": "launch", "snr_db": None}],
    "radar": [{"impact": None}, {"projectile": "nuke"}, {"launch_time": "yesterday"},
              {"launch": {"lat": 91, "lon": 1, "cov_en_m2": [[1, 0], [0, 1]]}},
              {"launch": {"lat": 1, "lon": 1, "cov_en_m2": [[1, 2], [3, 1]]}},
              {"launch": {"lat": 1, "lon": 1, "cov_en_m2": [[1, 5], [5, 1]]}},
              {"launch": {"lat": 1, "lon": 1, "cov_en_m2": [[-1, 0], [0, 1]]}},
              {"launch": {"lat": 1, "lon": 1, "cov_en_m2": [1, 0, 0, 1]}}],
    "uav": [{"lat": 1, "lon": 181, "cep_m": 1, "object": "tank"}, {"lat": 1, "lon": 1, "cep_m": -1, "object": "tank"},
            {"lat": 1, "lon": 1, "cep_m": 1, "object": "ufo"}, {"lat": 1, "lon": 1, "cep_m": 1, "object": "tank", "count": -2},
            {"lat": 1, "lon": 1, "cep_m": 1, "object": "tank", "count": 1.5},
            {"lat": 1, "lon": 1, "cep_m": 1, "object": "tank", "confidence": 1.01},
            {"lat": 1, "lon": 1, "cep_m": 1, "object": "tank", "media_sha256": "abc"}],
    "satellite": [{"lat": 1, "lon": 1, "radius_m": 1, "frp_mw": 1, "confidence": 0.5},
                  {"lat": 1, "lon": 1, "radius_m": -1, "frp_mw": 1, "confidence": "low"},
                  {"lat": "1", "lon": 1, "radius_m": 1, "frp_mw": 1, "confidence": "low"}],
    "monitor": [{"lat": 1, "lon": 1, "category": "x"}, {"lat": 1, "lon": 1, "category": 5, "text": "t"}],
}
SENSOR_OF = {"acoustic": "ac-1", "radar": "wlr-1", "uav": "uav-1", "satellite": "sat-1", "monitor": "mon-1"}


@pytest.mark.parametrize("kind,index", [(k, i) for k, bodies in BAD_BODIES.items() for i in range(len(bodies))])
def test_bad_bodies_are_schema(net: SensorNet, kind: str, index: int):
    body = BAD_BODIES[kind][index]
    if kind == "radar":
        from common import default_body

        body = {**default_body("radar"), **body}
    assert _reason(net, net.report(SENSOR_OF[kind], body)) == "schema"


@pytest.mark.parametrize("kind", list(SENSOR_OF))
def test_default_bodies_accepted(net: SensorNet, kind: str):
    assert _reason(net, net.report(SENSOR_OF[kind])) is None


def test_radar_covariance_rounding_tolerated(net: SensorNet):
    from common import default_body

    body = default_body("radar")
    body["launch"] = {"lat": 1, "lon": 1, "cov_en_m2": [[4.0, 2.0], [2.0000000001, 1.0]]}  # singular, rounded
    assert _reason(net, net.report("wlr-1", body)) is None


def _nasty_cases():
    data = json.loads((FIXTURES / "nasty_lines.json").read_text())
    return [(c["name"], b"".join(bytes.fromhex(h) * n for h, n in c["parts"]), c["reason"]) for c in data["cases"]]


@pytest.mark.parametrize("name,raw,reason", _nasty_cases(), ids=[c[0] for c in _nasty_cases()])
def test_nasty_line_corpus(name: str, raw: bytes, reason: str):
    registry = registry_from_json([{"id": "ac-1", "kind": "acoustic",
                                    "public_key": "jwGcfXqf75WMtd3uNgj4FJbjugEYTkI0l68cZn61Vn8="},
                                   {"id": "wlr-1", "kind": "radar",
                                    "public_key": "fK7f+Y+XJa7+7c8tlmFo/H+3k6PwYdbvspsAZ06zyBw="}])
    result = validate_lines([b"", raw], registry, workers=1)  # line 2: BOM rules of later lines apply
    assert result.accepted == []
    assert len(result.quarantined) == 1
    q = result.quarantined[0]
    assert (q.line, q.reason) == (2, reason), q.detail
    assert isinstance(q.raw, str) and "\x00" not in q.raw and len(q.raw) <= 70000
    q.raw.encode("utf-8")  # storable as text on PostgreSQL


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_fuzz_any_bytes_never_crash(lines):
    registry = registry_from_json([{"id": "ac-1", "kind": "acoustic",
                                    "public_key": "jwGcfXqf75WMtd3uNgj4FJbjugEYTkI0l68cZn61Vn8="}])
    result = validate_lines([line.replace(b"\n", b" ") for line in lines], registry, workers=1)
    assert result.accepted == []
    assert all(isinstance(q, Quarantine) and q.reason in REASONS for q in result.quarantined)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "sensor", "kind", "seq", "time", "body", "sig", "x"]), json_values))
def test_fuzz_json_objects_get_a_reason(obj):
    registry = registry_from_json([{"id": "ac-1", "kind": "acoustic",
                                    "public_key": "jwGcfXqf75WMtd3uNgj4FJbjugEYTkI0l68cZn61Vn8="}])
    line = json.dumps(obj).encode()
    result = validate_lines([line], registry, workers=1)
    assert result.accepted == [] and len(result.quarantined) == 1
    assert result.quarantined[0].reason in ("schema", "unknown_sensor", "bad_signature")


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_fuzz_mutated_valid_reports(data):
    net = SensorNet({"ac-1": "acoustic", "wlr-1": "radar"})
    rep = net.report(data.draw(st.sampled_from(["ac-1", "wlr-1"])))
    raw = bytearray(json.dumps(rep).encode())
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    result = validate_lines([bytes(raw).replace(b"\n", b" ")], net.registry(), workers=1)
    assert len(result.accepted) + len(result.quarantined) <= 1
    if result.accepted:  # a mutation that keeps it valid must keep the signed content
        assert result.accepted[0] == rep


def test_parallel_workers_same_result(net: SensorNet):
    reports = [net.report("ac-1") for _ in range(5000)]
    lines = jsonl(reports)
    lines[100] = b"{"
    lines[4500] = lines[4499]  # duplicate
    serial = validate_lines(lines, net.registry(), workers=1)
    parallel = validate_lines(lines, net.registry(), workers=2)
    assert serial.accepted == parallel.accepted and serial.quarantined == parallel.quarantined
    assert len(parallel.accepted) == 4998 and parallel.duplicates == 1 and parallel.quarantined[0].line == 101


@pytest.mark.parametrize("entries,needle", [
    ({"id": "a"}, "array"),
    ([{"id": "a", "kind": "acoustic", "public_key": "AAAA"}], "public_key"),
    ([{"id": "a", "kind": "sonar", "public_key": "jwGcfXqf75WMtd3uNgj4FJbjugEYTkI0l68cZn61Vn8="}], "kind"),
    ([{"id": "a", "kind": "radar", "public_key": "jwGcfXqf75WMtd3uNgj4FJbjugEYTkI0l68cZn61Vn8=", "lat": 95,
       "lon": 0}], "lat"),
    ([{"id": "a", "kind": "radar", "public_key": "jwGcfXqf75WMtd3uNgj4FJbjugEYTkI0l68cZn61Vn8="},
      {"id": "a", "kind": "radar", "public_key": "jwGcfXqf75WMtd3uNgj4FJbjugEYTkI0l68cZn61Vn8="}], "entry 1"),
])
def test_bad_registry_names_file_entry_field(tmp_path, entries, needle):
    path = tmp_path / "sensors.json"
    path.write_text(json.dumps(entries))
    with pytest.raises(InputError) as err:
        load_registry(path)
    assert str(path) in str(err.value) and needle in str(err.value)


def test_registry_fields_parsed():
    registry = load_registry(SPEC / "examples_sensors.json")
    ac = registry["ac-013"]
    assert ac.kind == "acoustic" and len(ac.public_key) == 32 and ac.timing_sigma_s == pytest.approx(0.0086)
    assert ac.to_json()["public_key"] == "jwGcfXqf75WMtd3uNgj4FJbjugEYTkI0l68cZn61Vn8="


def test_parsed_report_dicts_accepted_as_input(net: SensorNet):
    good = net.report("sat-1")
    bad = dict(good, seq=-5)
    not_json = {"id": "x", "body": {1, 2}}  # a set: not JSON
    result = validate_lines([good, bad, not_json], net.registry())
    assert result.accepted == [good]
    assert [(q.line, q.reason) for q in result.quarantined] == [(2, "schema"), (3, "malformed")]


@pytest.mark.parametrize("url,expected", [
    ("postgresql://u@h:5/db", "postgresql+psycopg://u@h:5/db"),
    ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("sqlite:///rel.sqlite", "sqlite:///rel.sqlite"),
    ("sqlite:////abs/x.sqlite", "sqlite:////abs/x.sqlite"),
    ("plain/path.sqlite", "sqlite:///plain/path.sqlite"),
])
def test_db_url_forms(url, expected):
    from truceline.store import normalize_url

    assert normalize_url(url) == expected


def test_db_url_default_and_unsupported(monkeypatch):
    from truceline.errors import TrucelineError
    from truceline.store import default_db_url, normalize_url

    monkeypatch.delenv("TRUCELINE_DB", raising=False)
    assert default_db_url() == "sqlite:///./truceline.sqlite"
    monkeypatch.setenv("TRUCELINE_DB", "postgresql://x/y")
    assert default_db_url() == "postgresql://x/y"
    with pytest.raises(TrucelineError):
        normalize_url("mysql://x/y")


_TIME_TEXT = st.one_of(
    st.text(alphabet="0123456789-T:.Z", min_size=18, max_size=30),
    st.builds(lambda y, mo, d, h, mi, s, frac, tail: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}Z{tail}",
              st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25), st.integers(0, 61),
              st.integers(0, 61), st.sampled_from(["", ".5", ".123456", ".1234567", "."]),
              st.sampled_from(["", "\n", " "])),
)


@settings(max_examples=400, deadline=None)
@given(_TIME_TEXT)
def test_cached_time_parse_equals_formats(text: str):
    from truceline import formats
    from truceline.ingest.validate import parse_time

    try:
        expected = formats.parse_time(text)
    except (ValueError, OverflowError) as exc:
        with pytest.raises(type(exc)):
            parse_time(text)
        return
    assert parse_time(text) == expected
    assert parse_time(text) == expected  # cached day


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80).map(lambda b: b.replace(b"\\", b"")))
def test_raw_key_count_equals_regex_count(raw: bytes):
    from truceline.ingest.validate import _KEY_RE, raw_key_count

    raw = b'{"a" :1, "b"\t:"x :y", "c":' + raw + b'}'
    assert raw_key_count(raw) == len(_KEY_RE.findall(raw))
    assert raw_key_count(raw.replace(b" :", b":").replace(b"\t:", b":")) == len(
        _KEY_RE.findall(raw.replace(b" :", b":").replace(b"\t:", b":")))


_LINE = st.one_of(st.binary(max_size=12), st.sampled_from([b"", b"\r", b" \t", b"\xef\xbb\xbf{}", b"{\"a\":1}\r"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINE, max_size=30), st.booleans(), st.integers(1, 40), st.integers(1, 9))
def test_file_blocks_number_lines_like_iteration(lines, final_newline: bool, read_bytes: int, chunk: int):
    """A binary file read in blocks (tiny reads here, so lines straddle them) yields the
    same numbered lines as iterating it line by line, and `raw(n)` gives each back."""
    import io

    from truceline.ingest import pipeline

    data = b"\n".join(b.replace(b"\n", b"") for b in lines) + (b"\n" if final_newline else b"")
    expected = list(pipeline.numbered_lines(io.BytesIO(data)))
    old = pipeline.READ_BYTES
    pipeline.READ_BYTES = read_bytes
    try:
        chunks = list(pipeline._line_chunks(io.BytesIO(data), chunk))
    finally:
        pipeline.READ_BYTES = old
    got = [pair for c in chunks for pair in c.numbered()]
    assert got == expected
    assert all(len(c) <= chunk for c in chunks)
    for c in chunks:
        for number, raw in c.numbered():
            assert c.raw(number) == raw
        first, payload = c.payload()
        assert pipeline._numbered_block(first, payload.split(b"\n")) == c.numbered()
