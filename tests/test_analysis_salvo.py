"""Salvo de-blending: rounds seconds apart from one launcher, told apart by their rhythm."""

from __future__ import annotations

import numpy as np
import pytest

from scenario_gen import make_scenario
from truceline.analysis import analyze_reports
from truceline.analysis import salvo as sv


def test_align_finds_the_shift_of_a_train_despite_misses_and_strays():
    rng = np.random.default_rng(5)
    r = np.cumsum(np.r_[0.0, rng.uniform(0.6, 2.0, 7)])  # reference array: 8 onsets
    a = np.sort(np.r_[np.delete(r, [2, 5]) + 3.7 + rng.normal(0, 0.005, 6), 4.0])  # 2 missed, 1 stray
    shift, matches = sv._align(a, r, expect=3.0, slack=2.5, gate=0.06)
    assert shift == pytest.approx(3.7, abs=0.01) and matches == 6


def test_align_refuses_an_ambiguous_rhythm():
    r = np.arange(6) * 1.0  # a regular train, one end onset missed: shifts 0.4 and 1.4 fit equally
    assert sv._align(r[1:] + 0.4, r, expect=0.0, slack=3.0, gate=0.05) is None
    assert sv._align(r + 0.4, r, expect=0.0, slack=3.0, gate=0.05)[0] == pytest.approx(0.4)
    assert sv._align(np.array([1.0]), r, expect=0.0, slack=3.0, gate=0.05) is None  # one onset: no pattern


def _pure_launch_recall(events, sc) -> float:
    rid = {r: i for i, t in enumerate(sc.truth) for r in t["report_ids"]}
    hit = set()
    for e in events:
        if e.type != "launch":
            continue
        ids = [rid[r] for r in e.reports if r in rid]
        if ids:
            j = max(set(ids), key=ids.count)
            if sc.truth[j]["kind"] == "launch" and ids.count(j) >= 0.8 * len(ids):
                hit.add(j)
    heard = [i for i, t in enumerate(sc.truth) if t["kind"] == "launch" and len(t["arrays"]) >= 4]
    return len(hit & set(heard)) / len(heard)


def test_salvo_rounds_become_one_launch_each(monkeypatch):
    """Six-round salvos with unmeasured wind: without de-blending most launch events mix rounds;
    with it, nearly every round is its own clean launch (independent scenario generator)."""
    got: dict[str, list[float]] = {"on": [], "off": []}
    for seed in (2, 3):
        sc = make_scenario(seed=seed, n_arrays=16, n_shots=6, salvo_rounds=6, false_rate_per_array_h=2.0,
                           wind_mean=(8.0, -4.0))
        registry = {s["id"]: s for s in sc.sensors}
        got["on"].append(_pure_launch_recall(analyze_reports(sc.reports, registry, workers=1), sc))
        with monkeypatch.context() as m:
            m.setattr(sv, "deblend_salvos", lambda arrays, dets, src, cfg=None, **kw: src)
            got["off"].append(_pure_launch_recall(analyze_reports(sc.reports, registry, workers=1), sc))
    assert np.mean(got["on"]) >= 0.85, got
    assert all(a >= b + 0.3 for a, b in zip(got["on"], got["off"], strict=True)), got


def _align_reference(a, r, expect, slack, gate):
    """The alignment written out directly (the definition `salvo._align` must match)."""
    cand = (a[:, None] - r[None, :]).ravel()
    cand = cand[np.abs(cand - expect) <= slack]
    if cand.size == 0:
        return None
    diff = np.abs(a[None, :, None] - r[None, None, :] - cand[:, None, None])
    score = (diff.min(axis=2) <= gate).sum(axis=1)
    best = int(score.max())
    if best < sv.MIN_MATCHES:
        return None
    top = cand[score == best]
    if np.ptp(top) > 2.0 * gate:
        return None
    d0 = 0.5 * float(top.min() + top.max())
    matched = np.abs(a[:, None] - r[None, :] - d0) <= gate
    return float((a[:, None] - r[None, :])[matched].mean()), best


