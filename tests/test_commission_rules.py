"""Commission as a pure library: configuration validation, decision rules, the case
state machine, event parsing, grouping into cases, severity and the remedies ladder."""

from __future__ import annotations

import copy
import itertools
import re
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truceline.commission.coalition import load_registry
from truceline.commission.config import DEFAULT_CONFIG_PATH, DecisionRule, load_config, parse_config
from truceline.commission.errors import ConfigError, TransitionError
from truceline.commission.events import parse_events, parse_feature
from truceline.commission.grouping import UNDETERMINED, compute_sectors, group_events
from truceline.commission.model import TRANSITIONS, CaseState, check_transition
from truceline.commission.remedies import called_commitments, propose
from truceline.commission.rules import quorum_needed, tally
from truceline.commission.severity import assess_case, event_score
from truceline.errors import InputError

CFG = load_config()


def feature(eid: str, time: str = "2026-01-06T01:00:00Z", violations=("fire.launch",), responsible="RU",
            attribution=None, lon=37.8, lat=48.0, etype="launch", **extra) -> dict:
    props = {"id": eid, "type": etype, "time": time, "cov_en_m2": [[100.0, 0.0], [0.0, 100.0]],
             "attribution": attribution if attribution is not None else ({responsible: 0.99} if responsible else {}),
             "responsible": responsible, "violations": list(violations), "reports": [f"rep-{eid}"], **extra}
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}


def events(*feats):
    return parse_events({"type": "FeatureCollection", "features": list(feats)}, "t.geojson")


# --------------------------------------------------------------------------- config


def _doc():
    return tomllib.loads(DEFAULT_CONFIG_PATH.read_text())


@pytest.mark.parametrize(
    "mutate,key",
    [
        (lambda d: d["decision"].update(rule="lottery"), "decision.rule"),
        (lambda d: d["decision"].update(quorum=0), "decision.quorum"),
        (lambda d: d["decision"].update(qualified_fraction=0.4), "decision.qualified_fraction"),
        (lambda d: d["ladder"].update(rungs=["nope"]), "ladder.rungs"),
        (lambda d: d["ladder"].update(rungs=["formal_notice"]), "ladder.rungs"),
        (lambda d: d["remedies"][0].update(category="war"), "remedies[0].category"),
        (lambda d: d["remedies"][1].update(domains=["space"]), "remedies[1].domains"),
        (lambda d: d["permissions"].update(vote=["king"]), "permissions.vote"),
        (lambda d: d["members"].append({"id": "FR"}), "members"),
        (lambda d: d["members"][0].update(id="F R"), "members[0].id"),
        (lambda d: d.update(colour="red"), "colour"),
        (lambda d: d["severity"].update(rule_weights={"x": "heavy"}), "severity.rule_weights.x"),
        (lambda d: d["required_force"].update(troops=-1), "required_force.troops"),
        (lambda d: d["wording_bounds"].update({"many": [5, 1]}), "wording_bounds.many"),
        (lambda d: d["commission"].update(attribution_threshold="high"), "commission.attribution_threshold"),
    ],
)
def test_config_errors_name_file_and_key(mutate, key):
    doc = _doc()
    mutate(doc)
    with pytest.raises(ConfigError, match=re.escape(f"c.toml: key '{key}'")):
        parse_config(doc, "c.toml")


