"""Independent evaluation of weapon-sighting handling on the real line of contact.

    uv run python benchmarks/eval_sightings.py [--seed 1] [--objects 400] [--decoys 0]
        [--no-caliber-share 0.0] [--drones 12] [--battery-share 0.0] [--workdir DIR] [--json OUT]

What it measures (drone `uav` reports only, spec formats.md sections 1, 2, 3, 4):

- grouping: looks of one stationary object that chain within an hour of each other (spec
  section 4: "seen again within an hour and 50 m is one weapon_sighting") must form exactly one
  event; the share of objects split into more events than needed, merged with another object,
  or joined across a gap of more than an hour;
- `withdrawal.<rule>` recall and precision: a real object is truly inside its zone when its true
  geodesic distance to the line is below the band distance of its class and true calibre (read
  from the profile's `[[exclusion]]` table); misses are broken down by the margin to the band edge
  in units of the looks' fused sigma, a calibre missing from every look, and confidence;
- `buffer.presence` recall and precision (within `buffer_zone_km` of the line, either side, for
  the classes listed in the profile's buffer rule);
- attribution of sightings: `attribution[true party]` against the threshold, and `responsible`
  (when set) against the party whose polygon contains the object;
- cross-checks of the published `distance_to_line_m` and `zone` against this script's own
  distance at the event's estimate, and a replay of the documented rule (P(inside band) from the
  event's covariance >= threshold and sighting confidence >= sighting_min_confidence), so that a
  disagreement can be told from an expected, proof-standard miss;
- honesty of `cov_en_m2` (share of events whose object lies inside the 95 % ellipse) and, with
  `--decoys K`, whether any decoy event (low confidence, not a real object) is flagged or named.

Generator: N real objects (tank, artillery, mlrs, mortar with calibres straddling the band limits;
apc, truck, personnel) at random points of the line pushed perpendicular to either side: 60 %
spread over 0..1.5x the band distance, 25 % within 300 m of the band edge, 15 % inside the buffer
zone (classes without a band: 50 % over 0..6 km, 30 % within 300 m of the buffer edge, 20 %
inside it); only points inside a party's polygon are kept; each seen 1-4 times by
1-3 of the drones over up to 3 hours, CEP 5-60 m per look, noise drawn from it; `confidence`
absent or 0.85-0.99. `--battery-share` places a share of objects 20-150 m from an earlier one
(distinct objects drones may not tell apart), a stress test of grouping beyond the defaults.

Why independent: nothing here comes from `truceline.sim`, `truceline.geo` or the analysis code.
The line of contact is derived from the territory file with Shapely and pyproj (shared boundary
of UA and RU polygons in UTM 37N, edges within 1 m count as shared, spec section 3; outer edges
are dropped by testing that the two sides of every <= 50 m piece belong to two different parties,
which also removes the zero-width slivers of one party that run along the border), distances
are exact WGS84 geodesic distances (an azimuthal equidistant projection centred on each point),
and objects are placed by walking perpendicular from random points of the line. truceline is
driven only through its CLI, as a user would: `sensors.json` + signed `reports.jsonl` in,
`truceline analyze ... --out events.geojson` (a subprocess of this interpreter) out; `--territory`
and `--profile` are passed explicitly (`--bare-cli` leaves them out: the CLI then uses the shipped
line and the default profile, the same files). The only imports from
truceline are the key/signature helpers of `truceline.formats` (spec section 2 signing).

Events are matched to objects by their `reports`: an event belongs to the object owning most of
its report ids.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import LineString, MultiLineString, shape
from shapely.ops import linemerge

from truceline.formats import new_private_key, public_key_b64, sign_object

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "truceline" / "data"
TERRITORY = DATA / "territory_2026-01-06.geojson"
PROFILE = DATA / "profiles" / "default.toml"
GEOD = Geod(ellps="WGS84")
CEP_TO_SIGMA = 1.0 / 1.1774
WINDOW_S = 3600.0
RESTRICTED = ("tank", "artillery", "mlrs", "mortar")
OTHER = ("apc", "truck", "personnel")
CLASS_MIX = {
    "tank": 0.2,
    "artillery": 0.25,
    "mlrs": 0.15,
    "mortar": 0.15,
    "apc": 0.1,
    "truck": 0.08,
    "personnel": 0.07,
}
CALIBRES = {
    "artillery": (76, 85, 100, 122, 152, 155, 203),
    "mlrs": (122, 140, 220, 227, 300),
    "mortar": (60, 82, 120, 240),
}
T0 = datetime(2026, 1, 6, tzinfo=UTC).timestamp()


def log(msg: str) -> None:
    print(f"[eval_sightings {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def fmt_time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


# ----------------------------------------------------------------------------------------------
# profile


class Profile:
    """The parts of the agreement profile this evaluation needs, read with tomllib."""

    def __init__(self, path: Path):
        p = tomllib.loads(path.read_text())
        self.start = datetime.fromisoformat(p["ceasefire_start"].replace("Z", "+00:00")).timestamp()
        self.buffer_m = float(p.get("buffer_zone_km", 2.0)) * 1000.0
        self.threshold = float(p.get("attribution_threshold", 0.95))
        self.min_conf = float(p.get("sighting_min_confidence", 0.8))
        self.bands = [
            {
                "class": e["class"],
                "lo": e.get("min_caliber_mm"),
                "hi": e.get("max_caliber_mm"),
                "m": float(e["distance_km"]) * 1000.0,
                "code": "withdrawal." + e["rule"],
            }
            for e in p.get("exclusion", [])
        ]
        buf = [r for r in p.get("rules", []) if r.get("kind") == "buffer" and r.get("enabled", True)]
        self.buffer_classes = set(buf[0].get("classes", [])) if buf else set()

    def band(self, cls: str, cal: float | None) -> dict | None:
        """The band of a class and calibre; unknown calibre: the class's smallest distance."""
        cands = [b for b in self.bands if b["class"] == cls]
        if not cands:
            return None
        if cal is None:
            return min(cands, key=lambda b: b["m"])
        for b in cands:
            if (b["lo"] is None or cal >= b["lo"]) and (b["hi"] is None or cal < b["hi"]):
                return b
        return None


