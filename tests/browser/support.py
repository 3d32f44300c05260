"""A small world for the web tests: synthetic events along the real line, a temporary
SQLite store with commission cases opened from them, and a uvicorn server in a thread."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from truceline.report import MapContext
from truceline.report.context import load_settings
from truceline.report.synthetic import feature_collection, synthetic_events, synthetic_sensors

ROOT = Path(__file__).resolve().parents[2]
TERRITORY = ROOT / "src/truceline/data/territory_2026-01-06.geojson"
if not TERRITORY.exists():
    TERRITORY = ROOT.parent / "shared/data/territory_2026-01-06.geojson"
DAY = "2026-01-20"


def build_world(tmp: Path, n_per_day: int = 60, days: int = 3, seed: int = 11, cases: bool = True) -> dict[str, Any]:
    ctx = MapContext(TERRITORY, load_settings())
    sensors = synthetic_sensors(ctx, 25, seed=seed)
    feats = synthetic_events(ctx, DAY, n_per_day=n_per_day, days=days, seed=seed, sensors=sensors)
    ev_path = tmp / "events.geojson"
    doc = feature_collection(feats)
    ev_path.write_bytes(orjson.dumps(doc))
    db_url = f"sqlite:///{tmp / 'store.sqlite'}"
    opened: list[str] = []
    if cases:
        from truceline.commission import service as svc
        from truceline.commission.events import parse_events
        from truceline.store import open_store

        store = open_store(db_url)
        sctx = svc.make_context(profile=ctx.settings.profile, territory=getattr(ctx, "_geo", None))
        day_feats = [f for f in feats if f["properties"]["time"].startswith(DAY)]
        res = svc.open_cases_from_events(store, "secretariat", parse_events(feature_collection(day_feats), "t"), sctx)
        opened = res.opened
        # log the day's report ids (as stand-in report objects) so event details carry real proofs
        from truceline.evidence import append_entries, sign_head

        rids = sorted({r for f in day_feats for r in f["properties"]["reports"]})
        append_entries(store, [{"id": r, "stand_in": True} for r in rids], "report", rids)
        sign_head(store)
        store.engine.dispose()
    return {"ctx": ctx, "sensors": sensors, "features": feats, "events": ev_path, "db_url": db_url,
            "cases": opened, "state": tmp / "web.sqlite"}


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ServerThread:
    """uvicorn serving `app` on a free loopback port until `stop()`."""

    def __init__(self, app: Any):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