def test_align_equals_its_definition_on_random_trains():
    """`_align` (compiled) returns what its direct definition returns: the same refusals and
    match counts, the same shift up to the order of the floating-point sum."""
    rng = np.random.default_rng(21)
    n_found = 0
    for _ in range(300):
        r = np.sort(rng.uniform(0, rng.uniform(2, 20), rng.integers(1, 12)))
        shift = rng.uniform(-10, 10)
        heard = r[rng.random(r.size) < 0.8]  # some onsets missed, some strays added
        strays = rng.uniform(-5, 25, rng.integers(0, 3))
        a = np.sort(np.r_[heard + shift + rng.normal(0, 0.01, heard.size), strays])
        args = (a, r, shift + rng.normal(0, 1), rng.uniform(0.5, 4), rng.uniform(0.02, 0.1))
        got, ref = sv._align(*args), _align_reference(*args)
        assert (got is None) == (ref is None)
        if got is not None:
            assert got[1] == ref[1] and abs(got[0] - ref[0]) < 1e-9
        n_found += got is not None
    assert n_found > 50


def _launch_scores(sc, events) -> tuple[float, float]:
    """(recall of launch rounds heard by 4+ arrays, precision of launch events), by evidence
    and position (`scenario_gen.score_acoustic`)."""
    from scenario_gen import score_acoustic

    s = score_acoustic([e for e in events if e.type == "launch"], sc)
    heard = [i for i, t in enumerate(sc.truth) if t["kind"] == "launch" and len(t["arrays"]) >= 4]
    good = sum(len(v) for j, v in s["matched"].items() if sc.truth[j]["kind"] == "launch")
    return float(np.mean([i in s["matched"] for i in heard])), good / max(s["n_events"], 1)


def test_rounds_the_alignment_left_incomplete_are_extended_before_the_completeness_test(monkeypatch):
    """A clean round the alignment found at only part of the arrays that heard it (their
    onsets held by blends) fails completeness until it is extended; extending the rounds whose
    fit passes, then testing, recovers them without losing precision (ten six-round salvos an
    hour, 20 arrays, clutter and unmeasured wind: the independent generator's defaults)."""
    sc = make_scenario(seed=300, n_arrays=20, n_shots=10, salvo_rounds=6)
    registry = {s["id"]: s for s in sc.sensors}
    with_late = _launch_scores(sc, analyze_reports(sc.reports, registry, workers=1))
    with monkeypatch.context() as m:  # the rounds that fail completeness are not extended
        m.setattr(sv, "_complete_late_rounds", lambda *a, **k: (a[4], np.zeros(a[4].shape[0], bool)))
        without = _launch_scores(sc, analyze_reports(sc.reports, registry, workers=1))
    assert with_late[0] >= without[0] + 0.08, (with_late, without)
    assert with_late[1] >= without[1] - 0.01, (with_late, without)


def test_one_position_tells_a_launchers_rounds_from_scattered_impacts():
    """Rounds fitted at one spot pass the common-position test, rounds hundreds of metres
    apart (a salvo's impacts) and fewer than three rounds do not; a round set off by a wrong
    onset is set aside."""
    from types import SimpleNamespace

    from truceline.analysis import geodesy

    rng = np.random.default_rng(3)
    n, sd = 6, 25.0
    cov = np.zeros((n, 5, 5))
    cov[:, :2, :2] = np.eye(2) * sd**2

    def rounds(spread_m: float):
        e, nn = rng.normal(0.0, np.hypot(sd, spread_m), (2, n))
        lon, lat = geodesy.from_local(36.2, 47.6, e, nn)
        return SimpleNamespace(lon=np.asarray(lon), lat=np.asarray(lat), cov=cov)

    one_spot = [sv._one_position(rounds(0.0), np.arange(n)).size for _ in range(200)]
    scattered = [sv._one_position(rounds(200.0), np.arange(n)).size for _ in range(200)]
    assert np.mean(np.equal(one_spot, n)) >= 0.97, one_spot  # all six, nearly always
    assert np.mean(np.greater(scattered, 0)) <= 0.1, scattered  # rarely three of them by chance
    assert sv._one_position(rounds(0.0), np.arange(2)).size == 0
    # one round off by a wrong onset is set aside, the others stay
    r = rounds(0.0)
    r.lon[4], r.lat[4] = geodesy.from_local(float(r.lon[4]), float(r.lat[4]), 600.0, -600.0)
    assert sorted(sv._one_position(r, np.arange(n)).tolist()) == [0, 1, 2, 3, 5]
