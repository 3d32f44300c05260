"""`truceline case ...` and `truceline coalition ...` end to end: a day of events becomes
cases, one goes through the whole procedure from the CLI, and the published finding
verifies offline with `truceline log prove/head/key` + `truceline verify`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from test_commission_rules import feature
from truceline.cli import app
from truceline.commission.errors import AccessError, AttributionError

runner = CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("TRUCELINE_DB", f"sqlite:///{tmp_path / 'cli.sqlite'}")
    monkeypatch.delenv("TRUCELINE_ACTOR", raising=False)
    monkeypatch.delenv("TRUCELINE_LOG_KEY", raising=False)
    events = tmp_path / "events.geojson"
    events.write_text(json.dumps({"type": "FeatureCollection", "features": [
        feature("a1", "2026-01-06T01:00:00Z", attribution={"RU": 0.99}),
        feature("a2", "2026-01-06T02:30:00Z", attribution={"RU": 0.985}),
        feature("b1", "2026-01-06T03:00:00Z", responsible=None, attribution={"RU": 0.6, "UA": 0.3}),
        feature("c1", "2026-01-06T04:00:00Z", violations=[]),
    ]}))
    return tmp_path, events


def run(*args, ok=True):
    result = runner.invoke(app, list(args), catch_exceptions=True)
    if ok:
        assert result.exit_code == 0, (args, result.output, result.exception)
    return result


def test_day_of_events_through_the_cli_and_offline_verification(env, monkeypatch):
    tmp, events = env
    out = run("case", "open-from", str(events), "--as", "analyst", "--json")
    opened = json.loads(out.output)["opened"]
    assert len(opened) == 2
    cases = json.loads(run("case", "list", "--json").output)
    ru = next(c["case_id"] for c in cases if c["party"] == "RU")
    run("case", "review", ru, "--as", "chair", "--responsible", "RU", "--reason", "attribution 0.985")
    for m in ("FR", "UK", "DE"):
        run("case", "vote", ru, "yes", "--as", m)
    monkeypatch.setenv("TRUCELINE_ACTOR", "US")  # identity from the environment
    run("case", "vote", ru, "abstain")
    monkeypatch.delenv("TRUCELINE_ACTOR")
    adopted = run("case", "adopt", ru, "--as", "chair")
    assert "finding adopted (RU" in adopted.output
    prop = json.loads(run("case", "remedy", ru, "--proposal", "--json").output)
    assert prop["reasons"]
    rem = run("case", "remedy", ru, "--as", "chair", "--remedy", "military_capabilities", "--call-on", "FR,DE,PL",
              "--reason", "test: escalate", "--json")
    decision = json.loads(rem.output)
    assert decision["follows_proposal"] is False
    assert {c["state"] for c in decision["calls_on"]} == {"FR", "DE", "PL"}
    assert "P-DE-air-defence" in decision["intentions_only"]
    pub_out = run("case", "publish", ru, "--as", "chair", "--out", str(tmp / "pub")).output
    assert f"truceline log prove {ru}-m1-finding" in pub_out
    shown = json.loads(run("case", "show", ru, "--json").output)
    assert shown["state"] == "published" and shown["responsible"] == "RU"
    finding_id = shown["finding_id"]
    # the observer's path: prove + head + key from the CLI, then verify offline
    (tmp / "proof.json").write_text(run("log", "prove", finding_id).output)
    (tmp / "head.json").write_text(run("log", "head").output)
    (tmp / "key.json").write_text(run("log", "key").output)
    (tmp / "entry.json").write_text(run("log", "entry", finding_id).output)
    head = json.loads((tmp / "head.json").read_text())
    proof = json.loads((tmp / "proof.json").read_text())
    assert proof["tree_size"] == head["tree_size"]
    ver = run("verify", str(tmp / "proof.json"), "--head", str(tmp / "head.json"), "--key", str(tmp / "key.json"),
              "--entry", str(tmp / "entry.json"))
    assert "PASS" in ver.output
    # and straight from the published bundle
    pub = tmp / "pub"
    ver2 = run("verify", str(pub / "proofs" / f"{finding_id}.json"), "--head", str(pub / "head.json"),
               "--key", str(pub / "key.json"), "--entry", str(pub / "decisions" / f"{finding_id}.json"))
    assert "PASS" in ver2.output
    # a forged finding fails
    forged = json.loads((pub / "decisions" / f"{finding_id}.json").read_text())
    forged["responsible"] = "UA"
    (tmp / "forged.json").write_text(json.dumps(forged))
    bad = run("verify", str(pub / "proofs" / f"{finding_id}.json"), "--head", str(pub / "head.json"),
              "--key", str(pub / "key.json"), "--entry", str(tmp / "forged.json"), ok=False)
    assert bad.exit_code == 1 and "FAIL" in bad.output
    listing = run("case", "list").output
    assert ru in listing and "published" in listing
    text = run("case", "show", ru).output
    assert "history" in text and "chair" in text


def test_cli_refusals(env):
    tmp, events = env
    run("case", "open-from", str(events), "--as", "analyst")
    cases = json.loads(run("case", "list", "--json").output)
    und = next(c["case_id"] for c in cases if c["party"] == "undetermined")
    r = run("case", "review", und, "--responsible", "RU", ok=False)
    assert isinstance(r.exception, AccessError)
    r = run("case", "review", und, "--as", "chair", "--responsible", "RU", ok=False)
    assert isinstance(r.exception, AttributionError) and "below the threshold" in str(r.exception)
    run("case", "review", und, "--as", "chair")  # no flag: attribution below threshold -> undetermined
    assert json.loads(run("case", "show", und, "--json").output)["motion"]["responsible"] is None
    ru = next(c["case_id"] for c in cases if c["party"] == "RU")
    run("case", "review", ru, "--as", "secretariat")  # no flag: RU meets the threshold -> named
    assert json.loads(run("case", "show", ru, "--json").output)["motion"]["responsible"] == "RU"
    run("case", "review", ru, "--as", "chair", "--undetermined")  # explicit: replaces the motion
    shown = json.loads(run("case", "show", ru, "--json").output)
    assert shown["motion"]["responsible"] is None and shown["motion"]["number"] == 2


def test_cli_error_is_one_line(env):
    tmp, events = env
    proc = subprocess.run([sys.executable, "-c", "from truceline.cli import main; main()",
                           "case", "vote", "C-20260106-001", "yes"], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "--as" in lines[0]


def test_coalition_commands(env, tmp_path):
    gap = json.loads(run("coalition", "gap", "--json").output)
    assert gap["required_troops"] == 150000 and gap["gap_firm"] == 150000
    assert gap["firm_troops"] == {"min": 0, "max": 0}
    gap2 = json.loads(run("coalition", "gap", "--required", "40000", "--json").output)
    assert gap2["gap_firm"] == 40000
    assert "Required force" in run("coalition", "gap").output
    shown = json.loads(run("coalition", "show", "--state", "FR", "--json").output)
    assert {p["id"] for p in shown["pledges"]} == {"P-FR-land"}
    assert shown["pledges"][0]["troops_wording"] == "several thousand"
    assert "several thousand" in run("coalition", "show").output
    hubs = run("coalition", "hubs")
    assert hubs.exit_code == 0 and "not stated" in hubs.output
    # a fixture registry with a hypothetical hub 20 km from the line is flagged (exit 1)
    from truceline.commission.coalition import DEFAULT_DATASET
    from truceline.geo import default_territory_path, load_territory

    lon, lat = load_territory(default_territory_path()).offset_from_line(300.0, 20_000.0, "UA")
    fixture = tmp_path / "reg.toml"
    fixture.write_text(DEFAULT_DATASET.read_text() + (
        f'\n[[hubs]]\nid = "H-test"\nstate = "UK"\ndescription = "HYPOTHETICAL test hub"\n'
        f"lon = {float(lon)}\nlat = {float(lat)}\nhypothetical = true\n"))
    flagged = run("coalition", "hubs", "--coalition", str(fixture), "--json", ok=False)
    assert flagged.exit_code == 1
    rows = {h["hub"]: h for h in json.loads(flagged.output)}
    assert rows["H-test"]["flagged"] and rows["H-test"]["hypothetical"]
    assert not rows["H-UK"]["flagged"] and rows["H-UK"]["distance_km"] is None