def test_config_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[decision\n")
    with pytest.raises(ConfigError, match="bad.toml: invalid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="missing.toml: cannot read"):
        load_config(tmp_path / "missing.toml")


def test_shipped_config_is_marked_illustrative():
    assert CFG.illustrative
    assert CFG.chair.id not in CFG.member_ids
    assert CFG.voters() == CFG.member_ids  # chair does not vote by default


# --------------------------------------------------------------------------- decision rules


def rule(kind: str, quorum=0.5, qf=2 / 3, casting=False) -> DecisionRule:
    return DecisionRule(kind, quorum, qf, False, casting)


VOTERS = ("A", "B", "C", "D", "E", "F")


@pytest.mark.parametrize(
    "kind,votes,adopted",
    [
        ("simple_majority", "YYN", True),
        ("simple_majority", "YNN", False),
        ("simple_majority", "YYNN", False),  # tie, no casting vote
        ("simple_majority", "YY", False),  # 2 of 6 < quorum 3
        ("simple_majority", "YAA", True),  # abstentions count for quorum only
        ("qualified_majority", "YYN", True),  # 2 of 3 reaches two thirds exactly
        ("qualified_majority", "YYYN", True),
        ("qualified_majority", "YYNN", False),
        ("qualified_majority", "AAA", False),  # nobody in favour
        ("consensus", "YYYA", True),
        ("consensus", "YYYYYN", False),
        ("consensus", "AAA", False),
    ],
)
def test_tally_table(kind, votes, adopted):
    cast = {VOTERS[i]: {"Y": "yes", "N": "no", "A": "abstain"}[c] for i, c in enumerate(votes)}
    result = tally(rule(kind), VOTERS, cast)
    assert result.adopted is adopted, result.explanation
    assert result.yes == votes.count("Y") and result.no == votes.count("N")


def test_tie_broken_by_chair_casting_vote_only_when_configured():
    cast = {"A": "yes", "B": "yes", "C": "no", "D": "no"}
    assert not tally(rule("simple_majority", casting=True), VOTERS, cast, chair_casts=False).adopted
    res = tally(rule("simple_majority", casting=True), VOTERS, cast, chair_casts=True)
    assert res.adopted and "casting" in res.explanation
    assert not tally(rule("simple_majority", casting=False), VOTERS, cast, chair_casts=True).adopted


def test_votes_of_non_voters_are_ignored_by_the_tally():
    res = tally(rule("consensus"), ("A", "B"), {"A": "yes", "Z": "no"})
    assert res.adopted and res.no == 0


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["simple_majority", "qualified_majority", "consensus"]),
       st.floats(0.05, 1.0), st.floats(0.51, 1.0),
       st.dictionaries(st.sampled_from(VOTERS), st.sampled_from(["yes", "no", "abstain"])))
def test_tally_properties(kind, quorum, qf, cast):
    r = rule(kind, quorum, qf)
    res = tally(r, VOTERS, cast)
    present = len(cast)
    if present < quorum_needed(r, len(VOTERS)):
        assert not res.adopted
    if res.adopted:
        assert res.yes > 0 and res.yes >= res.no
        if kind == "consensus":
            assert res.no == 0
    # monotone: turning a "no" into "yes" never un-adopts
    for voter, choice in cast.items():
        if choice == "no" and res.adopted:
            assert tally(r, VOTERS, {**cast, voter: "yes"}).adopted


# --------------------------------------------------------------------------- state machine


def test_state_machine_allows_exactly_the_documented_transitions():
    allowed = {
        ("open", "under_review"), ("under_review", "finding_adopted"), ("under_review", "dismissed"),
        ("finding_adopted", "remedy_decided"), ("remedy_decided", "published"), ("dismissed", "published"),
    }
    for cur, target in itertools.product(CaseState, CaseState):
        if (cur.value, target.value) in allowed:
            check_transition("C-1", cur.value, target)
        else:
            with pytest.raises(TransitionError, match="C-1"):
                check_transition("C-1", cur.value, target)
    assert TRANSITIONS[CaseState.PUBLISHED] == ()


def test_transition_message_names_next_step():
    with pytest.raises(TransitionError, match="next step: 'adopt' or 'dismiss'"):
        check_transition("C-9", "under_review", CaseState.PUBLISHED)


# --------------------------------------------------------------------------- events


@pytest.mark.parametrize(
    "change,field",
    [
        ({"time": "2026-01-06 01:00"}, "time"),
        ({"attribution": {"RU": 1.2}}, "attribution.RU"),
        ({"attribution": {"RU": 0.7, "UA": 0.6}}, "attribution"),
        ({"violations": "fire"}, "violations"),
        ({"reports": [1]}, "reports"),
        ({"responsible": 3}, "responsible"),
        ({"casualties": -1}, "casualties"),
    ],
)
def test_bad_event_fields_are_named(change, field):
    f = feature("e1")
    f["properties"].update(change)
    with pytest.raises(InputError, match=re.escape(f"t.geojson: features[0] (event e1).{field}")):
        events(f)


