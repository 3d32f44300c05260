"""Load benchmark of the dashboard API on loopback: a day with 50,000 events.

    uv run python benchmarks/web_load.py [--events 50000] [--requests 300] [--concurrency 8]

Generates a synthetic day of events along the real line (truceline.report.synthetic),
starts `truceline serve`-equivalent uvicorn in a subprocess (so the load generator does
not share its GIL), and drives the usual queries with an asyncio httpx client: bounded
request count per scenario and a time limit. Prints p50/p95/p99 latency, throughput and
the server's peak RSS, and beside them a naive baseline measured in the same run: a
per-feature Python filter that returns every matching event as full GeoJSON (what the
map would get without the column index and grid aggregation).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
DAY = "2026-01-20"


def make_events(n: int, out: Path) -> None:
    from truceline.report.context import MapContext, load_settings
    from truceline.report.synthetic import feature_collection, synthetic_events

    ctx = MapContext(None, load_settings())
    feats = synthetic_events(ctx, DAY, n_per_day=n, days=1, seed=3)
    out.write_bytes(orjson.dumps(feature_collection(feats)))


def serve(events: str, port: int) -> None:
    import uvicorn

    from truceline.web import create_app

    app = create_app(events=events)
    print("ready", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


async def run_scenario(base: str, name: str, urls: list[str], concurrency: int, limit_s: float,
                       headers: dict[str, str] | None = None) -> dict:
    import httpx

    lat: list[float] = []
    sizes: list[int] = []
    errors = 0
    queue = list(urls)
    t_end = time.perf_counter() + limit_s

    async with httpx.AsyncClient(base_url=base, headers=headers or {}, timeout=30) as client:
        async def worker() -> None:
            nonlocal errors
            while queue and time.perf_counter() < t_end:
                url = queue.pop()
                t0 = time.perf_counter()
                r = await client.get(url)
                lat.append((time.perf_counter() - t0) * 1000)
                sizes.append(len(r.content))
                if r.status_code != 200:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {"name": name, "n": len(lat), "errors": errors, "p50": pct(lat, 0.5), "p95": pct(lat, 0.95),
            "p99": pct(lat, 0.99), "rps": len(lat) / wall, "kb": sum(sizes) / len(sizes) / 1024}


def naive_baseline(events: Path, rounds: int) -> dict:
    """Per-feature Python filter, all matches as full GeoJSON (no index, no aggregation)."""
    from truceline.formats import parse_time

    feats = orjson.loads(events.read_bytes())["features"]
    t0s, t1s = parse_time(f"{DAY}T00:00:00Z"), parse_time(f"{DAY}T23:59:59Z")
    lat = []
    size = 0
    for k in range(rounds):
        want_type = ("launch", "impact", None)[k % 3]
        t = time.perf_counter()
        out = []
        for f in feats:
            p = f["properties"]
            ts = parse_time(p["time"])
            if not (t0s <= ts <= t1s):
                continue
            if want_type and p["type"] != want_type:
                continue
            out.append(f)
        body = orjson.dumps({"type": "FeatureCollection", "features": out})
        size = len(body)
        lat.append((time.perf_counter() - t) * 1000)
    return {"name": "naive: python filter, all as GeoJSON", "n": rounds, "errors": 0, "p50": pct(lat, 0.5),
            "p95": pct(lat, 0.95), "p99": pct(lat, 0.99), "rps": 1000 / (sum(lat) / len(lat)), "kb": size / 1024}


def browser_timings(base: str) -> None:
    """Time the dashboard map in headless chromium: first draw, then zoom steps."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"]
    shots = ROOT / "artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p, tempfile.TemporaryDirectory() as prof:
        ctx = p.chromium.launch_persistent_context(prof, executable_path="/usr/bin/chromium", headless=True,
                                                   args=args, viewport={"width": 1400, "height": 850})
        page = ctx.new_page()
        t = time.perf_counter()
        page.goto(base + "/")
        page.wait_for_selector("#map[data-ready='1'][data-loading='0']", timeout=60_000)
        first = time.perf_counter() - t
        mode = page.get_attribute("#map", "data-mode")
        page.screenshot(path=str(shots / "map_50k_overview.png"))
        steps = []
        for _ in range(4):
            # click the busiest cell (zooms in 4x there) or, among points, zoom in 2x
            t = time.perf_counter()
            if page.get_attribute("#map", "data-mode") == "grid":
                page.evaluate("""() => {
                    const cells = [...document.querySelectorAll('#g-events circle.cell')];
                    const best = cells.reduce((a, b) => (+b.dataset.n > +a.dataset.n ? b : a));
                    const r = best.getBoundingClientRect();
                    const svg = document.getElementById('map').getBoundingClientRect();
                    window.TLMap.zoomAt(4, r.x + r.width / 2 - svg.x, r.y + r.height / 2 - svg.y);
                }""")
            else:
                page.click("#zoom-in")
            page.wait_for_selector("#map[data-loading='0']", timeout=60_000)
            page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            steps.append((time.perf_counter() - t) * 1000 - 120)  # minus the 120 ms input debounce
            steps_mode = page.get_attribute("#map", "data-mode")
        page.screenshot(path=str(shots / "map_50k_zoomed.png"))
        ctx.close()
    print(f"browser: first map draw {first * 1000:.0f} ms ({mode}); zoom steps (fetch + draw, debounce excluded) "
          f"{', '.join(f'{x:.0f}' for x in steps)} ms; last mode {steps_mode}; screenshots in {shots}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--requests", type=int, default=300, help="per scenario")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--limit-s", type=float, default=60.0, help="time limit per scenario")
    ap.add_argument("--browser", action="store_true",
                    help="also time the map in Debian's chromium (first draw, zoom steps) and save a screenshot")
    ap.add_argument("--serve", nargs=2, metavar=("EVENTS", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return

    tmp = Path(tempfile.mkdtemp(prefix="tl-webload-"))
    ev = tmp / "events.geojson"
    t = time.perf_counter()
    make_events(args.events, ev)
    n = len(orjson.loads(ev.read_bytes())["features"])
    print(f"{n} events for {DAY} generated in {time.perf_counter() - t:.1f} s ({ev.stat().st_size / 1e6:.1f} MB)")

    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(ev), str(port)], stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        import httpx

        base = f"http://127.0.0.1:{port}"
        while True:
            try:
                if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.perf_counter() - t > 300:
                raise SystemExit("server did not start")
            time.sleep(0.2)
        print(f"server ready in {time.perf_counter() - t:.1f} s (index build included), pid {proc.pid}")
        ids = [e["id"] for e in httpx.get(base + "/api/events", params={"day": DAY, "max_points": 20000,
                                                                         "bbox": "37,48,38.5,49.5"},
                                          headers={"Authorization": "Bearer demo-token-analyst"}).json()
               .get("events", [])]
        rnd = random.Random(1)
        R = args.requests

        def bboxes(width: float) -> list[str]:
            out = []
            for _ in range(R):
                x, y = rnd.uniform(33.0, 38.5 - width), rnd.uniform(46.5, 50.5 - width * 0.6)
                out.append(f"/api/events?day={DAY}&bbox={x:.3f},{y:.3f},{x + width:.3f},{y + width * 0.6:.3f}")
            return out

        scen = [
            ("overview: whole line, day (grid)", [f"/api/events?day={DAY}"] * R, None),
            ("overview, random 6 h window (uncached)",
             [f"/api/events?start={DAY}T{h:02d}:{m:02d}:00Z&end={DAY}T{h + 6:02d}:{m:02d}:00Z"
              for h, m in ((rnd.randrange(0, 18), rnd.randrange(60)) for _ in range(R))], None),
            ("overview filtered: launches, violations", [f"/api/events?day={DAY}&type=launch&violations=true"] * R,
             None),
            ("regional view 1.5 deg (grid/points)", bboxes(1.5), None),
            ("local view 0.3 deg (points)", bboxes(0.3), None),
            ("event detail, analyst (+ellipse)", [f"/api/events/{rnd.choice(ids)}" for _ in range(R)],
             {"Authorization": "Bearer demo-token-analyst"}),
            ("meta", ["/api/meta"] * R, None),
        ]
        results = []
        for name, urls, headers in scen:
            results.append(asyncio.run(run_scenario(base, name, urls, args.concurrency, args.limit_s, headers)))
        results.append(naive_baseline(ev, max(10, R // 10)))
        print(f"\nloopback, {args.concurrency} concurrent clients, {os.cpu_count()} cores shared with the client")
        print(f"{'scenario':<44} {'n':>5} {'err':>4} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>7} {'KB':>7}")
        for r in results:
            print(f"{r['name']:<44} {r['n']:>5} {r['errors']:>4} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['p99']:>8.1f} "
                  f"{r['rps']:>7.1f} {r['kb']:>7.1f}")
        print(f"\nserver peak RSS: {peak_rss_mb(proc.pid):.0f} MB (VmHWM)")
        if args.browser:
            browser_timings(base)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
