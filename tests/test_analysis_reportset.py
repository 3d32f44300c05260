"""`ReportSet` / `AcousticColumns`: the compact input of the analysis gives exactly what the
list-of-dicts input gives (order, repeated ids, tables, events), at a fraction of the memory."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scenario_gen import make_scenario
from truceline.analysis import analyze_reports, events_to_geojson
from truceline.analysis.acoustic import AcousticColumns, build_tables
from truceline.analysis.reportset import KINDS, ReportSet
from truceline.formats import format_time

T0 = 1_767_657_600.0  # 2026-01-06T00:00:00Z


def _reference_split(reports: list[dict]) -> dict[str, list[dict]]:
    """What `analyze_reports` did with a list of dicts before `ReportSet`: sort by id
    (stable), keep the first report of an id, ignore kinds the spec does not define."""
    seen: set[str] = set()
    by_kind: dict[str, list[dict]] = {k: [] for k in KINDS}
    for r in sorted(reports, key=lambda r: r["id"]):
        if r["id"] in seen or r.get("kind") not in by_kind:
            continue
        seen.add(r["id"])
        by_kind[r["kind"]].append(r)
    return by_kind


_body = st.fixed_dictionaries({}, optional={
    "class": st.sampled_from(["launch", "impact", "unknown", "other"]),
    "azimuth_deg": st.floats(0, 359.99),
    "air_temp_c": st.floats(-40, 45),
    "wind_speed_mps": st.floats(0, 30),
    "wind_from_deg": st.floats(0, 359.99),
})
_report = st.builds(
    lambda rid, sensor, kind, dt, body: {"id": rid, "sensor": sensor, "kind": kind,
                                         "time": format_time(T0 + dt), "body": body},
    st.text("abc", min_size=1, max_size=3), st.sampled_from(["s1", "s2", "s3"]),
    st.sampled_from([*KINDS, "acoustic", "acoustic", "sonar"]), st.floats(0, 86_400), _body)


@settings(max_examples=150, deadline=None)
@given(st.lists(_report, max_size=40), st.integers(1, 7))
def test_reportset_orders_and_deduplicates_like_the_dict_path(reports, chunk):
    ref = _reference_split(reports)
    rs = ReportSet()
    for i in range(0, len(reports), chunk):  # fed in chunks, as validation does
        rs.extend(reports[i:i + chunk])
    rs.finish()
    assert rs.acoustic.ids == [r["id"] for r in ref["acoustic"]]
    for kind in KINDS[1:]:
        assert rs.other[kind] == ref[kind]
    assert len(rs) == sum(len(v) for v in ref.values())
    want = AcousticColumns.from_reports(ref["acoustic"])
    assert [want.sensors[c] for c in want.sensor] == [rs.acoustic.sensors[c] for c in rs.acoustic.sensor]
    for name in ("t", "label", "az_deg", "temp_c", "wind_speed", "wind_from"):
        np.testing.assert_array_equal(getattr(rs.acoustic, name), getattr(want, name), err_msg=name)


def test_acoustic_row_reads_the_wind_only_when_both_fields_are_given():
    cols = AcousticColumns.from_reports([
        {"id": "a", "sensor": "s", "kind": "acoustic", "time": format_time(T0), "body": {"wind_speed_mps": 3}},
        {"id": "b", "sensor": "s", "kind": "acoustic", "time": format_time(T0),
         "body": {"wind_speed_mps": 3, "wind_from_deg": 90, "class": "impact", "azimuth_deg": 10}},
    ])
    assert np.isnan(cols.wind_speed[0]) and np.isnan(cols.wind_from[0])
    assert cols.wind_speed[1] == 3.0 and cols.wind_from[1] == 90.0
    assert cols.label.tolist() == [2, 1] and np.isnan(cols.az_deg[0]) and cols.az_deg[1] == 10.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.text("xyz", min_size=1, max_size=2)), max_size=30),
       st.integers(1, 35))
def test_first_by_time_is_the_sorted_prefix_ties_broken_by_id(rows, n):
    reports = [{"id": rid, "sensor": "s", "kind": "acoustic", "time": format_time(T0 + t), "body": {}}
               for t, rid in rows]
    cols = AcousticColumns.from_reports(reports)
    got = cols.first_by_time(n)
    want = sorted(reports, key=lambda r: (r["time"], r["id"]))[:n]
    assert got.ids == [r["id"] for r in want]


def test_tables_from_columns_equal_tables_from_dicts():
    sc = make_scenario(seed=81, n_arrays=10, n_shots=15)
    reg = {s["id"]: s for s in sc.sensors}
    reg.pop(sc.sensors[0]["id"])  # a sensor the registry lacks: its rows are dropped either way
    acoustic = [r for r in sc.reports if r["kind"] == "acoustic"]
    for mode in ("fill", "default"):
        a1, d1 = build_tables(acoustic, reg, missing_temp=mode)
        a2, d2 = build_tables(AcousticColumns.from_reports(acoustic), reg, missing_temp=mode)
        assert a1.ids == a2.ids and d1.report_ids == d2.report_ids and d1.t_ref == d2.t_ref
        for name in ("arr", "t", "label", "az", "c", "wx", "wy", "wspeed", "has_T", "temp_var", "rid"):
            np.testing.assert_array_equal(getattr(d1, name), getattr(d2, name), err_msg=name)
        assert len(d1) < len(acoustic)


def test_events_from_a_reportset_equal_events_from_dicts_in_any_order():
    sc = make_scenario(seed=82, n_arrays=14, n_shots=25)
    reg = {s["id"]: s for s in sc.sensors}
    want = events_to_geojson(analyze_reports(sc.reports, reg, workers=1))
    shuffled = list(sc.reports)
    random.Random(3).shuffle(shuffled)
    rs = ReportSet()
    for i in range(0, len(shuffled), 97):
        rs.extend(shuffled[i:i + 97])
    got = events_to_geojson(analyze_reports(rs, reg, workers=1))
    assert len(want["features"]) >= 15
    assert got == want


def test_validation_sink_hands_over_every_accepted_report(tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from truceline.formats import b64encode, canonical_bytes
    from truceline.ingest import validate_lines
    from truceline.ingest.registry import registry_from_json

    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    reg = registry_from_json([{"id": "ac1", "kind": "acoustic", "lon": 37.0, "lat": 48.0, "public_key": b64encode(pub)}])
    lines = []
    for i in range(6):
        r = {"id": f"r{i}", "sensor": "ac1", "kind": "acoustic", "seq": i, "time": format_time(T0 + i),
             "body": {"class": "launch"}}
        r["sig"] = b64encode(key.sign(canonical_bytes(r)))
        lines.append(canonical_bytes(r))
    lines.append(b"{not json")
    lines.append(lines[0])  # duplicate
    got: list[tuple[dict, float]] = []
    res = validate_lines(lines, reg, workers=1, sink=lambda reps, times: got.extend(zip(reps, times, strict=True)))
    plain = validate_lines(lines, reg, workers=1)
    assert res.accepted == [] and res.n_accepted == 6 == len(plain.accepted)
    assert [r for r, _ in got] == plain.accepted
    assert [t for _, t in got] == [T0 + i for i in range(6)]
    assert [q.reason for q in res.quarantined] == [q.reason for q in plain.quarantined] == ["malformed"]


def test_release_free_memory_returns_freed_heap_pages_to_the_os():
    """After many medium-sized arrays are freed, glibc keeps their pages; the release call
    gives them back (the analysis calls it between stages and before forking workers)."""
    import ctypes.util

    from truceline.analysis.parallel import release_free_memory

    def rss_mb() -> float:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024.0

    assert ctypes.util.find_library("c")  # CI runs on glibc Linux, where the call does something
    release_free_memory()
    blocks = [np.ones(4000) for _ in range(8_000)]  # 32 KB each, below the mmap threshold: heap
    pins = blocks[::16]  # a survivor every 0.5 MB: the heap cannot shrink from its top alone
    del blocks
    before = rss_mb()
    release_free_memory()
    after = rss_mb()
    assert before - after > 150, (before, after)
    assert len(pins) == 500



@settings(max_examples=200, deadline=None)
@given(st.lists(st.text("ab\x00é", max_size=4), max_size=30))
def test_first_of_each_id_same_on_the_numpy_and_python_paths(ids):
    """Short ids are sorted by NumPy, others (long, or with a NUL NumPy would drop) by
    Python: both give the first position of each id in code-point order."""
    import truceline.analysis.reportset as rsm

    want = [min(k for k, x in enumerate(ids) if x == i) for i in sorted(set(ids))]
    assert rsm._first_of_each_id(ids).tolist() == want
    clean = [i.replace("\x00", "") for i in ids]
    want = [min(k for k, x in enumerate(clean) if x == i) for i in sorted(set(clean))]
    assert rsm._first_of_each_id(clean).tolist() == want  # NumPy path when any id is non-empty
