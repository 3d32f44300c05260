"""Web dashboard API: roles and auth (401/403), public view vs restricted, aggregation,
commission actions through the service with audit, offline pages."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from browser.support import DAY, build_world
from truceline.report.public import public_event_id
from truceline.web import create_app
from truceline.web.auth import UserDirectory, hash_secret, token_hash, verify_secret

TOK = {name: f"demo-token-{name}" for name in ("analyst", "commissioner", "commissioner-uk", "chair", "admin")}


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOK[name]}"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def client(world):
    app = create_app(events=world["events"], db_url=world["db_url"], context=world["ctx"],
                     state_path=world["state"])
    with TestClient(app) as c:
        yield c


def test_public_view_is_the_public_edition(client, world):
    r = client.get("/api/events", params={"day": DAY})
    assert r.status_code == 200
    data = r.json()
    assert data["view"] == "public" and data["mode"] == "points" and data["total"] > 0
    ids = {public_event_id(f["properties"]["id"]) for f in world["features"]}
    assert all(e["id"] in ids for e in data["events"])
    assert all(round(e["lat"], 3) == e["lat"] for e in data["events"])
    text = r.text
    for f in world["features"][:50]:
        assert f["properties"]["id"] not in text
    one = data["events"][0]["id"]
    d = client.get(f"/api/events/{one}").json()
    assert d["view"] == "public" and "radius_m" in d
    assert not {"reports", "cov_en_m2", "ellipse95", "evidence"} & set(d)
    # the analysis id does not open the detail for the public
    raw = world["features"][0]["properties"]["id"]
    assert client.get(f"/api/events/{raw}").status_code == 404
    # no sensor id, key or exact coordinate anywhere in what the public gets
    from truceline.report.leaks import scan_text

    blob = text + client.get(f"/api/events/{one}").text + client.get("/api/geometry").text
    assert scan_text(blob, world["sensors"]) == []


def test_restricted_view_for_analysts(client, world):
    r = client.get("/api/events", params={"day": DAY}, headers=bearer("analyst"))
    data = r.json()
    assert data["view"] == "restricted"
    raw_ids = {f["properties"]["id"] for f in world["features"]}
    assert all(e["id"] in raw_ids for e in data["events"])
    d = client.get(f"/api/events/{data['events'][0]['id']}", headers=bearer("analyst")).json()
    assert d["reports"] and "ellipse95" in d and "evidence" in d
    # an analyst may ask for the public view explicitly
    assert client.get("/api/events", params={"day": DAY, "view": "public"}, headers=bearer("analyst")).json()[
        "view"] == "public"


def test_auth_errors(client):
    assert client.get("/api/audit").status_code == 401
    assert client.get("/api/audit", headers=bearer("analyst")).status_code == 403
    assert client.get("/api/audit", headers=bearer("admin")).status_code == 200
    assert client.get("/api/events", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get(f"/reports/daily/{DAY}", params={"edition": "restricted"}).status_code == 401
    assert client.post("/api/login", json={"name": "analyst", "password": "wrong"}).status_code == 401
    assert client.get("/audit").status_code == 401
    assert client.get("/audit", headers=bearer("commissioner")).status_code == 403
    # state changes accept JSON only (no cross-site form posts)
    r = client.post("/api/login", content='{"name": "admin", "password": "admin-demo"}',
                    headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_login_session_logout(world):
    app = create_app(events=world["events"], context=world["ctx"])
    with TestClient(app) as c:
        assert c.get("/api/me").json()["user"]["role"] == "public"
        r = c.post("/api/login", json={"name": "commissioner", "password": "commissioner-demo"})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        me = c.get("/api/me").json()
        assert me["user"]["role"] == "commissioner" and me["user"]["actor"] == "FR"
        c.post("/api/logout")
        assert c.get("/api/me").json()["user"]["role"] == "public"
        rows = c.get("/api/audit", headers=bearer("admin")).json()["audit"]
        assert [r["action"] for r in rows][:2] == ["logout", "login"]


def test_case_actions_roles_and_audit(client, world):
    case = world["cases"][0]
    assert client.post(f"/api/cases/{case}/actions", json={"action": "vote", "choice": "yes"}).status_code == 401
    r = client.post(f"/api/cases/{case}/actions", json={"action": "vote", "choice": "yes"}, headers=bearer("analyst"))
    assert r.status_code == 403
    # the chair opens the review with a motion, members vote; the service logs each vote
    r = client.post(f"/api/cases/{case}/actions", json={"action": "review", "reason": "test"}, headers=bearer("chair"))
    assert r.status_code == 200, r.text
    assert r.json()["case"]["state"] == "under_review"
    r = client.post(f"/api/cases/{case}/actions", json={"action": "vote", "choice": "yes", "reason": "clear"},
                    headers=bearer("commissioner"))
    assert r.status_code == 200, r.text
    assert r.json()["result"]["leaf_index"] >= 0
    votes = r.json()["case"]["motions"][0]["votes"]
    assert {"member": "FR", "choice": "yes"} in votes
    # voting twice is refused by the service, and the refusal is audited too
    r = client.post(f"/api/cases/{case}/actions", json={"action": "vote", "choice": "no"},
                    headers=bearer("commissioner"))
    assert r.status_code == 409 and "already voted" in r.json()["detail"]
    rows = client.get("/api/audit", headers=bearer("admin")).json()["audit"]
    acts = [(r["actor"], r["action"], r["target"], r["outcome"]) for r in rows]
    assert ("commissioner", "case.vote", case, "ok") in acts
    assert ("commissioner", "case.vote", case, "refused") in acts
    assert ("chair", "case.review", case, "ok") in acts
    assert ("analyst", "forbidden", f"/api/cases/{case}/actions", "refused") in acts


def test_public_sees_only_published_cases(client, world):
    pub = client.get("/api/cases").json()
    assert pub["available"] is True
    assert all(c["state"] == "published" for c in pub["cases"])
    assert client.get(f"/api/cases/{world['cases'][1]}").status_code == 404
    full = client.get("/api/cases", headers=bearer("analyst")).json()["cases"]
    assert {c["id"] for c in full} >= set(world["cases"])


def test_grid_aggregation_counts_everything(client, world):
    r = client.get("/api/events", params={"max_points": 10}).json()
    assert r["mode"] == "grid"
    assert sum(c[2] for c in r["cells"]) == r["total"] == len(world["features"])
    assert sum(c[3] for c in r["cells"]) == r["summary"]["violations"]
    # a bbox narrows the set, consistently with the points it would draw
    bbox = "37.0,47.5,38.5,49.0"
    pts = client.get("/api/events", params={"bbox": bbox, "max_points": 20000}).json()
    assert pts["mode"] == "points"
    lon = np.array([e["lon"] for e in pts["events"]])
    lat = np.array([e["lat"] for e in pts["events"]])
    assert np.all((lon >= 37.0) & (lon <= 38.5) & (lat >= 47.5) & (lat <= 49.0))
    grid = client.get("/api/events", params={"bbox": bbox, "max_points": 1}).json()
    assert sum(c[2] for c in grid["cells"]) == pts["total"]


def test_filters(client):
    base = client.get("/api/events", params={"day": DAY}).json()
    launches = client.get("/api/events", params={"day": DAY, "type": "launch"}).json()
    assert launches["total"] == base["summary"]["by_type"].get("launch", 0)
    assert {e["type"] for e in launches["events"]} <= {"launch"}
    und = client.get("/api/events", params={"day": DAY, "party": "undetermined"}).json()
    assert und["total"] == base["summary"]["by_party"]["undetermined"]["events"]
    viol = client.get("/api/events", params={"day": DAY, "violations": True}).json()
    assert viol["total"] == base["summary"]["violations"] and all(e["v"] for e in viol["events"])
    assert client.get("/api/events", params={"start": "yesterday"}).status_code == 422
    assert client.get("/api/events", params={"bbox": "1,2,3"}).status_code == 422


def test_pages_are_offline(client):
    for path in ("/", "/login", "/commission", "/coalition", "/docs"):
        r = client.get(path)
        assert r.status_code == 200, path
        refs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
        assert refs and all(ref.startswith(("/", "#")) for ref in refs), (path, refs)
        for ref in refs:
            if ref.startswith("/static/"):
                assert client.get(ref).status_code == 200, ref
    for asset in ("/static/map.js", "/static/common.js", "/static/app.css", "/static/commission.js"):
        body = client.get(asset).text
        assert "http://" not in body.replace("http://www.w3.org/2000/svg", "") and "https://" not in body
    spec = client.get("/openapi.json").json()
    assert "/api/events" in spec["paths"] and "/api/cases/{case_id}/actions" in spec["paths"]
    assert "/api/events" in client.get("/docs").text


def test_coalition_and_report(client):
    co = client.get("/api/coalition").json()
    assert co["available"] and co["pledges"] and co["gap"]["required_troops"] > 0
    assert client.get("/coalition").status_code == 200
    html = client.get(f"/reports/daily/{DAY}").text
    assert "PUBLIC EDITION" in html


def test_users_file_and_hashes(tmp_path: Path):
    h = hash_secret("s3cret")
    assert h.startswith("scrypt$") and "s3cret" not in h
    assert verify_secret("s3cret", h) and not verify_secret("s3creT", h)
    f = tmp_path / "users.toml"
    f.write_text(f'[[users]]\nname = "ana"\nrole = "analyst"\npassword_hash = "{h}"\n'
                 f'token_hashes = ["{token_hash("tok-1")}"]\n')
    d = UserDirectory.from_file(f)
    assert d.check_password("ana", "s3cret").role == "analyst"
    assert d.check_password("ana", "x") is None and d.check_password("bob", "s3cret") is None
    assert d.check_token("tok-1").name == "ana" and d.check_token("tok-2") is None
    f.write_text('[[users]]\nname = "x"\nrole = "god"\n')
    from truceline.errors import InputError

    with pytest.raises(InputError, match="role must be one of"):
        UserDirectory.from_file(f)


def test_users_add_command(tmp_path: Path):
    from typer.testing import CliRunner

    from truceline.cli import app

    f = tmp_path / "users.toml"
    res = CliRunner().invoke(app, ["users", "add", "--file", str(f), "--name", "ana", "--role", "commissioner",
                                   "--actor", "FR", "--password", "pw-1", "--token"])
    assert res.exit_code == 0, res.output
    token = res.output.strip().splitlines()[-1].split()[-1]
    res = CliRunner().invoke(app, ["users", "add", "--file", str(f), "--name", "bob", "--role", "analyst",
                                   "--password", "pw-2"])
    assert res.exit_code == 0, res.output
    text = f.read_text()
    assert "pw-1" not in text and token not in text
    d = UserDirectory.from_file(f)
    assert d.check_password("ana", "pw-1").actor_id == "FR"
    assert d.check_token(token).name == "ana"
    assert d.check_password("bob", "pw-2").role == "analyst"


def _verify_inclusion(proof: dict, root_b64: str) -> bool:
    """RFC 9162 section 2.1.3.2 inclusion proof verification, written from the RFC."""
    import base64
    import hashlib

    idx, size = proof["leaf_index"], proof["tree_size"]
    fn, sn = idx, size - 1
    r = base64.b64decode(proof["leaf_hash"])
    for p_b64 in proof["inclusion_path"]:
        p = base64.b64decode(p_b64)
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == base64.b64decode(root_b64)


def test_event_detail_carries_verifiable_proofs(client):
    data = client.get("/api/events", params={"day": DAY}, headers=bearer("analyst")).json()
    d = client.get(f"/api/events/{data['events'][0]['id']}", headers=bearer("analyst")).json()
    head = d["evidence"]["log"]
    assert head and head["tree_size"] > 0
    assert set(d["evidence"]["proofs"]) == set(d["reports"])
    for rid, proof in d["evidence"]["proofs"].items():
        assert proof["id"] == rid and proof["tree_size"] == head["tree_size"]
        assert _verify_inclusion(proof, head["root_hash"])
        bad = dict(proof, leaf_index=(proof["leaf_index"] + 1) % proof["tree_size"])
        assert not _verify_inclusion(bad, head["root_hash"])


def test_login_throttled_after_repeated_failures(world):
    app = create_app(events=world["events"], context=world["ctx"])
    with TestClient(app) as c:
        for _ in range(5):
            assert c.post("/api/login", json={"name": "admin", "password": "guess"}).status_code == 401
        r = c.post("/api/login", json={"name": "admin", "password": "admin-demo"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        # another account is not locked by it
        assert c.post("/api/login", json={"name": "analyst", "password": "analyst-demo"}).status_code == 200
        outcomes = [row["outcome"] for row in c.get("/api/audit", headers=bearer("admin")).json()["audit"]]
        assert "throttled" in outcomes and outcomes.count("refused") >= 5


def test_serve_refuses_demo_users_off_loopback():
    from typer.testing import CliRunner

    from truceline.cli import app
    from truceline.errors import InputError

    with pytest.raises(InputError, match="loopback only"):
        CliRunner().invoke(app, ["serve", "--events", "x.geojson", "--host", "0.0.0.0"], catch_exceptions=False,
                           standalone_mode=False)
