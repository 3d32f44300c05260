"""The FastAPI dashboard: map, event detail, commission workspace, coalition, JSON API.

`create_app(...)` builds the app over a set of events (file, features or table), the
territory and profile, an optional store (evidence proofs, commission service) and a
user directory. Everything it serves is local: templates, CSS and JS written for this
project, the vector map drawn in the browser from `/api/geometry`; FastAPI's CDN-based
Swagger/ReDoc pages are disabled and `/docs` is a local listing built from
`/openapi.json`. Public requests get the public edition's view of every event.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from truceline.errors import TrucelineError
from truceline.formats import parse_time
from truceline.report.context import MapContext, ReportSettings, load_settings
from truceline.report.events import EventTable, load_event_features, validate_features
from truceline.web.auth import ANONYMOUS, RANK, SESSION_COOKIE, SESSION_TTL_S, User, UserDirectory, WebState
from truceline.web.commission import (
    CASE_ACTIONS,
    CommissionBackend,
    NullCommission,
    coalition_view,
    public_case_view,
)
from truceline.web.data import MAX_POINTS, EventIndex
from truceline.web.data import Query as EventQuery

HERE = Path(__file__).resolve().parent
EVENT_CACHE_SIZE = 512
LOGIN_MAX_FAILURES = 5  # per name and client address ...
LOGIN_WINDOW_S = 300  # ... within this many seconds, then 429


class ORJSONResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def _parse_when(text: str | None, name: str, end: bool = False) -> float | None:
    if text is None or text == "":
        return None
    if len(text) == 10:
        try:
            d = date.fromisoformat(text)
        except ValueError:
            raise HTTPException(422, f"{name}: expected YYYY-MM-DD or RFC 3339 UTC time") from None
        if end:
            d = d + timedelta(days=1)
        return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()
    try:
        return parse_time(text)
    except ValueError as exc:
        raise HTTPException(422, f"{name}: {exc}") from None


def _csv(text: str | None) -> tuple[str, ...]:
    return tuple(x for x in (text or "").split(",") if x)


def _as_table(events: Any) -> EventTable:
    if events is None:
        return EventTable.from_features([])
    if isinstance(events, EventTable):
        return events
    if isinstance(events, list):
        validate_features(events)
        return EventTable.from_features(events)
    return EventTable.from_features(load_event_features(events))


def create_app(
    events: str | Path | list[dict[str, Any]] | EventTable | None = None,
    territory: str | Path | None = None,
    profile: str | Path | ReportSettings | None = None,
    db_url: str | None = None,
    users: UserDirectory | str | Path | None = None,
    state_path: str | Path | None = None,
    commission: CommissionBackend | None = None,
    context: MapContext | None = None,
    title: str = "truceline",
    max_points: int = MAX_POINTS,
) -> FastAPI:
    """The dashboard app. `users` None means demo users (`UserDirectory.demo()`).

    `max_points`: above this many events in view the map gets grid cells, not points.
    """
    import jinja2

    table = _as_table(events)
    if context is None:
        settings = profile if isinstance(profile, ReportSettings) else load_settings(profile)
        context = MapContext(territory, settings)
    ctx = context
    index = EventIndex(table, ctx)
    if users is None:
        users, _ = UserDirectory.demo()
    elif not isinstance(users, UserDirectory):
        users = UserDirectory.from_file(users)
    state = WebState(state_path)
    store = None
    if db_url is not None:
        from truceline.store import open_store

        store = open_store(db_url)
    if commission is None:
        from truceline.web.service import make_backend

        commission = (make_backend(store, profile=ctx.settings.profile, territory=getattr(ctx, "_geo", None))
                      if store is not None else NullCommission())
    cm: CommissionBackend = commission

    app = FastAPI(
        title=f"{title} dashboard API",
        version="1",
        description="Ceasefire verification: events, evidence, commission, coalition. Public endpoints serve "
        "only what the public edition of the daily report shows.",
        docs_url=None,
        redoc_url=None,
        default_response_class=ORJSONResponse,
    )
    app.state.index = index
    app.state.ctx = ctx
    app.state.users = users
    app.state.web_state = state
    app.state.store = store
    app.state.commission = cm
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                             autoescape=jinja2.select_autoescape(["html"]))
    caches: dict[str, Any] = {}
    event_cache: OrderedDict[tuple[str, str], bytes] = OrderedDict()
    failures: dict[tuple[str, str], list[float]] = {}  # failed logins per (name, client)
    default_max_points = max_points
    caches["geometry"] = orjson.dumps(_geometry(ctx))  # bands and sectors: built once, before the first visitor

    # -- identity ----------------------------------------------------------------------
    def current_user(request: Request) -> User:
        auth = request.headers.get("authorization", "")
        if auth:
            scheme, _, token = auth.partition(" ")
            u = users.check_token(token.strip()) if scheme.lower() == "bearer" else None
            if u is None:
                raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"})
            return u
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            name = state.session_user(sid)
            if name and name in users.users:
                return users.users[name]
        return ANONYMOUS

    def require(role: str):
        def dep(request: Request, user: User = Depends(current_user)) -> User:
            if user.may(role):
                return user
            if user is ANONYMOUS:
                raise HTTPException(401, f"login required ({role} or higher)", headers={"WWW-Authenticate": "Bearer"})
            state.audit(user, "forbidden", request.url.path, "refused", {"needs": role}, _client(request))
            raise HTTPException(403, f"{role} role required")

        return dep

    def _client(request: Request) -> str | None:
        return request.client.host if request.client else None

    async def json_body(request: Request, what: str) -> dict[str, Any]:
        """The JSON object of a state-changing request; other content types are refused
        (defence in depth against cross-site form posts, beside SameSite=Strict cookies)."""
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise HTTPException(415, f"send JSON {what} with Content-Type: application/json")
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(400, f"send JSON {what}") from None
        if not isinstance(body, dict):
            raise HTTPException(400, f"send a JSON object {what}")
        return body

    def is_public(user: User, view: str | None = None) -> bool:
        return not user.may("analyst") or view == "public"

    def page(name: str, request: Request, user: User, status: int = 200, **kw: Any) -> HTMLResponse:
        html = env.get_template(name).render(user=user, title=title, path=request.url.path,
                                             commission_available=cm.available, **kw)
        return HTMLResponse(html, status_code=status)

    # -- pages -------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def map_page(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
        return page("map.html", request, user)

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
        return page("login.html", request, user)

    @app.get("/commission", response_class=HTMLResponse, include_in_schema=False)
    def commission_page(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
        return page("commission.html", request, user)

    @app.get("/coalition", response_class=HTMLResponse, include_in_schema=False)
    def coalition_page(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
        return page("coalition.html", request, user, coalition=_coalition())

    @app.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit_page(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
        if not user.may("admin"):
            return page("denied.html", request, user, status=401 if user is ANONYMOUS else 403, needs="admin")
        return page("audit.html", request, user, rows=state.audit_rows(500))

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs_page(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
        spec = app.openapi()
        ops = []
        for path, item in spec.get("paths", {}).items():
            for method, op in item.items():
                ops.append({"method": method.upper(), "path": path, "summary": op.get("summary", ""),
                            "description": op.get("description", ""),
                            "params": [p.get("name") for p in op.get("parameters", [])]})
        return page("docs.html", request, user, ops=ops, spec_title=spec["info"]["title"])

    @app.get("/reports/daily/{day}", response_class=HTMLResponse, summary="Daily report (HTML) of a UTC day")
    def daily_report(day: str, request: Request, edition: str = "public",
                     user: User = Depends(current_user)) -> HTMLResponse:
        if edition not in ("public", "restricted"):
            raise HTTPException(422, "edition must be public or restricted")
        if edition == "restricted" and not user.may("analyst"):
            raise HTTPException(401 if user is ANONYMOUS else 403, "restricted edition needs the analyst role")
        key = f"report:{day}:{edition}"
        if key not in caches:
            from truceline.report.daily import build_daily_report, parse_day
            from truceline.report.render import render_html

            try:
                d = parse_day(day)
            except TrucelineError as exc:
                raise HTTPException(422, str(exc)) from None
            r = build_daily_report(index.table, ctx, d, edition, findings=cm.findings())
            caches[key] = render_html(r, ctx)
        return HTMLResponse(caches[key])

    # -- session -----------------------------------------------------------------------
    @app.post("/api/login", summary="Log in with name and password; sets a session cookie")
    async def login(request: Request) -> Response:
        body = await json_body(request, "{name, password}")
        name, pw = str(body.get("name", "")), str(body.get("password", ""))
        key = (name, _client(request) or "")
        now = time.monotonic()
        recent = [t for t in failures.get(key, []) if now - t < LOGIN_WINDOW_S]
        if len(recent) >= LOGIN_MAX_FAILURES:
            state.audit(User(name or "?", "public"), "login", name, "throttled", {}, _client(request))
            raise HTTPException(429, f"too many failed logins; wait {LOGIN_WINDOW_S // 60} minutes",
                                headers={"Retry-After": str(int(LOGIN_WINDOW_S - (now - recent[0])) + 1)})
        user = users.check_password(name, pw)
        if user is None:
            failures[key] = [*recent, now]
            state.audit(User(name or "?", "public"), "login", name, "refused", {}, _client(request))
            raise HTTPException(401, "wrong name or password")
        failures.pop(key, None)
        sid = state.new_session(user)
        state.audit(user, "login", user.name, "ok", {}, _client(request))
        resp = ORJSONResponse({"user": user.public_view()})
        resp.set_cookie(SESSION_COOKIE, sid, max_age=SESSION_TTL_S, httponly=True, samesite="strict", path="/")
        return resp

    @app.post("/api/logout", summary="End the session")
    def logout(request: Request, user: User = Depends(current_user)) -> Response:
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            state.end_session(sid)
            state.audit(user, "logout", user.name, "ok", {}, _client(request))
        resp = ORJSONResponse({"ok": True})
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    @app.get("/api/me", summary="Who am I (role decides what the API shows)")
    def me(user: User = Depends(current_user)) -> dict[str, Any]:
        return {"user": user.public_view(), "authenticated": user is not ANONYMOUS,
                "roles": [r for r in RANK if user.may(r)]}

    # -- map data ----------------------------------------------------------------------
    @app.get("/api/meta", summary="Types, parties, rules and days available for filtering",
             response_class=ORJSONResponse)
    async def meta() -> Response:
        if "meta" not in caches:
            out = index.meta()
            out["parties_territory"] = list(ctx.parties)
            out["commission"] = cm.available
            caches["meta"] = orjson.dumps(out)
        return Response(caches["meta"], media_type="application/json")

    @app.get("/api/geometry", summary="Territories, line of contact, exclusion bands and sectors (lon/lat)")
    def geometry() -> Response:
        if "geometry" not in caches:
            caches["geometry"] = orjson.dumps(_geometry(ctx))
        return Response(caches["geometry"], media_type="application/json",
                        headers={"Cache-Control": "public, max-age=3600"})

    def _query(start, end, day, types, parties, rules, violations, bbox) -> EventQuery:
        q = EventQuery(
            start=_parse_when(day, "day") if day else _parse_when(start, "start"),
            end=_parse_when(day, "day", end=True) if day else _parse_when(end, "end", end=True),
            types=_csv(types), parties=_csv(parties), rules=_csv(rules), violations_only=violations,
        )
        if bbox:
            try:
                b = tuple(float(x) for x in bbox.split(","))
            except ValueError:
                raise HTTPException(422, "bbox: minlon,minlat,maxlon,maxlat") from None
            if len(b) != 4 or b[0] > b[2] or b[1] > b[3]:
                raise HTTPException(422, "bbox: minlon,minlat,maxlon,maxlat")
            q.bbox = b  # type: ignore[assignment]
        return q

    @app.get("/api/events", summary="Events in view: points, or grid cells when too many to draw",
             response_class=ORJSONResponse)
    async def list_events(
        request: Request,
        start: str | None = Query(None, description="RFC 3339 time or YYYY-MM-DD"),
        end: str | None = Query(None, description="RFC 3339 time or YYYY-MM-DD (inclusive day)"),
        day: str | None = Query(None, description="one UTC day, YYYY-MM-DD"),
        type: str | None = Query(None, description="comma-separated event types"),
        party: str | None = Query(None, description="comma-separated responsible parties or 'undetermined'"),
        rule: str | None = Query(None, description="comma-separated rule codes"),
        violations: bool = False,
        bbox: str | None = Query(None, description="minlon,minlat,maxlon,maxlat"),
        max_points: int | None = Query(None, ge=1, le=20000, description="draw points up to this many, else cells"),
        view: str | None = Query(None, description="'public' to see the public view as an analyst"),
        user: User = Depends(current_user),
    ) -> Response:
        pub = is_public(user, view)
        # the served events never change while the app runs: answers are cached per view and query
        key = ("public" if pub else "restricted", str(request.url.query))
        hit = event_cache.get(key)
        if hit is not None:
            event_cache.move_to_end(key)
            return Response(hit, media_type="application/json")
        q = _query(start, end, day, type, party, rule, violations, bbox)
        idx = index.select(q, pub)
        out: dict[str, Any] = {"view": "public" if pub else "restricted", "total": int(len(idx)),
                               "summary": index.summary(idx)}
        if len(idx) <= (max_points or default_max_points):
            out["mode"] = "points"
            out["events"] = index.points(idx, pub)
        else:
            cell = index.cell_size(q.bbox)
            out["mode"] = "grid"
            out["cell_deg"] = cell
            out["cells"] = index.grid(idx, cell, pub)
        body = orjson.dumps(out)
        event_cache[key] = body
        if len(event_cache) > EVENT_CACHE_SIZE:
            event_cache.popitem(last=False)
        return Response(body, media_type="application/json")

    @app.get("/api/events/{event_id}", summary="One event: public view, or full detail with evidence",
             response_class=ORJSONResponse)
    def event_detail(event_id: str, view: str | None = None, user: User = Depends(current_user)) -> Response:
        pub = is_public(user, view)
        i = index.find(event_id, pub)
        if i is None:
            raise HTTPException(404, "no such event")
        out = index.detail(i, pub)
        out["view"] = "public" if pub else "restricted"
        if not pub:
            out["evidence"] = _evidence(out.get("reports") or [])
        return Response(orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")

    def _evidence(report_ids: list[str]) -> dict[str, Any]:
        if store is None:
            return {"log": None, "proofs": {}, "note": "no store attached: prove with `truceline log prove ID`"}
        from truceline.evidence import inclusion_proof, latest_head

        proofs = {}
        for rid in report_ids[:50]:
            try:
                proofs[rid] = inclusion_proof(store, rid)
            except TrucelineError as exc:
                proofs[rid] = {"error": str(exc)}
        return {"log": latest_head(store), "proofs": proofs}

    # -- commission --------------------------------------------------------------------
    @app.get("/api/cases", summary="Commission cases (public: published cases only)")
    def cases(user: User = Depends(current_user)) -> dict[str, Any]:
        rows = cm.list_cases()
        if not user.may("analyst"):
            rows = [public_case_view(c) for c in rows if c.get("state") == "published"]
        return {"available": cm.available, "cases": rows}

    @app.get("/api/cases/{case_id}", summary="One case with events, history, motions and votes")
    def case_detail(case_id: str, user: User = Depends(current_user)) -> dict[str, Any]:
        c = cm.get_case(case_id)
        if c is None or (not user.may("analyst") and c.get("state") != "published"):
            raise HTTPException(404, "no such case")
        return c if user.may("analyst") else public_case_view(c)

    @app.post("/api/cases/{case_id}/actions", summary="Act on a case (review, vote, adopt, dismiss, remedy, publish)")
    async def case_action(case_id: str, request: Request, user: User = Depends(require("commissioner"))) -> dict:
        body = await json_body(request, "{action, ...}")
        action = str(body.get("action", ""))
        if action not in CASE_ACTIONS:
            raise HTTPException(422, f"action must be one of {', '.join(CASE_ACTIONS)}")
        params = {k: v for k, v in body.items() if k != "action"}
        try:
            result = cm.act(case_id, action, user.actor_id, params)
        except TrucelineError as exc:
            state.audit(user, f"case.{action}", case_id, "refused", {"params": params, "error": str(exc)},
                        _client(request))
            raise HTTPException(409, str(exc)) from None
        state.audit(user, f"case.{action}", case_id, "ok", {"params": params}, _client(request))
        caches.pop("findings", None)
        for k in [k for k in caches if k.startswith("report:")]:
            caches.pop(k, None)
        return {"ok": True, "result": result, "case": cm.get_case(case_id)}

    @app.get("/api/findings", summary="Commission findings (public: published ones, public event ids)")
    def findings(user: User = Depends(current_user)) -> dict[str, Any]:
        rows = cm.findings()
        if not user.may("analyst"):
            rows = [public_case_view(f) for f in rows if f.get("published", True)]
        return {"findings": rows}

    def _coalition() -> dict[str, Any]:
        if "coalition" not in caches:
            caches["coalition"] = coalition_view(ctx.distance_to_line_m)
        return caches["coalition"]

    @app.get("/api/coalition", summary="Coalition pledges, status, gap to the required force, hubs")
    def coalition() -> dict[str, Any]:
        return _coalition()

    @app.get("/api/audit", summary="Audit trail of state changes (admin)")
    def audit(limit: int = Query(200, ge=1, le=5000), user: User = Depends(require("admin"))) -> dict[str, Any]:
        return {"audit": state.audit_rows(limit)}

    @app.get("/api/health", summary="Liveness and data size")
    def health() -> dict[str, Any]:
        return {"ok": True, "events": len(index), "time": time.time()}

    @app.exception_handler(TrucelineError)
    async def truceline_error(request: Request, exc: TrucelineError) -> Response:
        return ORJSONResponse({"detail": str(exc)}, status_code=400)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return RedirectResponse("/static/favicon.svg")

    return app


def _round_coords(coords: Any, nd: int = 3) -> Any:
    arr = np.asarray(coords)
    return np.round(arr[:, :2], nd).tolist()


def _poly_rings(geom: Any, nd: int = 3) -> list[list[list[list[float]]]]:
    polys = list(geom.geoms) if hasattr(geom, "geoms") else [geom]
    out = []
    for p in polys:
        if p.is_empty or p.geom_type != "Polygon":
            continue
        out.append([_round_coords(p.exterior.coords, nd)] + [_round_coords(r.coords, nd) for r in p.interiors])
    return out


def _geometry(ctx: MapContext) -> dict[str, Any]:
    """What the browser draws (lon/lat, 3 decimals ~ 100 m like public positions, simplified to ~100 m)."""
    return {
        "bounds": list(ctx.bounds),
        "lat0": ctx.lat0,
        "parties": list(ctx.parties),
        "territories": [{"party": p, "polygons": _poly_rings(g.simplify(0.001))} for p, g in ctx.polygons.items()],
        "line": [_round_coords(g.coords) for g in ctx.line.geoms],
        "bands": [{"distance_m": b["distance_m"], "classes": b["classes"], "polygons": _poly_rings(b["geometry"])}
                  for b in ctx.exclusion_bands],
        "sectors": [{"label": s["label"], "coords": _round_coords(s["geometry"].coords)} for s in ctx.sectors],
    }