def test_duplicate_event_ids_refused():
    with pytest.raises(InputError, match="duplicate event id"):
        events(feature("e1"), feature("e1"))


@settings(max_examples=150, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                    max_leaves=10))
def test_event_parser_never_crashes(junk):
    """Any junk in any field gives an Event or an InputError, never another exception."""
    from truceline.commission.events import Event

    f = feature("e1")
    variants = []
    for key in ("geometry", "properties"):
        g = copy.deepcopy(f)
        g[key] = junk
        variants.append(g)
    for prop in ("time", "attribution", "violations", "reports", "responsible", "id"):
        g = copy.deepcopy(f)
        g["properties"][prop] = junk
        variants.append(g)
    for g in variants:
        try:
            result = parse_feature(g, "t", 0)
        except InputError as exc:
            assert str(exc).startswith("t: features[0]")
        else:
            assert isinstance(result, Event) and result.id == g["properties"]["id"]


# --------------------------------------------------------------------------- grouping, severity


def test_grouping_by_rule_party_sector_day():
    evs = events(
        feature("a1", "2026-01-06T01:00:00Z"),
        feature("a2", "2026-01-06T23:59:59Z"),
        feature("b1", "2026-01-07T00:00:01Z"),  # next day
        feature("c1", "2026-01-06T02:00:00Z", responsible=None, attribution={"RU": 0.7}),  # undetermined
        feature("d1", "2026-01-06T03:00:00Z", violations=["buffer.presence"]),  # other rule
        feature("e1", "2026-01-06T04:00:00Z", sector="S-12"),  # other sector
        feature("n1", "2026-01-06T05:00:00Z", violations=[]),  # no violation: no case
    )
    drafts = group_events(CFG, evs)
    keyed = {tuple(e.id for e in d.events): d for d in drafts}
    assert set(keyed) == {("a1", "a2"), ("b1",), ("c1",), ("d1",), ("e1",)}
    assert keyed[("c1",)].party == UNDETERMINED
    assert keyed[("e1",)].sector == "S-12"
    assert not any(d.severe for d in drafts)


def test_severe_event_opens_its_own_case_and_multi_rule_event_lands_once():
    evs = events(
        feature("a1", "2026-01-06T01:00:00Z"),
        feature("a2", "2026-01-06T02:00:00Z", casualties=2),  # fire (2) + casualties (1) = 3: severe
        feature("m1", "2026-01-06T03:00:00Z", violations=["buffer.presence", "fire.launch"]),
    )
    drafts = group_events(CFG, evs)
    severe = [d for d in drafts if d.severe]
    assert [d.events[0].id for d in severe] == ["a2"]
    assert event_score(CFG.severity, evs[1]) >= CFG.severe_event_score
    normal = [d for d in drafts if not d.severe]
    assert len(normal) == 1 and {e.id for e in normal[0].events} == {"a1", "m1"}  # fire.launch outweighs buffer
    assert normal[0].rules == ("buffer.presence", "fire.launch")


def test_sector_from_territory_along_the_line():
    from truceline.geo import default_territory_path, load_territory

    terr = load_territory(default_territory_path())
    lon1, lat1 = terr.offset_from_line(120.0, 2000.0, "RU")
    lon2, lat2 = terr.offset_from_line(121.0, 2000.0, "RU")
    lon3, lat3 = terr.offset_from_line(600.0, 2000.0, "RU")
    evs = events(feature("p1", lon=lon1, lat=lat1), feature("p2", lon=lon2, lat=lat2),
                 feature("p3", lon=lon3, lat=lat3), feature("p4", sector="own"))
    sectors = compute_sectors(evs, terr, 50.0, 50.0)
    assert sectors["p1"] == sectors["p2"] != sectors["p3"]
    assert sectors["p4"] == "own"
    drafts = group_events(CFG, evs, sectors)
    assert sorted(len(d.events) for d in drafts) == [1, 1, 2]


