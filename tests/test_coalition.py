"""Coalition registry: the shipped dataset is honest and complete, validation names
file and key, the gap view sums only what sources state, hubs are flagged by distance."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truceline.commission.coalition import (
    PLEDGE_STATUSES,
    Hub,
    Pledge,
    check_hubs,
    gap_view,
    load_registry,
    parse_registry,
)
from truceline.commission.config import PLEDGE_DOMAINS, load_config
from truceline.commission.errors import ConfigError

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DATASET = Path(__file__).resolve().parents[1] / "src" / "truceline" / "data" / "coalition" / "statements_2026-01.toml"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a3", "GBP ").replace("\u20ac", "EUR ")).lower()


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_dataset_covers_every_state_of_the_statements(registry):
    md = (SHARED_DATA / "coalition_statements.md").read_text()
    section = md.split("## Statements by state")[1].split("## Force size")[0]
    names = {row.split("|")[1].strip() for row in section.splitlines() if row.startswith("| ") and "---" not in row}
    names -= {"state", "26 states"}
    assert names == {s.name for s in registry.states.values()}


def test_every_pledge_is_an_intention_with_its_source(registry):
    assert registry.pledges, "the dataset ships pledges"
    for p in registry.pledges:
        assert p.status == "intention", p.id  # nothing was approved or deployed by January 2026
        stmt = registry.statements[p.statement]
        assert stmt.source in registry.sources
        assert stmt.state in (p.state, None)


def test_no_invented_numbers(registry):
    """Troop numbers: none stated in the sources, so none in the data; wording is quoted."""
    md = _norm((SHARED_DATA / "coalition_statements.md").read_text())
    for p in registry.pledges:
        assert p.troops_min is None and p.troops_max is None, p.id
        if p.troops_wording:
            assert _norm(p.troops_wording) in md, p.troops_wording
        if p.amount is not None:  # the UK's GBP 200 million is stated
            assert f"{p.amount // 1_000_000} million" in md
    for stmt in registry.statements.values():
        for number in re.findall(r"\d[\d,]*", stmt.text):
            assert number in md, (stmt.id, number)


def test_hubs_carry_no_invented_location(registry):
    assert {h.state for h in registry.hubs} == {"UK", "FR"}
    for h in registry.hubs:
        assert h.lon is None and h.lat is None and not h.hypothetical


def test_national_procedures_match_the_statements(registry):
    procs = {code: s.national_procedure for code, s in registry.states.items()}
    assert procs["DE"] == procs["NL"] == "parliamentary_mandate"
    assert procs["UK"] == "parliamentary_vote"
    assert procs["FR"] == "presidential_order"
    deploying = [p for p in registry.pledges if p.deployment and p.state == "DE"]
    assert deploying and all(registry.procedure_of(p) == "parliamentary_mandate" for p in deploying)


def test_gap_view_on_the_shipped_dataset(registry):
    cfg = load_config()
    gap = gap_view(registry, cfg.required_troops, cfg.required_source, cfg.wording_bounds)
    assert gap.firm_troops.min == 0 and gap.firm_troops.max == 0
    assert gap.stated_troops.min == 0
    assert gap.gap_firm == cfg.required_troops
    # "several thousand" (FR) and "company-sized unit" (EE) are the only interpretable wordings
    lo = cfg.wording_bounds["several thousand"][0] + cfg.wording_bounds["company-sized unit"][0]
    assert gap.interpreted_troops.min == lo
    assert gap.interpreted_troops.max is None  # UK, DE, ES, ... state no size at all
    assert gap.gap_interpreted.max == cfg.required_troops - lo
    assert {u["state"] for u in gap.unquantified} >= {"FR", "UK", "EE", "DE"}
    assert gap.funding == {"GBP": {"pledged": 200_000_000, "firm": 0}}
    assert set(gap.states_ruling_out) == {"PL", "IT"}
    assert sum(n for c in gap.pledge_counts.values() for n in c.values()) == len(registry.pledges)
    assert len(gap.unquantified) == 9  # every troop pledge lacks a number; 2 have interpretable wording


def _doc() -> dict:
    return tomllib.loads(DATASET.read_text())


@pytest.mark.parametrize(
    "mutate,where",
    [
        (lambda d: d["pledges"][0].update(status="promised"), "pledges[0].status"),
        (lambda d: d["pledges"][1].update(domain="cyber"), "pledges[1].domain"),
        (lambda d: d["pledges"][2].update(state="XX"), "pledges[2].state"),
        (lambda d: d["pledges"][0].update(statement="S-nope"), "pledges[0].statement"),
        (lambda d: d["states"][0].update(national_procedure="referendum"), "states[0].national_procedure"),
        (lambda d: d["pledges"][0].update(troops_min=5, troops_max=1), "pledges[0].troops_min"),
        (lambda d: d["hubs"][0].update(lon=30.0), "hubs[0].lon"),
        (lambda d: d["statements"][0].update(source="who"), "statements[0].source"),
        (lambda d: d["pledges"][0].update(colour="red"), "pledges[0].colour"),
    ],
)
def test_invalid_registry_names_file_and_key(mutate, where):
    doc = _doc()
    mutate(doc)
    with pytest.raises(ConfigError, match=re.escape(f"reg.toml: {where}")):
        parse_registry(doc, "reg.toml")


def _pledge(i: int, status: str, lo: int | None, hi: int | None, wording: str | None) -> Pledge:
    return Pledge(id=f"P{i}", state="AA", domain="land", status=status, deployment=True, description="x",
                  statement="S", troops_min=lo, troops_max=hi, troops_wording=wording)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PLEDGE_STATUSES), st.one_of(st.none(), st.integers(0, 5000)),
                          st.integers(0, 5000), st.sampled_from([None, "a few", "unknown phrase"])),
                max_size=12),
       st.integers(1, 200_000))
def test_gap_view_sums_are_consistent(rows, required):
    pledges = []
    for i, (status, lo, extra, wording) in enumerate(rows):
        hi = None if lo is None else lo + extra
        pledges.append(_pledge(i, status, lo, hi, wording))
    reg = load_registry()
    reg = type(reg)(reg.source, reg.meta, reg.sources, reg.states, reg.statements, tuple(pledges), ())
    gap = gap_view(reg, required, "", {"a few": (2, 5)})
    live = [p for p in pledges if p.status != "withdrawn"]
    stated = [p for p in live if p.troops_min is not None]
    firm = [p for p in stated if p.status in ("approved", "deployed")]
    assert gap.stated_troops.min == sum(p.troops_min for p in stated)
    assert gap.firm_troops.min == sum(p.troops_min for p in firm)
    assert gap.gap_firm == required - gap.firm_troops.min
    assert gap.interpreted_troops.min == gap.stated_troops.min + sum(
        2 for p in live if p.troops_min is None and p.troops_wording == "a few")
    unknown = [p for p in live if p.troops_min is None and p.troops_wording != "a few"]
    assert (gap.interpreted_troops.max is None) == bool(unknown)
    assert len(gap.unquantified) == sum(1 for p in live if p.troops_min is None)


def test_domains_and_statuses_vocabulary():
    assert {"land", "sea", "air", "training", "air_defence", "enablers", "funding"} <= set(PLEDGE_DOMAINS)
    assert PLEDGE_STATUSES == ("intention", "national_approval_pending", "approved", "deployed", "withdrawn")


def test_hub_inside_minimum_distance_is_flagged_fixture():
    hubs = [
        Hub("H-near", "UK", "hypothetical fixture", None, lon=36.0, lat=48.0, hypothetical=True),
        Hub("H-far", "FR", "hypothetical fixture", None, lon=30.5, lat=50.4, hypothetical=True),
        Hub("H-none", "FR", "no place stated", None),
    ]
    # A fake line: the meridian 36.5 E, 1 degree of longitude ~ 74.5 km at these latitudes.
    checks = check_hubs(hubs, lambda lon, lat: abs(lon - 36.5) * 74_500.0, 100.0)
    by_id = {c.hub.id: c for c in checks}
    assert by_id["H-near"].flagged and by_id["H-near"].distance_km == pytest.approx(37.25)
    assert not by_id["H-far"].flagged and by_id["H-far"].distance_km > 100
    assert not by_id["H-none"].flagged and by_id["H-none"].distance_km is None
    assert "not stated" in by_id["H-none"].reason


def test_hub_flagging_against_the_real_line():
    from truceline.geo import default_territory_path, load_territory

    terr = load_territory(default_territory_path())
    lon_n, lat_n = terr.offset_from_line(300.0, 20_000.0, "UA")
    lon_f, lat_f = 24.03, 49.84  # Lviv, far west: a hypothetical fixture position
    hubs = [Hub("near", "UK", "fixture", None, lon=float(lon_n), lat=float(lat_n), hypothetical=True),
            Hub("far", "FR", "fixture", None, lon=float(lon_f), lat=float(lat_f), hypothetical=True)]
    checks = check_hubs(hubs, lambda lo, la: float(terr.distance_to_line_m(lo, la)), 100.0)
    assert checks[0].flagged and 0 < checks[0].distance_km <= 20.5  # the line may wiggle closer
    assert not checks[1].flagged and checks[1].distance_km > 100
