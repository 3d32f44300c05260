"""The commission service on a real store (SQLite and PostgreSQL via the shared `store`
fixture): cases from events, the whole procedure, refusals that change nothing, logged
decisions whose proofs verify offline."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from test_commission_rules import feature
from truceline.commission import service as S
from truceline.commission.demo import run_demo_case
from truceline.commission.errors import (
    AccessError,
    AttributionError,
    CommissionError,
    DecisionError,
    NotFoundError,
    TransitionError,
    VoteError,
)
from truceline.commission.events import parse_events
from truceline.errors import TrucelineError
from truceline.evidence import merkle
from truceline.evidence.verify import verify_inclusion_files
from truceline.store.commission_tables import (
    commission_case_events,
    commission_cases,
    commission_decisions,
    commission_history,
    commission_motions,
    commission_votes,
)
from truceline.store.log_tables import log_entries

T0 = 1767657600.0  # 2026-01-06T00:00:00Z


@pytest.fixture
def ctx():
    clock = iter(range(10**6))
    from truceline.profile import load_profile

    return S.make_context(profile=load_profile(), clock=lambda: T0 + 86400 + next(clock))


def day_events():
    return parse_events({"type": "FeatureCollection", "features": [
        feature("ru1", "2026-01-06T01:00:00Z", attribution={"RU": 0.99, "UA": 0.01}),
        feature("ru2", "2026-01-06T02:00:00Z", attribution={"RU": 0.97}),
        feature("und", "2026-01-06T03:00:00Z", responsible=None, attribution={"RU": 0.80, "UA": 0.10}),
        feature("sev", "2026-01-06T04:00:00Z", responsible="UA", attribution={"UA": 0.99}, etype="impact",
                violations=["fire.impact"], casualties=2),
        feature("ok1", "2026-01-06T05:00:00Z", violations=[]),
    ]}, "day.geojson")


def snapshot(store):
    with store.engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar() for t in (
            commission_cases, commission_case_events, commission_history, commission_motions, commission_votes,
            commission_decisions, log_entries)) + tuple(
            conn.execute(select(commission_cases.c.case_id, commission_cases.c.state)
                         .order_by(commission_cases.c.case_id)).all())


def refused(store, exc, pattern, fn, *args, **kw):
    before = snapshot(store)
    with pytest.raises(exc, match=pattern):
        fn(*args, **kw)
    assert snapshot(store) == before, "a refused command must change nothing"


def case_of(store, party):
    return next(c["case_id"] for c in S.list_cases(store) if c["party"] == party)


def test_events_open_cases_idempotently(store, ctx):
    res = S.open_cases_from_events(store, "analyst", day_events(), ctx)
    assert len(res.opened) == 3 and res.events_added == 4 and res.events_without_violation == 1
    cases = {c["party"]: c for c in S.list_cases(store)}
    assert cases["RU"]["events"] == 2 and not cases["RU"]["severe"]
    assert cases["UA"]["severe"] and cases["undetermined"]["events"] == 1
    again = S.open_cases_from_events(store, "analyst", day_events(), ctx)
    assert again.opened == [] and again.events_skipped == 4
    # a later event of the same group joins the case while it is still open
    more = parse_events({"type": "FeatureCollection", "features": [
        feature("ru3", "2026-01-06T09:00:00Z", attribution={"RU": 0.99})]}, "more.geojson")
    ext = S.open_cases_from_events(store, "analyst", more, ctx)
    assert ext.extended == [cases["RU"]["case_id"]] and ext.opened == []
    detail = S.get_case(store, cases["RU"]["case_id"], ctx)
    assert [e["id"] for e in detail["events"]] == ["ru1", "ru2", "ru3"]
    assert detail["history"][0]["actor"] == "analyst" and detail["history"][-1]["action"] == "events_added"


def test_full_procedure_publishes_verifiable_finding(store, ctx, tmp_path):
    S.open_cases_from_events(store, "secretariat", day_events(), ctx)
    cid = case_of(store, "RU")
    S.review(store, "chair", cid, ctx, responsible="RU", reason="attribution above threshold")
    for m in ("FR", "UK", "DE", "US"):
        S.vote(store, m, cid, "yes", ctx, reason="evidence is clear")
    S.vote(store, "NL", cid, "no", ctx)
    finding = S.adopt(store, "chair", cid, ctx)
    assert finding["responsible"] == "RU" and finding["responsibility"] == "determined"
    assert finding["attribution_to_responsible"] == pytest.approx(0.97)
    assert {v["member"] for v in finding["votes"]} == {"FR", "UK", "DE", "US", "NL"}
    assert finding["tally"]["yes"] == 4 and finding["tally"]["no"] == 1
    proposal = S.remedy_proposal(store, cid, ctx)
    remedy = S.decide_remedy(store, "chair", cid, ctx)
    assert remedy["remedy"]["id"] == proposal["remedy"] and remedy["follows_proposal"]
    assert remedy["intentions_only"]  # everything pledged is still an intention
    bundle = S.publish(store, "chair", cid, ctx, out_dir=tmp_path / "pub")
    assert S.get_case(store, cid, ctx)["state"] == "published"
    ids = [f"{cid}-m1-vote-{m}" for m in ("FR", "UK", "DE", "US", "NL")] + [
        finding["id"], remedy["id"], f"{cid}-publication"]
    assert set(bundle["proofs"]) == set(ids)
    # offline check from the written files only
    pub = tmp_path / "pub"
    head = json.loads((pub / "head.json").read_text())
    key = json.loads((pub / "key.json").read_text())
    for did in ids:
        proof = json.loads((pub / "proofs" / f"{did}.json").read_text())
        entry = json.loads((pub / "decisions" / f"{did}.json").read_text())
        verdict = verify_inclusion_files(proof, head, key, entry, entry_given=True)
        assert verdict.ok, (did, verdict.checks)
    # tampering with the finding breaks its proof
    tampered = dict(bundle["decisions"][finding["id"]], responsible="UA")
    assert not verify_inclusion_files(bundle["proofs"][finding["id"]], head, key, tampered, entry_given=True).ok
    history = S.get_case(store, cid, ctx)["history"]
    transitions = [(h["from_state"], h["to_state"], h["actor"]) for h in history if h["to_state"]]
    assert transitions == [
        (None, "open", "secretariat"), ("open", "under_review", "chair"),
        ("under_review", "finding_adopted", "chair"), ("finding_adopted", "remedy_decided", "chair"),
        ("remedy_decided", "published", "chair"),
    ]
    assert all(h["time"].endswith("Z") for h in history)


def test_refusals_change_nothing(store, ctx, monkeypatch):
    monkeypatch.delenv(S.ACTOR_ENV, raising=False)
    S.open_cases_from_events(store, "analyst", day_events(), ctx)
    cid, und = case_of(store, "RU"), case_of(store, "undetermined")
    refused(store, AccessError, "--as", S.review, store, None, cid, ctx)
    refused(store, AccessError, "unknown identity 'PL' may not review", S.review, store, "PL", cid, ctx)
    refused(store, AccessError, "unknown identity 'PL' may not vote", S.vote, store, "PL", cid, "yes", ctx)
    refused(store, AccessError, "without spaces", S.open_case, store, "a b", ctx, rule="x", reason="r")
    refused(store, AccessError, "FR \\(member\\) may not review", S.review, store, "FR", cid, ctx)
    refused(store, TransitionError, "votes are cast while a case is under_review", S.vote, store, "FR", cid, "yes", ctx)
    refused(store, TransitionError, "publish needs", S.publish, store, "chair", cid, ctx)
    refused(store, NotFoundError, "no case", S.review, store, "chair", "C-nope", ctx)
    # naming a party below the threshold: refused at the motion
    refused(store, AttributionError, r"attribution to RU is 0\.800.*below the threshold 0\.95",
            S.review, store, "chair", und, ctx, responsible="RU")
    refused(store, AttributionError, "not a party", S.review, store, "chair", cid, ctx, responsible="XX")
    S.review(store, "chair", cid, ctx, responsible="RU")
    S.vote(store, "FR", cid, "yes", ctx)
    refused(store, VoteError, "FR has already voted yes on motion 1", S.vote, store, "FR", cid, "no", ctx)
    refused(store, AccessError, "chair \\(chair\\) may not vote", S.vote, store, "chair", cid, "yes", ctx)
    refused(store, AccessError, "analyst \\(staff\\) may not vote", S.vote, store, "analyst", cid, "yes", ctx)
    refused(store, VoteError, "vote must be one of", S.vote, store, "UK", cid, "maybe", ctx)
    refused(store, DecisionError, "no quorum", S.adopt, store, "chair", cid, ctx)
    refused(store, DecisionError, "is a finding; use 'adopt'", S.dismiss, store, "chair", cid, ctx)
    refused(store, AccessError, "may not adopt", S.adopt, store, "FR", cid, ctx)
    for m in ("UK", "DE", "US"):
        S.vote(store, m, cid, "yes", ctx)
    S.adopt(store, "chair", cid, ctx)
    refused(store, TransitionError, "cannot move to finding_adopted", S.adopt, store, "chair", cid, ctx)
    refused(store, CommissionError, "needs a reason", S.decide_remedy, store, "chair", cid, ctx,
            remedy="military_capabilities")
    refused(store, CommissionError, "unknown remedy", S.decide_remedy, store, "chair", cid, ctx, remedy="war")
    refused(store, CommissionError, "not a state of the coalition", S.decide_remedy, store, "chair", cid, ctx,
            call_on=["XX"])
    all_errors = (AccessError, TransitionError, VoteError, DecisionError, AttributionError, NotFoundError)
    assert all(issubclass(e, TrucelineError) for e in all_errors)


def test_undetermined_finding_and_restricted_remedy(store, ctx):
    S.open_cases_from_events(store, "analyst", day_events(), ctx)
    und = case_of(store, "undetermined")
    S.review(store, "chair", und, ctx, reason="attribution 0.80 only")
    for m in ("FR", "UK", "DE", "US", "NL"):
        S.vote(store, m, und, "yes", ctx)
    finding = S.adopt(store, "chair", und, ctx)
    assert finding["responsible"] is None and finding["responsibility"] == "undetermined"
    assert finding["violation_occurred"] is True
    refused(store, CommissionError, "needs a responsible party", S.decide_remedy, store, "chair", und, ctx,
            remedy="additional_sanctions", reason="try")
    remedy = S.decide_remedy(store, "chair", und, ctx)
    assert remedy["remedy"]["id"] == "intensified_monitoring"


def test_new_motion_supersedes_and_dismissal_path(store, ctx):
    S.open_cases_from_events(store, "analyst", day_events(), ctx)
    cid = case_of(store, "UA")
    S.review(store, "secretariat", cid, ctx, responsible="UA")
    S.vote(store, "FR", cid, "yes", ctx)
    refused(store, CommissionError, "needs its grounds", S.review, store, "chair", cid, ctx, propose_kind="dismissal")
    m = S.review(store, "chair", cid, ctx, propose_kind="dismissal", reason="impact was a training-range accident")
    assert m["motion"] == 2
    S.vote(store, "FR", cid, "yes", ctx)  # a new motion: FR may vote again
    for mem in ("UK", "DE"):
        S.vote(store, mem, cid, "yes", ctx)
    S.vote(store, "US", cid, "no", ctx)
    refused(store, DecisionError, "is a dismissal; use 'dismiss'", S.adopt, store, "chair", cid, ctx)
    d = S.dismiss(store, "chair", cid, ctx)
    assert d["type"] == "dismissal" and d["tally"]["yes"] == 3
    refused(store, TransitionError, "remedy needs finding_adopted", S.decide_remedy, store, "chair", cid, ctx)
    bundle = S.publish(store, "chair", cid, ctx)
    assert bundle["decisions"][f"{cid}-publication"]["outcome"] == "dismissed"
    detail = S.get_case(store, cid, ctx)
    assert detail["state"] == "published" and detail["motion"]["number"] == 2
    assert detail["finding_id"] is None and detail["dismissal_id"] == d["id"]


def test_recurrence_escalates_the_next_case(store, ctx):
    def one(eid, day):
        return parse_events({"type": "FeatureCollection", "features": [
            feature(eid, f"2026-01-{day:02d}T01:00:00Z", attribution={"RU": 0.99})]}, "x")

    rungs = []
    for i, day in enumerate((6, 8, 10)):
        res = S.open_cases_from_events(store, "analyst", one(f"e{i}", day), ctx)
        (cid,) = res.opened
        S.review(store, "chair", cid, ctx, responsible="RU")
        for m in ("FR", "UK", "DE", "US"):
            S.vote(store, m, cid, "yes", ctx)
        S.adopt(store, "chair", cid, ctx)
        rungs.append(S.remedy_proposal(store, cid, ctx)["rung"])
    assert rungs == [2, 3, 4]


def test_manual_case(store, ctx):
    evs = day_events()
    cid = S.open_case(store, "secretariat", ctx, events=[evs[0]], reason="monitor's account", rule="fire.launch")
    assert re.fullmatch(r"C-20260106-\d{3}", cid)
    refused(store, CommissionError, "needs a reason", S.open_case, store, "secretariat", ctx, rule="x")
    refused(store, CommissionError, "already in case", S.open_case, store, "secretariat", ctx, events=[evs[0]],
            reason="again")
    res = S.open_cases_from_events(store, "analyst", evs, ctx)
    assert res.events_skipped == 1  # ru1 already in the manual case
    no_events = S.open_case(store, "monitor-7", ctx, rule="buffer.presence", reason="reported by a monitor",
                            day="2026-01-07")
    assert S.get_case(store, no_events, ctx)["history"][0]["actor"] == "monitor-7"  # any user may open
    refused(store, AttributionError, "holds no events", S.review, store, "chair", no_events, ctx, responsible="RU")


def test_demo_case(store, tmp_path):
    path = tmp_path / "events.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        feature("d1", "2026-01-06T01:00:00Z", attribution={"RU": 0.99}),
        feature("d2", "2026-01-06T02:00:00Z", attribution={"RU": 0.98}),
        feature("d3", "2026-01-06T03:00:00Z", responsible=None, attribution={"UA": 0.5}),
    ]}))
    summary = run_demo_case(store, path, out_dir=tmp_path / "bundle")
    walked = summary["walked"]
    assert walked["responsible"] == "RU" and walked["finding_verifies"]
    assert (tmp_path / "bundle" / "proofs" / f"{walked['finding_id']}.json").exists()
    # the finding leaf is exactly the logged object's RFC 8785 bytes
    with store.engine.connect() as conn:
        leaf = conn.execute(select(log_entries.c.leaf_hash, log_entries.c.entry).where(
            log_entries.c.object_id == walked["finding_id"])).one()
    assert bytes(leaf[0]) == merkle.leaf_hash(bytes(leaf[1]))
    again = run_demo_case(store, path)
    assert again["cases"]["events_skipped"] == 3


def test_published_case_carries_report_proofs(store, ctx):
    """Reports of the case's events that are in the evidence log come with their proofs."""
    from pathlib import Path

    from truceline.evidence import append_entries

    spec = Path(__file__).resolve().parents[2] / "shared" / "spec" / "examples_reports.jsonl"
    reports = [json.loads(line) for line in spec.read_text().splitlines() if line.strip()]
    append_entries(store, reports, "report", [r["id"] for r in reports])
    f = feature("ev-ex", "2026-01-06T01:00:00Z", attribution={"RU": 0.99})
    f["properties"]["reports"] = [reports[0]["id"], reports[1]["id"], "not-ingested"]
    S.open_cases_from_events(store, "analyst", parse_events({"type": "FeatureCollection", "features": [f]}, "x"), ctx)
    (cid,) = [c["case_id"] for c in S.list_cases(store)]
    detail = S.get_case(store, cid, ctx)
    assert detail["reports_in_log"][reports[0]["id"]] is not None and detail["reports_in_log"]["not-ingested"] is None
    S.review(store, "chair", cid, ctx, responsible="RU")
    for m in ("FR", "UK", "DE", "US"):
        S.vote(store, m, cid, "yes", ctx)
    S.adopt(store, "chair", cid, ctx)
    S.decide_remedy(store, "chair", cid, ctx)
    bundle = S.publish(store, "chair", cid, ctx)
    assert bundle["reports_not_in_log"] == ["not-ingested"]
    for rep in reports[:2]:
        assert bundle["reports"][rep["id"]] == rep  # exactly as received, sig included
        v = verify_inclusion_files(bundle["proofs"][rep["id"]], bundle["head"], bundle["key"], rep, entry_given=True)
        assert v.ok, v.checks