# ----------------------------------------------------------------------------------------------
# territory and line of contact


class World:
    """Territory polygons (lon/lat) and the line of contact, with exact geodesic distances."""

    def __init__(self, path: Path, seg_m: float = 200.0):
        feats = json.loads(path.read_text())["features"]
        polys: dict[str, list] = {}
        for f in feats:
            polys.setdefault(f["properties"]["party"], []).append(shape(f["geometry"]))
        self.parties = {k: shapely.union_all(v) for k, v in polys.items()}
        for g in self.parties.values():
            shapely.prepare(g)
        fw = Transformer.from_crs(4326, 32637, always_xy=True)
        bw = Transformer.from_crs(32637, 4326, always_xy=True)
        utm = {
            k: shapely.transform(g, lambda xy: np.column_stack(fw.transform(xy[:, 0], xy[:, 1])))
            for k, g in self.parties.items()
        }
        names = sorted(utm)
        pieces = []
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                shared = utm[a].boundary.intersection(utm[b].boundary.buffer(1.0))
                pieces += [g for g in getattr(shared, "geoms", [shared]) if g.geom_type == "LineString"]
                pieces += [
                    x
                    for g in getattr(shared, "geoms", [shared])
                    if g.geom_type == "MultiLineString"
                    for x in g.geoms
                ]
        # Outer edges (coast, international border) are not part of the line even where a
        # degenerate sliver of another party runs along them: keep only the pieces with two
        # different parties on their two sides (tested 0.5 m either side of every <= 50 m piece).
        segs = []
        for g in pieces:
            c = np.column_stack(bw.transform(*np.asarray(g.coords).T))
            for p, q in zip(c[:-1], c[1:], strict=True):
                n = max(1, int(math.ceil(_rough_m(p, q) / 50.0)))
                f = np.linspace(0.0, 1.0, n + 1)[:, None]
                pts = p + (q - p) * f
                segs.append(np.stack([pts[:-1], pts[1:]], axis=1))
        seg = np.concatenate(segs)  # (n, 2 ends, lon/lat)
        mid = seg.mean(axis=1)
        kx = 111320.0 * np.cos(np.radians(mid[:, 1]))
        ky = 110950.0
        tx, ty = (seg[:, 1, 0] - seg[:, 0, 0]) * kx, (seg[:, 1, 1] - seg[:, 0, 1]) * ky
        norm = np.hypot(tx, ty)
        ok = norm > 0
        nx, ny = -ty / np.where(ok, norm, 1.0), tx / np.where(ok, norm, 1.0)
        side = []
        for sgn in (-0.5, 0.5):
            lon, lat = mid[:, 0] + sgn * nx / kx, mid[:, 1] + sgn * ny / ky
            lab = np.full(len(mid), "", dtype=object)
            for k, geom in self.parties.items():
                lab[shapely.contains_xy(geom, lon, lat)] = k
            side.append(lab)
        keep = ok & (side[0] != "") & (side[1] != "") & (side[0] != side[1])
        self.outer_dropped_m = float(norm[~keep].sum())
        merged = linemerge(MultiLineString([s2 for s2 in seg[keep]]))
        self.parts_ll = [np.asarray(g.coords) for g in getattr(merged, "geoms", [merged]) if g.length > 0]
        self.parts_ll = [c for c in self.parts_ll if _rough_len(c) >= 10.0]
        self.parts_utm = [LineString(np.column_stack(fw.transform(*c.T))) for c in self.parts_ll]
        self.lengths = np.array([g.length for g in self.parts_utm])
        a, b = [], []
        for c in self.parts_ll:  # densify, straight in lon/lat (GeoJSON edges)
            for p, q in zip(c[:-1], c[1:], strict=True):
                km = _rough_m(p, q)
                n = max(1, int(math.ceil(km / seg_m)))
                f = np.linspace(0.0, 1.0, n + 1)[:, None]
                pts = p + (q - p) * f
                a.append(pts[:-1])
                b.append(pts[1:])
        self.a = np.concatenate(a)
        self.b = np.concatenate(b)

    def party_at(self, lon: float, lat: float) -> str | None:
        for k, g in self.parties.items():
            if shapely.contains_xy(g, lon, lat):
                return k
        return None

    def distance(self, lon: float, lat: float) -> float:
        """Geodesic distance (m) of a point to the line: candidates by a local flat-earth estimate,
        then exact in an azimuthal equidistant projection centred on the point."""
        kx = 111320.0 * math.cos(math.radians(lat))
        ky = 110950.0
        ax = (self.a[:, 0] - lon) * kx
        ay = (self.a[:, 1] - lat) * ky
        bx = (self.b[:, 0] - lon) * kx
        by = (self.b[:, 1] - lat) * ky
        rough = _seg_dist(ax, ay, bx, by)
        cand = rough <= rough.min() * 1.03 + 500.0
        tr = Transformer.from_crs(
            4326, f"+proj=aeqd +lat_0={lat} +lon_0={lon} +ellps=WGS84 +units=m", always_xy=True
        )
        ex, ey = tr.transform(self.a[cand, 0], self.a[cand, 1])
        fx, fy = tr.transform(self.b[cand, 0], self.b[cand, 1])
        return float(_seg_dist(np.asarray(ex), np.asarray(ey), np.asarray(fx), np.asarray(fy)).min())

    def sample_base(self, rng) -> tuple[float, float, float]:
        """A random point of the line (uniform in length) and the azimuth of its tangent."""
        i = int(rng.choice(len(self.parts_utm), p=self.lengths / self.lengths.sum()))
        g = self.parts_utm[i]
        s = float(rng.uniform(0, g.length))
        bw = Transformer.from_crs(32637, 4326, always_xy=True)
        pts = [g.interpolate(min(max(s + ds, 0.0), g.length)) for ds in (-150.0, 0.0, 150.0)]
        ll = [bw.transform(p.x, p.y) for p in pts]
        az, _, _ = GEOD.inv(ll[0][0], ll[0][1], ll[2][0], ll[2][1])
        return ll[1][0], ll[1][1], float(az)


