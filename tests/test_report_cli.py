"""`truceline report daily` end to end: events file + a store with a published finding."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from browser.support import DAY, build_world
from truceline.cli import app
from truceline.report.public import public_event_id


@pytest.fixture(scope="module")
def store_world(tmp_path_factory):
    from truceline.commission import service as svc
    from truceline.store import open_store

    w = build_world(tmp_path_factory.mktemp("rcli"), n_per_day=30, days=2)
    store = open_store(w["db_url"])
    ctx = svc.make_context(profile=w["ctx"].settings.profile, territory=w["ctx"]._geo)
    case = w["cases"][0]
    svc.review(store, "chair", case, ctx)
    for member in ctx.config.voters():
        svc.vote(store, member, case, "yes", ctx, reason="test")
    finding = svc.adopt(store, "chair", case, ctx)
    svc.decide_remedy(store, "chair", case, ctx)
    bundle = svc.publish(store, "chair", case, ctx)
    store.engine.dispose()
    w["finding"] = finding
    w["head"] = bundle["head"]
    return w


def test_report_daily_with_store_findings(store_world, tmp_path):
    w = store_world
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["report", "daily", "--date", DAY, "--events", str(w["events"]), "--db",
                                   w["db_url"], "--out", str(out), "--formats", "html"])
    assert res.exit_code == 0, res.output
    html = (out / f"daily-{DAY}-public.html").read_text()
    fid = w["finding"]["id"]
    assert fid in html and f"truceline log prove {fid}" in html
    assert w["head"]["root_hash"] in html
    ev = w["finding"]["events"][0]["id"]
    assert public_event_id(ev) in html and ev not in html
    for r in w["finding"]["events"][0]["reports"]:
        assert r not in html
    res = CliRunner().invoke(app, ["report", "daily", "--date", DAY, "--events", str(w["events"]), "--db",
                                   w["db_url"], "--out", str(out), "--formats", "html", "--edition", "restricted"])
    assert res.exit_code == 0, res.output
    rhtml = (out / f"daily-{DAY}-restricted.html").read_text()
    assert ev in rhtml and w["finding"]["events"][0]["reports"][0] in rhtml


def test_report_daily_needs_events(tmp_path):
    from truceline.errors import InputError

    with pytest.raises(InputError, match="--events"):
        CliRunner().invoke(app, ["report", "daily", "--date", DAY, "--out", str(tmp_path)],
                           catch_exceptions=False, standalone_mode=False)


def test_demo_step_writes_both_editions(store_world, tmp_path):
    import io
    from types import SimpleNamespace

    from rich.console import Console

    from truceline.cli.report_cmds import demo_step_report

    w = store_world
    sensors = tmp_path / "sensors.json"
    import orjson

    sensors.write_bytes(orjson.dumps(w["sensors"]))
    ctx = SimpleNamespace(out=tmp_path, console=Console(file=io.StringIO()),
                          state={"events_path": w["events"], "db_url": w["db_url"], "sensors_path": sensors})
    demo_step_report(ctx)
    paths = ctx.state["report_paths"]
    assert ctx.state["day"] == DAY
    assert set(paths) == {"public", "restricted"}
    assert all(p.exists() and p.stat().st_size > 10_000 for ed in paths.values() for p in ed.values())
    assert w["finding"]["id"] in paths["public"]["html"].read_text()


def test_public_api_shows_published_finding_without_reports(store_world):
    from fastapi.testclient import TestClient

    from truceline.web import create_app

    w = store_world
    app = create_app(events=w["events"], db_url=w["db_url"], context=w["ctx"])
    with TestClient(app) as c:
        pub = c.get("/api/findings").json()["findings"]
        fid = w["finding"]["id"]
        assert [f["id"] for f in pub] == [fid]
        ev = w["finding"]["events"][0]
        assert pub[0]["events"] == [public_event_id(ev["id"])]
        assert pub[0]["proof"]["leaf_index"] >= 0
        text = c.get("/api/findings").text + c.get("/api/cases").text
        assert ev["id"] not in text and not any(r in text for r in ev["reports"])
        cases = c.get("/api/cases").json()["cases"]
        assert [x["id"] for x in cases] == [w["finding"]["case"]] and cases[0]["state"] == "published"
        full = c.get("/api/findings", headers={"Authorization": "Bearer demo-token-analyst"}).json()["findings"]
        assert full[0]["events"] == [ev["id"]] and full[0]["reports"]