def test_case_severity_adds_casualties_damage_and_count():
    evs = events(*(feature(f"e{i}", f"2026-01-06T0{i}:00:00Z") for i in range(6)))
    base = assess_case(CFG.severity, evs[:1])
    assert base.score == 2 and base.level == "moderate"
    many = assess_case(CFG.severity, evs)  # 6 events >= 5: +1
    assert many.score == 3
    hurt = assess_case(CFG.severity, evs[:1], casualties=7, damage="major")  # +2 casualties, +2 damage
    assert hurt.score == 6 and hurt.level == "grave"
    assert any("7 casualties" in r for r in hurt.reasons)


# --------------------------------------------------------------------------- remedies


def test_proposal_climbs_with_recurrence_and_caps():
    evs = events(feature("e1"))
    a = assess_case(CFG.severity, evs)  # score 2 -> rung 2
    t0 = evs[0].t
    p = propose(CFG, a, "RU", [], t0)
    assert p.rung_index == 1 and p.remedy.id == CFG.ladder.rungs[1]
    day = 86400.0
    p2 = propose(CFG, a, "RU", [("C-old", t0 - 3 * day), ("C-older", t0 - 40 * day)], t0)
    assert p2.rung_index == 2  # only the finding within 30 days counts
    assert any("C-old" in r and "C-older" not in r for r in p2.reasons)
    p3 = propose(CFG, a, "RU", [(f"C{i}", t0 - i * day) for i in range(1, 9)], t0)
    assert p3.rung_index == len(CFG.ladder.rungs) - 1 and any("capped" in r for r in p3.reasons)


def test_undetermined_responsibility_limits_the_rungs():
    evs = events(feature("e1", casualties=30))
    a = assess_case(CFG.severity, evs)
    p = propose(CFG, a, None, [("C-x", evs[0].t)], evs[0].t)
    assert not p.remedy.requires_responsible
    assert any("undetermined" in r for r in p.reasons)


def test_called_commitments_flag_intentions():
    reg = load_registry()
    mil = CFG.remedies["military_capabilities"]
    calls = called_commitments(reg, mil)
    assert calls and all(c.intention_only for c in calls)
    assert {c.domain for c in calls} <= set(mil.domains)
    assert any(c.pledge == "P-DE-air-defence" for c in calls)
    only_fr = called_commitments(reg, mil, ["FR", "PL"])
    assert {c.state for c in only_fr} == {"FR", "PL"}
    pl = next(c for c in only_fr if c.state == "PL")
    assert pl.pledge is None and "no pledge recorded" in pl.note
    dip = called_commitments(reg, CFG.remedies["formal_notice"], ["UK"])
    assert len(dip) == 1 and dip[0].intention_only and dip[0].pledge is None


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["RU", "UA", None]),
                          st.sets(st.sampled_from(["fire.launch", "buffer.presence", "withdrawal.tank"]), max_size=2),
                          st.integers(0, 3), st.integers(0, 2)), max_size=25))
def test_grouping_partitions_the_violations(rows):
    """Every violating event lands in exactly one case; a case's events share rule, party,
    sector and day; only severe events stand alone."""
    feats = [feature(f"e{i}", f"2026-01-0{6 + day}T0{i % 10}:00:00Z", violations=sorted(viol), responsible=party,
                     attribution={party: 0.99} if party else {"RU": 0.5}, sector=f"S{sector}",
                     **({"casualties": cas} if cas else {}))
             for i, (day, party, viol, sector, cas) in enumerate(rows)]
    evs = events(*feats)
    drafts = group_events(CFG, evs)
    placed = [e.id for d in drafts for e in d.events]
    assert sorted(placed) == sorted(e.id for e in evs if e.violations)
    for d in drafts:
        assert len({(e.day, e.responsible or UNDETERMINED, e.sector) for e in d.events}) == 1
        assert all(d.rule in e.violations for e in d.events)
        if d.severe:
            assert len(d.events) == 1 and event_score(CFG.severity, d.events[0]) >= CFG.severe_event_score
        else:
            assert all(event_score(CFG.severity, e) < CFG.severe_event_score for e in d.events)