def _rough_m(p, q) -> float:
    kx = 111320.0 * math.cos(math.radians(0.5 * (p[1] + q[1])))
    return math.hypot((q[0] - p[0]) * kx, (q[1] - p[1]) * 110950.0)


def _rough_len(c) -> float:
    return sum(_rough_m(p, q) for p, q in zip(c[:-1], c[1:], strict=True))


def _seg_dist(ax, ay, bx, by):
    """Distance from the origin to segments (a, b), vectorized."""
    dx, dy = bx - ax, by - ay
    ll = dx * dx + dy * dy
    t = np.clip(-(ax * dx + ay * dy) / np.where(ll > 0, ll, 1.0), 0.0, 1.0)
    return np.hypot(ax + t * dx, ay + t * dy)


# ----------------------------------------------------------------------------------------------
# generator


def _place(world: World, rng, target_m: float, tol_m: float | None, tries: int = 30):
    """A point at true distance ~target_m from the line, inside some party's polygon."""
    for _ in range(tries):
        lon0, lat0, az = world.sample_base(rng)
        side = 90.0 if rng.random() < 0.5 else -90.0
        push = target_m
        lon, lat, d = lon0, lat0, 0.0
        for _ in range(4):
            lon, lat, _ = GEOD.fwd(lon0, lat0, az + side, max(push, 0.0))
            d = world.distance(lon, lat)
            if abs(d - target_m) < 1.0:
                break
            push += target_m - d
        party = world.party_at(lon, lat)
        if party is None:
            continue
        if tol_m is not None and abs(d - target_m) > tol_m:
            continue
        return float(lon), float(lat), d, party
    return None


def _target(rng, band_m: float | None, buffer_m: float) -> tuple[float, float | None, str]:
    """(target distance, tolerance, placement kind)."""
    u = rng.random()
    if band_m is None:
        if u < 0.3:
            return buffer_m + rng.uniform(-300, 300), 60.0, "buffer_edge"
        if u < 0.5:
            return rng.uniform(0, buffer_m), None, "buffer"
        return rng.uniform(0, 6000.0), None, "spread"
    if u < 0.25:
        return band_m + rng.uniform(-300, 300), 60.0, "band_edge"
    if u < 0.40:
        return rng.uniform(0, buffer_m), None, "buffer"
    return rng.uniform(0, 1.5 * band_m), None, "spread"


def generate(
    seed: int,
    n_objects: int,
    n_decoys: int,
    no_cal_share: float,
    n_drones: int,
    world: World,
    prof: Profile,
    battery_share: float = 0.0,
) -> tuple[list[dict], list[dict], list[dict]]:
    """Sensors, signed reports (shuffled) and the ground truth objects."""
    rng = np.random.default_rng(seed)
    drones, keys, seqs = [], {}, {}
    for _ in range(n_drones):
        sid = "drone-" + rng.bytes(3).hex()
        keys[sid] = new_private_key()
        seqs[sid] = int(rng.integers(0, 5000))
        drones.append(
            {"id": sid, "kind": "uav", "public_key": public_key_b64(keys[sid]), "operator": "eval_sightings"}
        )
    classes, weights = list(CLASS_MIX), np.array(list(CLASS_MIX.values()))
    objects: list[dict] = []
    looks: list[dict] = []
    t_lo = max(T0, prof.start)
    for k in range(n_objects + n_decoys):
        real = k < n_objects
        if real:
            cls = str(rng.choice(classes, p=weights / weights.sum()))
        else:
            cls = str(rng.choice(["tank", "artillery", "mlrs"]))
        cal = float(rng.choice(CALIBRES[cls])) if cls in CALIBRES else None
        placed, kind, first = None, "", t_lo + rng.uniform(0, 21 * 3600.0)
        mates = [o for o in objects if o["real"]]
        if real and mates and rng.random() < battery_share:
            # a second object 20-150 m from an earlier one (a battery, a column), seen at about
            # the same time: distinct objects that drones may not tell apart
            nb = mates[int(rng.integers(len(mates)))]
            if rng.random() < 0.7:
                cls, cal = nb["class"], nb["caliber_mm"]
            plon, plat, _ = GEOD.fwd(nb["lon"], nb["lat"], rng.uniform(0, 360), rng.uniform(20, 150))
            party = world.party_at(plon, plat)
            if party is not None:
                placed, kind = (float(plon), float(plat), world.distance(plon, plat), party), "battery"
                first = min(max(nb["t_first"] + rng.uniform(-1800, 1800), t_lo), t_lo + 21 * 3600.0)
        band = prof.band(cls, cal)
        while placed is None:
            target, tol, kind = _target(rng, band["m"] if band else None, prof.buffer_m)
            placed = _place(world, rng, target, tol)
        lon, lat, d, party = placed
        obj = {
            "id": f"{'obj' if real else 'decoy'}{k:04d}",
            "real": real,
            "class": cls,
            "caliber_mm": cal,
            "lon": lon,
            "lat": lat,
            "dist_m": round(d, 2),
            "party": party,
            "placement": kind,
            "band_m": band["m"] if band else None,
            "code": band["code"] if band else None,
            "in_zone": bool(real and band is not None and d < band["m"]),
            "in_buffer": bool(real and cls in prof.buffer_classes and d < prof.buffer_m),
            "looks": [],
        }
        obj["t_first"] = first
        n_looks = int(rng.integers(1, 5)) if real else int(rng.integers(1, 4))
        span = rng.uniform(0, 3 * 3600.0) if n_looks > 1 else 0.0
        times = np.sort(first + rng.uniform(0, span, n_looks)) if n_looks > 1 else np.array([first])
        times[0] = first
        times.sort()
        fleet = rng.choice(len(drones), size=int(rng.integers(1, min(3, n_looks) + 1)), replace=False)
        who = [fleet[i] if i < len(fleet) else rng.choice(fleet) for i in range(n_looks)]
        rng.shuffle(who)
        for t, di in zip(times, who, strict=True):
            cep = float(rng.uniform(5.0, 60.0))
            sd = cep * CEP_TO_SIGMA
            e, n = rng.normal(0, sd, 2)
            llon, llat, _ = GEOD.fwd(lon, lat, math.degrees(math.atan2(e, n)), math.hypot(e, n))
            body = {
                "lat": round(float(llat), 7),
                "lon": round(float(llon), 7),
                "cep_m": round(cep, 1),
                "object": cls,
            }
            if cal is not None and not (rng.random() < no_cal_share):
                body["caliber_mm"] = cal
            if real:
                if rng.random() < 0.5:
                    body["confidence"] = round(float(rng.uniform(0.85, 0.99)), 3)
            else:
                body["confidence"] = round(float(rng.uniform(0.05, 0.5)), 3)
            if rng.random() < 0.5:
                body["media_sha256"] = rng.bytes(32).hex()
            lk = {
                "id": "r-" + rng.bytes(8).hex(),
                "sensor": drones[di]["id"],
                "t": float(t),
                "body": body,
                "sigma_m": sd,
                "obj": obj["id"],
            }
            looks.append(lk)
            obj["looks"].append(
                {
                    "id": lk["id"],
                    "t": float(t),
                    "sigma_m": sd,
                    "cep_m": cep,
                    "caliber": "caliber_mm" in body,
                    "confidence": body.get("confidence"),
                    "lon": body["lon"],
                    "lat": body["lat"],
                }
            )
        objects.append(obj)
    reports = []
    for lk in sorted(looks, key=lambda x: x["t"]):
        seqs[lk["sensor"]] += int(rng.integers(1, 4))
        rep = {
            "id": lk["id"],
            "sensor": lk["sensor"],
            "kind": "uav",
            "seq": seqs[lk["sensor"]],
            "time": fmt_time(lk["t"]),
            "body": lk["body"],
        }
        rep["sig"] = sign_object(rep, keys[lk["sensor"]])
        reports.append(rep)
    order = rng.permutation(len(reports))
    return drones, [reports[i] for i in order], objects