def test_configured_consensus_with_voting_chair(store, tmp_path):
    from truceline.commission.config import DEFAULT_CONFIG_PATH

    text = DEFAULT_CONFIG_PATH.read_text()
    text = text.replace('rule = "qualified_majority"', 'rule = "consensus"').replace(
        "quorum = 0.5", "quorum = 1.0").replace("chair_votes = false", "chair_votes = true")
    cfg_path = tmp_path / "commission.toml"
    cfg_path.write_text(text)
    ctx = S.make_context(config=cfg_path)
    assert ctx.config.decision.rule == "consensus" and "chair" in ctx.config.voters()
    S.open_cases_from_events(store, "analyst", day_events(), ctx)
    cid = case_of(store, "RU")
    S.review(store, "chair", cid, ctx, responsible="RU")
    members = list(ctx.config.voters())
    for m in members[:-1]:
        S.vote(store, m, cid, "yes", ctx)
    refused(store, DecisionError, "no quorum", S.adopt, store, "chair", cid, ctx)  # everyone must vote
    S.vote(store, members[-1], cid, "no", ctx)
    refused(store, DecisionError, r"no consensus: 1 objection", S.adopt, store, "chair", cid, ctx)
    # a new motion (undetermined) on which nobody objects is carried
    S.review(store, "chair", cid, ctx, reason="compromise")
    for m in members[:-1]:
        S.vote(store, m, cid, "yes", ctx)
    S.vote(store, members[-1], cid, "abstain", ctx)
    finding = S.adopt(store, "chair", cid, ctx)
    assert finding["responsible"] is None and finding["motion"] == 2
    assert finding["decision_rule"]["rule"] == "consensus" and finding["tally"]["abstain"] == 1