# ----------------------------------------------------------------------------------------------
# CLI


def run_cli(workdir: Path, extra: list[str]) -> dict:
    # the `truceline` console script of this interpreter's environment (what `uv run truceline` runs)
    cmd = [sys.executable, "-c", "from truceline.cli import main; main()"]
    cmd += [
        "analyze",
        str(workdir / "reports.jsonl"),
        "--sensors",
        str(workdir / "sensors.json"),
        "--out",
        str(workdir / "events.geojson"),
        *extra,
    ]
    t = time.time()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=dict(os.environ))
    return {
        "cmd": " ".join(cmd),
        "returncode": p.returncode,
        "seconds": round(time.time() - t, 2),
        "stdout": p.stdout[-2000:],
        "stderr": p.stderr[-4000:],
    }


# ----------------------------------------------------------------------------------------------
# scoring


def look_clusters(times: list[float]) -> list[int]:
    """Cluster index of each look (in the given order): looks chain while gaps are <= 1 hour."""
    order = np.argsort(times)
    out = [0] * len(times)
    c, prev = 0, None
    for i in order:
        if prev is not None and times[i] - prev > WINDOW_S:
            c += 1
        out[i] = c
        prev = times[i]
    return out


def _ex(items: list[dict], n: int = 5) -> list[dict]:
    return items[:n]


def score(
    objects: list[dict], features: list[dict], world: World, prof: Profile, quarantine: list[dict]
) -> dict:
    owner = {lk["id"]: o["id"] for o in objects for lk in o["looks"]}
    cluster_of = {}
    for o in objects:
        cl = look_clusters([lk["t"] for lk in o["looks"]])
        o["n_clusters"] = max(cl) + 1
        for lk, c in zip(o["looks"], cl, strict=True):
            cluster_of[lk["id"]] = (o["id"], c)
    by_id = {o["id"]: o for o in objects}
    look_by_id = {lk["id"]: lk for o in objects for lk in o["looks"]}
    sightings = [f for f in features if f["properties"].get("type") == "weapon_sighting"]
    other_types = sorted({f["properties"].get("type") for f in features} - {"weapon_sighting"})
    ev_info = []
    unseen = set(owner)
    for f in sightings:
        p = f["properties"]
        reps = [r for r in p.get("reports", []) if r in owner]
        unseen -= set(reps)
        if not reps:
            ev_info.append({"f": f, "obj": None})
            continue
        cnt: dict[str, int] = {}
        for r in reps:
            cnt[owner[r]] = cnt.get(owner[r], 0) + 1
        oid = sorted(cnt, key=lambda k: (-cnt[k], k))[0]
        o = by_id[oid]
        sig = [look_by_id[r]["sigma_m"] for r in reps if owner[r] == oid]
        fused = 1.0 / math.sqrt(sum(1.0 / s**2 for s in sig))
        lon, lat = f["geometry"]["coordinates"][:2]
        d_mine = world.distance(lon, lat)
        cov = np.asarray(p.get("cov_en_m2") or [[np.nan, 0], [0, np.nan]], float)
        ev_info.append(
            {
                "f": f,
                "obj": o,
                "owners": cnt,
                "sigma_looks": fused,
                "d_mine": d_mine,
                "sigma_ev": float(math.sqrt(max(np.linalg.eigvalsh(cov).max(), 0.0)))
                if np.all(np.isfinite(cov))
                else float("nan"),
                "clusters": {cluster_of[r] for r in reps},
                "lonlat": (lon, lat),
            }
        )

    def row(e: dict) -> dict:
        f, o = e["f"], e["obj"]
        p = f["properties"]
        return {
            "event": p.get("id"),
            "object": o["id"],
            "class": o["class"],
            "true_caliber": o["caliber_mm"],
            "event_caliber": p.get("caliber_mm"),
            "true_dist_m": o["dist_m"],
            "band_m": o["band_m"],
            "event_dist_m": p.get("distance_to_line_m"),
            "my_dist_at_estimate_m": round(e["d_mine"], 1),
            "sigma_looks_m": round(e["sigma_looks"], 1),
            "sigma_event_m": round(e["sigma_ev"], 1),
            "margin_sigma": (
                round((o["band_m"] - o["dist_m"]) / e["sigma_looks"], 2) if o["band_m"] else None
            ),
            "confidence": p.get("confidence"),
            "n_reports": len(p.get("reports", [])),
            "violations": p.get("violations"),
            "attribution": p.get("attribution"),
            "responsible": p.get("responsible"),
            "true_party": o["party"],
            "real": o["real"],
        }

    checked = sum(
        1
        for f in sightings
        if f["properties"].get("zone") is not None or f["properties"].get("distance_to_line_m") is not None
    )
    res: dict = {
        "rules_evaluated_events": checked,
        "objects": sum(o["real"] for o in objects),
        "decoys": sum(not o["real"] for o in objects),
        "looks": len(owner),
        "events_total": len(features),
        "sighting_events": len(sightings),
        "other_event_types": other_types,
        "quarantined": len(quarantine),
        "looks_in_no_event": len(unseen),
    }

    # ---- grouping
    ev_of_obj: dict[str, list[dict]] = {}
    for e in ev_info:
        if e["obj"] is None:
            continue
        for oid in e["owners"]:
            ev_of_obj.setdefault(oid, []).append(e)
    split, merged, joined, correct = [], [], [], 0
    needed = got = 0
    for o in objects:
        evs = ev_of_obj.get(o["id"], [])
        needed += o["n_clusters"]
        got += len(evs)
        is_merged = any(len(e["owners"]) > 1 for e in evs)
        cl_sets = [{c for (oid, c) in e["clusters"] if oid == o["id"]} for e in evs]
        is_joined = any(len(s) > 1 for s in cl_sets)
        is_split = len(evs) > len({c for s in cl_sets for c in s})
        if is_merged:
            merged.append(
                {
                    "object": o["id"],
                    "real": o["real"],
                    "events": [e["f"]["properties"]["id"] for e in evs],
                    "with": sorted({k for e in evs for k in e["owners"]} - {o["id"]}),
                }
            )
        if is_split:
            lk = sorted(o["looks"], key=lambda x: x["t"])
            split.append(
                {
                    "object": o["id"],
                    "class": o["class"],
                    "n_looks": len(lk),
                    "clusters": o["n_clusters"],
                    "events": len(evs),
                    "look_sigma_m": [round(x["sigma_m"], 1) for x in lk],
                    "look_gaps_min": [
                        round((b["t"] - a["t"]) / 60, 1) for a, b in zip(lk, lk[1:], strict=False)
                    ],
                    "look_separation_m": [
                        round(GEOD.inv(a["lon"], a["lat"], b["lon"], b["lat"])[2], 1)
                        for a, b in zip(lk, lk[1:], strict=False)
                    ],
                    "event_of_look": [
                        next(
                            e["f"]["properties"]["id"]
                            for e in evs
                            if x["id"] in e["f"]["properties"]["reports"]
                        )
                        for x in lk
                    ],
                }
            )
        if is_joined:
            joined.append({"object": o["id"], "events": [e["f"]["properties"]["id"] for e in evs]})
        if not (is_merged or is_split or is_joined) and len(evs) == o["n_clusters"]:
            correct += 1
    n = len(objects)
    res["grouping"] = {
        "objects": n,
        "events_needed": needed,
        "events_found": got,
        "correct_share": round(correct / n, 4),
        "split_share": round(len(split) / n, 4),
        "merged_share": round(len(merged) / n, 4),
        "joined_across_gap_share": round(len(joined) / n, 4),
        "split_examples": _ex(split),
        "merged_examples": _ex(merged),
        "joined_examples": _ex(joined),
    }

    # ---- per-event rule replay (the documented rule, with this script's distance)
    for e in ev_info:
        if e["obj"] is None:
            continue
        p = e["f"]["properties"]
        cls = p.get("object", e["obj"]["class"])
        band = prof.band(cls, p.get("caliber_mm"))
        conf = p.get("confidence")
        s = e["sigma_ev"] if math.isfinite(e["sigma_ev"]) else e["sigma_looks"]
        ok_conf = conf is None or conf >= prof.min_conf
        e["replay_withdrawal"] = None
        if band is not None:
            pin = phi((band["m"] - e["d_mine"]) / s) - phi((-band["m"] - e["d_mine"]) / s)
            e["replay_withdrawal"] = (band["code"], pin, ok_conf and pin >= prof.threshold)
        pb = phi((prof.buffer_m - e["d_mine"]) / s) - phi((-prof.buffer_m - e["d_mine"]) / s)
        e["replay_buffer"] = (pb, ok_conf and cls in prof.buffer_classes and pb >= prof.threshold)

    real_ev = [e for e in ev_info if e["obj"] is not None]

    def rule_score(kind: str) -> dict:
        if kind == "withdrawal":

            def has(e):
                return any(
                    str(v).startswith("withdrawal.") for v in e["f"]["properties"].get("violations") or []
                )

            truth_key, edge = "in_zone", (lambda o: o["band_m"])
        else:

            def has(e):
                return "buffer.presence" in (e["f"]["properties"].get("violations") or [])

            truth_key, edge = "in_buffer", (lambda o: prof.buffer_m)
        pos = [o for o in objects if o[truth_key]]
        hit = {e["obj"]["id"] for e in real_ev if has(e)}
        misses = []
        for o in pos:
            if o["id"] in hit:
                continue
            evs = [e for e in real_ev if e["obj"]["id"] == o["id"]]
            best = min(evs, key=lambda e: e["d_mine"]) if evs else None
            sig = best["sigma_looks"] if best else min(lk["sigma_m"] for lk in o["looks"])
            margin = (edge(o) - o["dist_m"]) / sig
            if best:
                r = row(best)
            else:
                into = [e for e in real_ev if o["id"] in e["owners"]]
                r = {
                    "object": o["id"],
                    "class": o["class"],
                    "true_caliber": o["caliber_mm"],
                    "true_dist_m": o["dist_m"],
                    "band_m": o["band_m"],
                    "sigma_looks_m": round(sig, 1),
                    "event": None,
                    "in_events_of": sorted({e["obj"]["id"] for e in into}),
                    "in_events": [e["f"]["properties"]["id"] for e in into],
                }
            r["margin_sigma"] = round(margin, 2)
            r["edge_m"] = edge(o)
            confs = [e["f"]["properties"].get("confidence") for e in evs]
            replay = [e.get(f"replay_{kind}") for e in evs]
            if not evs:
                cat = "merged_into_other_object" if r.get("in_events") else "no_event"
            elif (
                kind == "withdrawal"
                and all(e["f"]["properties"].get("caliber_mm") is None for e in evs)
                and o["caliber_mm"] is not None
                and prof.band(o["class"], None)["m"] <= o["dist_m"]
            ):
                cat = "calibre_missing"
            elif all(c is not None and c < prof.min_conf for c in confs):
                cat = "confidence"
            elif any(x is not None and x[-1] for x in replay):
                cat = "unexplained"  # the documented rule, replayed on the event, says broken
            elif margin < 3.0:
                cat = "near_edge<3sigma"
            else:
                cat = "estimate_error>=3sigma"  # noise tail: truth >= 3 sigma inside, estimate not
            r["replay"] = [list(x) if x else None for x in replay]
            misses.append({"category": cat, **r})
        flagged = [e for e in real_ev if has(e)] + [e for e in ev_info if e["obj"] is None and has(e)]
        fps = []
        for e in flagged:
            o = e["obj"]
            if o is not None and o[truth_key]:
                continue
            r = row(e) if o else {"event": e["f"]["properties"].get("id")}
            if o is None:
                cat = "unmatched"
            elif not o["real"]:
                cat = "decoy"
            elif len(e["owners"]) > 1:
                cat = "merged_event"
            elif kind == "withdrawal" and o["band_m"] is None:
                cat = "class_without_band"
            elif kind == "buffer" and o["class"] not in prof.buffer_classes:
                cat = "class_not_listed"
            else:
                m = (o["dist_m"] - edge(o)) / e["sigma_looks"]
                r["margin_sigma"] = round(-m, 2)
                rp = e.get(f"replay_{kind}")
                if rp is not None and not rp[-1]:
                    cat = "unexplained"  # the documented rule, replayed on the event, says not broken
                else:
                    cat = "outside_by<3sigma" if m < 3.0 else "outside_by>=3sigma"
            fps.append({"category": cat, **r})
        cats_m: dict[str, int] = {}
        for m in misses:
            cats_m[m["category"]] = cats_m.get(m["category"], 0) + 1
        cats_f: dict[str, int] = {}
        for f in fps:
            cats_f[f["category"]] = cats_f.get(f["category"], 0) + 1
        # disagreements with the replay of the documented rule (own distance, event covariance)
        dis = []
        for e in real_ev:
            rp = e.get(f"replay_{kind}")
            if rp is None:
                continue
            expect = rp[-1]
            pval = rp[-2]
            if bool(expect) != bool(has(e)) and abs(pval - prof.threshold) > 0.01:
                dis.append({"replay_probability": round(pval, 4), "replay_broken": expect, **row(e)})
        by_margin: dict[str, list[int]] = {}
        for o in pos:  # object-level margin: true distance inside the edge / fused sigma of all its looks
            sig_all = 1.0 / math.sqrt(sum(1.0 / lk["sigma_m"] ** 2 for lk in o["looks"]))
            m = (edge(o) - o["dist_m"]) / sig_all
            key = next(
                k
                for lim, k in ((1, "<1"), (2, "1-2"), (3, "2-3"), (10, "3-10"), (math.inf, ">=10"))
                if m < lim
            )
            by_margin.setdefault(key, [0, 0])[0] += 1
            by_margin[key][1] += o["id"] in hit
        out = {
            "recall_by_margin_sigma": {
                k: f"{by_margin[k][1]}/{by_margin[k][0]}"
                for k in ("<1", "1-2", "2-3", "3-10", ">=10")
                if k in by_margin
            },
            "positives": len(pos),
            "hit": len(pos) - len(misses),
            "recall": round((len(pos) - len(misses)) / len(pos), 4) if pos else None,
            "flagged_events": len(flagged),
            "precision": round((len(flagged) - len(fps)) / len(flagged), 4) if flagged else None,
            "miss_categories": cats_m,
            "fp_categories": cats_f,
            "miss_examples": {c: _ex([m for m in misses if m["category"] == c], 4) for c in cats_m},
            "fp_examples": {c: _ex([f for f in fps if f["category"] == c], 4) for c in cats_f},
            "replay_disagreements": len(dis),
            "replay_disagreement_examples": _ex(dis),
        }
        if kind == "withdrawal":
            wrong = []
            for e in real_ev:
                codes = [
                    v for v in e["f"]["properties"].get("violations") or [] if v.startswith("withdrawal.")
                ]
                if codes and e["obj"]["code"] and e["obj"]["code"] not in codes:
                    wrong.append({"codes": codes, "true_code": e["obj"]["code"], **row(e)})
            out["code_differs_from_true_band"] = len(wrong)
            out["code_differs_examples"] = _ex(wrong)
        return out

    res["withdrawal"] = rule_score("withdrawal")
    res["buffer"] = rule_score("buffer")

    # ---- attribution of sightings
    att = {
        "events": 0,
        "p_true_ge_threshold": 0,
        "territorial_ge_threshold": 0,
        "named": 0,
        "named_correct": 0,
        "named_wrong": [],
        "low_p": {},
        "low_p_examples": {},
        "decoy_named": [],
    }
    for e in real_ev:
        o, p = e["obj"], e["f"]["properties"]
        a = p.get("attribution") or {}
        resp = p.get("responsible")
        if not o["real"]:
            if resp is not None:
                att["decoy_named"].append(row(e))
            continue
        if len(e["owners"]) > 1:
            continue
        att["events"] += 1
        pt = float(a.get(o["party"], 0.0))
        conf = p.get("confidence")
        if (pt / conf if conf else pt) >= prof.threshold - 1e-9:
            att["territorial_ge_threshold"] += 1  # P(true party) / confidence: the position alone
        if pt >= prof.threshold:
            att["p_true_ge_threshold"] += 1
        else:
            if e["d_mine"] < 3.0 * e["sigma_looks"] or o["dist_m"] < 3.0 * e["sigma_looks"]:
                cat = "near_line<3sigma"
            elif conf is not None and conf < prof.threshold and pt <= conf + 1e-6:
                cat = "confidence<threshold"
            elif not a:
                cat = "empty_attribution"
            else:
                cat = "unexplained"
            att["low_p"][cat] = att["low_p"].get(cat, 0) + 1
            att["low_p_examples"].setdefault(cat, [])
            if len(att["low_p_examples"][cat]) < 4:
                att["low_p_examples"][cat].append({"p_true": round(pt, 6), **row(e)})
        if resp is not None:
            att["named"] += 1
            if resp == o["party"]:
                att["named_correct"] += 1
            else:
                att["named_wrong"].append(row(e))
    att["share_p_true_ge_threshold"] = (
        round(att["p_true_ge_threshold"] / att["events"], 4) if att["events"] else None
    )
    att["share_territorial_ge_threshold"] = (
        round(att["territorial_ge_threshold"] / att["events"], 4) if att["events"] else None
    )
    att["named_correct_share"] = round(att["named_correct"] / att["named"], 4) if att["named"] else None
    att["named_wrong"] = _ex(att["named_wrong"], 10)
    att["decoy_named"] = _ex(att["decoy_named"], 10)
    res["attribution"] = att

    # ---- decoys: never a finding, never named; `violations_to_confirm` is where they may show
    dec = [e for e in real_ev if not e["obj"]["real"]]
    res["decoy_events"] = {
        "events": len(dec),
        "with_violations": sum(bool(e["f"]["properties"].get("violations")) for e in dec),
        "with_violations_to_confirm": sum(
            bool(e["f"]["properties"].get("violations_to_confirm")) for e in dec
        ),
        "named": sum(e["f"]["properties"].get("responsible") is not None for e in dec),
        "max_attribution": max(
            (max((e["f"]["properties"].get("attribution") or {"-": 0.0}).values()) for e in dec), default=None
        ),
        "max_confidence": max((e["f"]["properties"].get("confidence") or 0.0 for e in dec), default=None),
    }

    # ---- honesty of cov_en_m2 (spec section 4: truth inside the 95 % ellipse ~95 % of the time)
    m2 = []
    for e in real_ev:
        o, cov = e["obj"], e["f"]["properties"].get("cov_en_m2")
        if not o["real"] or len(e["owners"]) > 1 or not cov:
            continue
        lon, lat = e["lonlat"]
        az, _, dist = GEOD.inv(lon, lat, o["lon"], o["lat"])
        v = np.array([dist * math.sin(math.radians(az)), dist * math.cos(math.radians(az))])
        try:
            m2.append(float(v @ np.linalg.solve(np.asarray(cov, float), v)))
        except np.linalg.LinAlgError:
            continue
    m2a = np.array(m2)
    res["coverage"] = {
        "events": len(m2),
        "inside_95": round(float((m2a <= 5.991464547107979).mean()), 4) if len(m2) else None,
        "inside_68": round(float((m2a <= 2.295748928898636).mean()), 4) if len(m2) else None,
    }

    # ---- published distance and zone vs this script's own
    diffs, zone_bad, zone_party_in_buffer = [], [], 0
    for e in real_ev:
        p = e["f"]["properties"]
        dp = p.get("distance_to_line_m")
        if dp is not None:
            diffs.append((abs(float(dp) - e["d_mine"]), e))
        lon, lat = e["lonlat"]
        party = world.party_at(lon, lat)
        documented = "buffer" if e["d_mine"] <= prof.buffer_m else (party or "outside")
        z = p.get("zone")
        if z == party and z != documented:
            zone_party_in_buffer += 1  # `zone` is the party although the estimate is in the buffer zone
        elif z not in (party, documented) and abs(e["d_mine"] - prof.buffer_m) > 1.0:
            zone_bad.append({"zone": z, "party_at_estimate": party, "documented_zone": documented, **row(e)})
    d_arr = np.array([d for d, _ in diffs]) if diffs else np.zeros(0)
    worst = sorted(diffs, key=lambda x: -x[0])[:5]
    res["distance_check"] = {
        "events": len(diffs),
        "max_abs_diff_m": round(float(d_arr.max()), 2) if len(d_arr) else None,
        "median_abs_diff_m": round(float(np.median(d_arr)), 3) if len(d_arr) else None,
        "n_diff_gt_1m": int((d_arr > 1.0).sum()),
        "n_diff_gt_0.1pct": int(sum(d > max(1.0, 1e-3 * e["d_mine"]) for d, e in diffs)),
        "worst": [{"abs_diff_m": round(d, 2), **row(e)} for d, e in worst],
        "zone_mismatches": len(zone_bad),
        "zone_mismatch_examples": _ex(zone_bad),
        "zone_is_party_inside_buffer": zone_party_in_buffer,
    }
    return res


# ----------------------------------------------------------------------------------------------
# main


def summary_text(r: dict) -> str:
    g, w, b, a, d = r["grouping"], r["withdrawal"], r["buffer"], r["attribution"], r["distance_check"]
    lines = [
        f"seed {r['seed']}: {r['objects']} objects + {r['decoys']} decoys, {r['looks']} looks; "
        f"CLI exit {r['cli']['returncode']} in {r['cli']['seconds']} s; "
        f"{r['sighting_events']} sighting events "
        f"(other types {r['other_event_types']}), {r['quarantined']} quarantined, "
        f"{r['looks_in_no_event']} looks in no event"
        + (
            ""
            if r["rules_evaluated_events"]
            else "\nWARNING: no event has zone/distance_to_line_m: rules not evaluated"
        ),
        f"grouping: events needed {g['events_needed']}, found {g['events_found']}; objects correct "
        f"{g['correct_share']:.3f}, split {g['split_share']:.3f}, merged {g['merged_share']:.3f}, "
        f"joined across >1 h {g['joined_across_gap_share']:.3f}",
    ]
    for name, s in (("withdrawal", w), ("buffer.presence", b)):
        lines.append(
            f"{name}: recall {s['recall']} ({s['hit']}/{s['positives']}), precision {s['precision']} "
            f"({s['flagged_events']} flagged); misses {s['miss_categories']}; false positives "
            f"{s['fp_categories']}; rule-replay disagreements {s['replay_disagreements']}; recall by margin "
            f"(sigma): {s['recall_by_margin_sigma']}"
        )
    if "code_differs_from_true_band" in w:
        lines.append(f"withdrawal code differs from the true band: {w['code_differs_from_true_band']}")
    lines.append(
        f"attribution: {a['events']} events of real objects, P(true party) >= threshold "
        f"{a['share_p_true_ge_threshold']} (position alone, P / confidence: "
        f"{a['share_territorial_ge_threshold']}); "
        f"below: {a['low_p']}; named {a['named']}, correct "
        f"{a['named_correct_share']}, wrong {len(a['named_wrong'])}; decoys named {len(a['decoy_named'])}"
    )
    if r["decoy_events"]["events"]:
        lines.append(f"decoy events: {r['decoy_events']}")
    lines.append(
        f"cov_en_m2 honesty: truth inside the 95 % ellipse {r['coverage']['inside_95']}, 68 % (1-sigma "
        f"equivalent) {r['coverage']['inside_68']} of {r['coverage']['events']} events"
    )
    lines.append(
        f"distance_to_line_m vs own geodesic distance: median |diff| {d['median_abs_diff_m']} m, max "
        f"{d['max_abs_diff_m']} m, {d['n_diff_gt_1m']} > 1 m; zone (the party, docs/attribution.md) wrong "
        f"{d['zone_mismatches']}; events inside the buffer zone: {d['zone_is_party_inside_buffer']}"
    )
    return "\n".join(lines)


def evaluate(
    seed: int = 1,
    objects: int = 400,
    decoys: int = 0,
    no_caliber_share: float = 0.0,
    drones: int = 12,
    workdir: Path | None = None,
    territory: Path = TERRITORY,
    profile: Path = PROFILE,
    cli_args: list[str] | None = None,
    battery_share: float = 0.0,
) -> dict:
    t0 = time.time()
    prof = Profile(profile)
    log(f"line of contact from {territory.name}")
    world = World(territory)
    log(
        f"line: {len(world.parts_utm)} parts, {world.lengths.sum() / 1000:.0f} km, {len(world.a)} segments; "
        f"generating {objects} objects + {decoys} decoys (seed {seed})"
    )
    sensors, reports, objs = generate(
        seed, objects, decoys, no_caliber_share, drones, world, prof, battery_share
    )
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="eval_sightings_")
        workdir = Path(tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "sensors.json").write_text(json.dumps(sensors, indent=1))
    (workdir / "reports.jsonl").write_text("".join(json.dumps(r) + "\n" for r in reports))
    (workdir / "truth.json").write_text(json.dumps(objs))
    log(f"{len(reports)} reports written to {workdir} ({time.time() - t0:.1f} s); running truceline analyze")
    if cli_args is None:  # without --territory the CLI fills no attribution, zone or violations
        cli_args = ["--territory", str(territory), "--profile", str(profile)]
    cli = run_cli(workdir, cli_args)
    log(f"CLI exit {cli['returncode']} in {cli['seconds']} s")
    if cli["returncode"] != 0 or not (workdir / "events.geojson").exists():
        res = {"seed": seed, "cli": cli, "crash": True}
        print(cli["stderr"], file=sys.stderr)
        return res
    features = json.loads((workdir / "events.geojson").read_text())["features"]
    qpath = workdir / "events.quarantine.jsonl"
    quarantine = (
        [json.loads(x) for x in qpath.read_text().splitlines() if x.strip()] if qpath.exists() else []
    )
    log(f"scoring {len(features)} events")
    res = score(objs, features, world, prof, quarantine)
    res = {
        "seed": seed,
        "settings": {
            "objects": objects,
            "decoys": decoys,
            "no_caliber_share": no_caliber_share,
            "drones": drones,
            "battery_share": battery_share,
        },
        **res,
        "cli": cli,
        "workdir": str(workdir),
        "seconds": round(time.time() - t0, 1),
    }
    if tmp is not None:
        res["workdir"] = None
        tmp.cleanup()
    log(f"done in {res['seconds']} s")
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--objects", type=int, default=400)
    ap.add_argument("--decoys", type=int, default=0)
    ap.add_argument("--no-caliber-share", type=float, default=0.0)
    ap.add_argument("--drones", type=int, default=12)
    ap.add_argument(
        "--battery-share",
        type=float,
        default=0.0,
        help="share of objects placed 20-150 m from an earlier one, seen at about the same time",
    )
    ap.add_argument("--workdir", type=Path, default=None, help="keep the inputs and events.geojson here")
    ap.add_argument("--json", type=Path, default=None, help="write the full result (with examples) here")
    ap.add_argument(
        "--bare-cli",
        action="store_true",
        help="run `truceline analyze` without --territory/--profile (its defaults: the shipped files)",
    )
    a = ap.parse_args(argv)
    res = evaluate(
        a.seed,
        a.objects,
        a.decoys,
        a.no_caliber_share,
        a.drones,
        a.workdir,
        cli_args=[] if a.bare_cli else None,
        battery_share=a.battery_share,
    )
    if res.get("crash"):
        print(f"truceline analyze failed (exit {res['cli']['returncode']}): {res['cli']['cmd']}")
        return 2
    print(summary_text(res))
    if a.json:
        a.json.write_text(json.dumps(res, indent=1, default=str))
        log(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
