"""The line of contact: derivation from party polygons, and fast vectorized queries on it.

Derivation (spec formats.md section 3: "the set of boundary segments shared by polygons
of two different parties (edges within 1 m of each other count as shared); outer edges
of the file are not part of it"):

1. Every party's boundary (exterior and interior rings) is densified in lon/lat to
   <= 0.01 deg segments (GeoJSON edges are straight in lon/lat; densifying first makes
   the projected edges follow them to well below a centimetre) and projected into a
   conformal stereographic CRS centred on the territory (metres).
2. For every pair of parties (i < j) the shared part is the part of boundary i lying
   within `tolerance_m` (1 m) of boundary j: `intersection(B_i, buffer(B_j, 1 m))`. Taking
   the geometry from one side only means two near-coincident edges count once.
3. The pieces are noded (`union_all`) and merged (`line_merge`). With three or more
   parties, a piece of pair (B, C) can end up to ~1 m short of a triple junction on
   boundary A; dangling ends within 3 tolerances of another part are joined to it by a
   connector before merging again. What lies within 0.1 m of the outer boundary of the
   whole file (after closing sub-metre gaps) is removed: that trims the <= 1 m stubs
   the buffer test adds along coasts and borders where the line meets them. Parts
   shorter than `min_part_m` (10 m: the stubs produced where two boundaries merely
   touch at a point) are dropped.
4. Parts are projected back to lon/lat, oriented to start at their northern end (closed
   rings start at their northernmost vertex), and ordered by geodesic length, longest
   first. Lengths are geodesic (WGS84, pyproj Geod) sums over the vertices.

Queries: the parts are densified again (<= ~30 m segments) into one vertex array in the
projected CRS with cumulative geodesic lengths. Nearest points come from a k-d tree over
the vertices, refined exactly on the segments around the two nearest vertices; a lower
bound on the distance to every other segment (sqrt(d3^2 - s^2/4), where d3 is the distance
to the third-nearest vertex and s the longest segment) proves the result, and the rare
points it cannot prove go to an exact Shapely STRtree search. The distance reported is
then the geodesic distance (WGS84) between the point and its nearest line point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import CRS
from scipy.spatial import cKDTree
from shapely.geometry import LineString

from truceline.geo.local import GEOD, densify_lonlat, geodesic_forward, geodesic_inverse, transformers_for

DENSIFY_DEG = 0.01
"""Boundary densification (degrees) before projecting, for the shared-edge matching."""
INDEX_LEVELS_DEG = (0.005, 0.0003)
"""Line densification (degrees) of the query index levels: <= ~550 m, then <= ~33 m."""
_CHUNK = 250_000
SHORT_CHORD_M = 100_000.0
"""Distances up to this use the projection's scale factor instead of a geodesic solve."""


@dataclass(frozen=True)
class Sector:
    """A stretch of one continuous part of the line, `start_km`..`end_km` from its northern end."""

    name: str
    part: int
    start_km: float
    end_km: float

    @property
    def length_km(self) -> float:
        return self.end_km - self.start_km


def part_letter(index: int) -> str:
    """Spreadsheet-style letters for part indices: 0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _line_parts(geom) -> list:
    """All LineString components of an arbitrary geometry (points and polygons dropped)."""
    out = []
    for g in shapely.get_parts(geom):
        gt = g.geom_type
        if gt == "LineString":
            if not g.is_empty:
                out.append(g)
        elif gt in ("MultiLineString", "GeometryCollection"):
            out.extend(_line_parts(g))
    return out


def derive_contact_parts(
    polygons: dict[str, object],
    crs: CRS,
    tolerance_m: float = 1.0,
    min_part_m: float = 10.0,
) -> list[LineString]:
    """Continuous parts (lon/lat LineStrings) of the shared boundaries of different parties.

    `polygons` maps party -> (Multi)Polygon in lon/lat. Returns parts oriented north->south,
    longest first (see the module docstring for the method).
    """
    fwd, inv = transformers_for(crs)
    names = list(polygons)

    def project(g):
        return shapely.transform(g, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))

    projected = {p: project(densify_lonlat(polygons[p], DENSIFY_DEG)) for p in names}
    boundaries = {p: shapely.boundary(g) for p, g in projected.items()}
    pieces = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            buf = shapely.buffer(boundaries[b], tolerance_m, quad_segs=4)
            shapely.prepare(buf)
            pieces.extend(_line_parts(shapely.intersection(boundaries[a], buf)))
    if not pieces:
        return []
    shared = shapely.union_all(pieces)
    # Outer edges (coast, borders) are not part of the line: the pieces above extend up
    # to `tolerance_m` along them where a shared edge meets the outer boundary. Remove
    # what lies on the outer boundary of the whole file, taken after a morphological
    # closing by the tolerance so that sub-tolerance gaps between parties do not count
    # as outer edges.
    closed = shapely.buffer(
        shapely.union_all([shapely.buffer(g, tolerance_m, quad_segs=2) for g in projected.values()]),
        -tolerance_m,
        quad_segs=2,
    )
    outer = shapely.buffer(shapely.boundary(closed), 0.1 * tolerance_m, quad_segs=2)
    shared = shapely.difference(shared, outer)
    merged = _line_parts(shapely.line_merge(shared))
    if len(names) > 2 and len(merged) > 1:
        merged = _close_gaps(merged, 3.0 * tolerance_m)
    merged = [g for g in merged if g.length >= min_part_m]
    parts = [
        shapely.transform(g, lambda xy: np.column_stack(inv.transform(xy[:, 0], xy[:, 1]))) for g in merged
    ]
    parts = [_orient_north_first(g) for g in parts]
    lengths = [_geod_len(g) for g in parts]
    order = sorted(range(len(parts)), key=lambda k: (-lengths[k], -parts[k].coords[0][1]))
    return [parts[k] for k in order]


def _close_gaps(lines: list, max_gap: float) -> list:
    """Join dangling ends to a neighbouring part within `max_gap` metres, then re-merge."""
    ends = []
    for k, g in enumerate(lines):
        if g.is_closed:
            continue
        c = np.asarray(g.coords)
        ends.append((k, c[0]))
        ends.append((k, c[-1]))
    endpoint_keys: dict[tuple[float, float], int] = {}
    for _k, e in ends:
        key = (float(e[0]), float(e[1]))
        endpoint_keys[key] = endpoint_keys.get(key, 0) + 1
    connectors = []
    for k, e in ends:
        if endpoint_keys[(float(e[0]), float(e[1]))] > 1:
            continue  # shared with another part: a node, not a dangling end
        pt = shapely.Point(e)
        others = [g for j, g in enumerate(lines) if j != k]
        if not others:
            continue
        dists = shapely.distance(pt, others)
        j = int(np.argmin(dists))
        if 0 < dists[j] <= max_gap:
            connectors.append(shapely.shortest_line(pt, others[j]))
    if not connectors:
        return lines
    return _line_parts(shapely.line_merge(shapely.union_all(lines + connectors)))


def _orient_north_first(g: LineString) -> LineString:
    c = np.asarray(g.coords)
    if g.is_closed and len(c) > 3:
        ring = c[:-1]
        k = int(np.argmax(ring[:, 1]))
        ring = np.roll(ring, -k, axis=0)
        return LineString(np.vstack([ring, ring[:1]]))
    if c[-1, 1] > c[0, 1]:
        return LineString(c[::-1])
    return g


def _geod_len(g: LineString) -> float:
    c = np.asarray(g.coords)
    return float(GEOD.line_length(c[:, 0], c[:, 1])) if len(c) > 1 else 0.0


class ContactLine:
    """The line of contact: continuous parts (lon/lat), main part first, each north -> south.

    Attributes: `parts` (list of LineString), `part_lengths_m` (geodesic, list of float),
    `length_m` (total), `part_sides` (per part: (left party, right party) when walking
    from the part's start, '' where there is no territory; the majority over samples).
    """

    def __init__(self, parts: Sequence[LineString], crs: CRS, party_at=None) -> None:
        self.parts: list[LineString] = list(parts)
        self.crs = crs
        self._fwd, self._inv = transformers_for(crs)
        self._build_index()
        self.part_sides: list[tuple[str, str]] = (
            [self._sides_of(k, party_at) for k in range(len(self.parts))] if party_at else []
        )

    # -- index --------------------------------------------------------------------------
    def _build_index(self) -> None:
        self.part_lengths_m: list[float] = []
        self.length_m: float = 0.0
        if not self.parts:
            self._levels: list[_Level] = []
            return
        # coarse level answers most points; the fine level and finally an exact STRtree
        # search take the points the coarse level cannot prove (see _Level.nearest)
        self._levels = [_Level(self.parts, deg, self._fwd) for deg in INDEX_LEVELS_DEG]
        self._scale = _ScaleFactor(self.crs, self._fwd, shapely.total_bounds(self.parts))
        fine = self._levels[-1]
        self.part_lengths_m = [float(x) for x in fine.part_lengths]
        self.length_m = float(sum(self.part_lengths_m))

    def _nearest(self, px: np.ndarray, py: np.ndarray):
        """(level, segment start, t) of the exact nearest line point for projected points."""
        n = len(px)
        seg = np.zeros(n, dtype=np.int64)
        t = np.zeros(n)
        level_of = np.zeros(n, dtype=np.int8)
        todo = np.arange(n)
        for li, lev in enumerate(self._levels):
            last = li == len(self._levels) - 1
            s, tt, proven = lev.nearest(px[todo], py[todo], exact_fallback=last)
            take = proven | last
            seg[todo[take]] = s[take]
            t[todo[take]] = tt[take]
            level_of[todo[take]] = li
            todo = todo[~take]
            if not len(todo):
                break
        return level_of, seg, t

    # -- public queries -----------------------------------------------------------------
    def _require(self) -> None:
        if not self.parts:
            raise ValueError("the territory has no line of contact (no two parties share a boundary)")

    def locate(self, lon, lat):
        """Nearest line point of each input point.

        Returns (near_lon, near_lat, km_along, part_index) arrays; `km_along` is the geodesic
        distance along that part from its northern end.
        """
        self._require()
        lon, lat = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        shape = lon.shape
        lon, lat = lon.ravel(), lat.ravel()
        out_lon = np.empty(len(lon))
        out_lat = np.empty(len(lon))
        out_km = np.empty(len(lon))
        out_part = np.empty(len(lon), dtype=np.int64)
        for a in range(0, len(lon), _CHUNK):
            b = min(a + _CHUNK, len(lon))
            r = self._locate_chunk(lon[a:b], lat[a:b])
            out_lon[a:b], out_lat[a:b], out_km[a:b], out_part[a:b] = r[:4]
        return (
            out_lon.reshape(shape),
            out_lat.reshape(shape),
            out_km.reshape(shape),
            out_part.reshape(shape),
        )

    def _locate_chunk(self, lon, lat):
        px, py = self._fwd.transform(lon, lat)
        px, py = np.asarray(px, dtype=float), np.asarray(py, dtype=float)
        level_of, seg, t = self._nearest(px, py)
        nlon = np.empty(len(px))
        nlat = np.empty(len(px))
        km = np.empty(len(px))
        part = np.empty(len(px), dtype=np.int64)
        for li, lev in enumerate(self._levels):
            m = level_of == li
            if m.any():
                nlon[m], nlat[m], km[m], part[m] = lev.point(seg[m], t[m])
        return nlon, nlat, km, part

    def distance_m(self, lon, lat) -> np.ndarray:
        """Geodesic distance (m) from each point to the nearest point of the line.

        Up to `SHORT_CHORD_M` the distance is the projected chord divided by the
        projection's scale factor at its midpoint (a fitted polynomial; relative error
        < 1e-6, the projection being conformal); longer ones use pyproj's geodesic
        inverse. Both are checked against pyproj in the tests.
        """
        self._require()
        lon, lat = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        shape = lon.shape
        lon, lat = lon.ravel(), lat.ravel()
        out = np.empty(len(lon))
        for a in range(0, len(lon), _CHUNK):
            b = min(a + _CHUNK, len(lon))
            px, py = self._fwd.transform(lon[a:b], lat[a:b])
            px, py = np.asarray(px, dtype=float), np.asarray(py, dtype=float)
            level_of, seg, t = self._nearest(px, py)
            qx = np.empty(len(px))
            qy = np.empty(len(px))
            for li, lev in enumerate(self._levels):
                m = level_of == li
                if m.any():
                    s_, t_ = seg[m], t[m]
                    qx[m] = lev.xy[s_, 0] + t_ * (lev.xy[s_ + 1, 0] - lev.xy[s_, 0])
                    qy[m] = lev.xy[s_, 1] + t_ * (lev.xy[s_ + 1, 1] - lev.xy[s_, 1])
            chord = np.hypot(px - qx, py - qy)
            d = chord / self._scale.at((px + qx) / 2.0, (py + qy) / 2.0)
            far = (chord > SHORT_CHORD_M) | ~self._scale.covers(px, py)
            if far.any():
                idx = np.nonzero(far)[0]
                nlon, nlat = self._inv.transform(qx[idx], qy[idx])
                _az, d[idx] = geodesic_inverse(lon[a:b][idx], lat[a:b][idx], nlon, nlat)
            out[a:b] = d
        return out.reshape(shape)

    def point_at(self, km, part: int = 0):
        """(lon, lat, bearing_deg) of the point `km` along `part` from its northern end.

        `km` may be an array; it is clipped to [0, part length]. The bearing is the
        geodesic azimuth of the line there, in the part's north->south direction.
        """
        self._require()
        if not 0 <= part < len(self.parts):
            raise IndexError(f"line part {part} does not exist (the line has {len(self.parts)} parts)")
        km = np.asarray(km, dtype=float)
        lev = self._levels[-1]
        a, b = int(lev.part_start[part]), int(lev.part_start[part + 1])
        cum = lev.cum[a:b]
        m = np.clip(km * 1000.0, 0.0, cum[-1])
        i = np.clip(np.searchsorted(cum, m, side="right") - 1, 0, len(cum) - 2)
        seglen = cum[i + 1] - cum[i]
        t = np.where(seglen > 0, (m - cum[i]) / np.where(seglen > 0, seglen, 1.0), 0.0)
        lon0, lat0 = lev.lon[a:b][i], lev.lat[a:b][i]
        lon1, lat1 = lev.lon[a:b][i + 1], lev.lat[a:b][i + 1]
        lon = lon0 + t * (lon1 - lon0)
        lat = lat0 + t * (lat1 - lat0)
        az, _d = geodesic_inverse(lon0, lat0, lon1, lat1)
        if km.ndim == 0:
            return float(lon), float(lat), float(az)
        return lon, lat, az

    def sectors(self, length_km: float = 50.0) -> list[Sector]:
        """Each part cut into ceil(L / length_km) sectors of equal length (<= length_km).

        Names are "<part letter>-<index>": part 0 (the main line) is "A", the next
        longest "B", ...; the index counts from the northern end ("A-01", "A-02", ...).
        """
        if length_km <= 0:
            raise ValueError("sector length must be positive")
        out = []
        for p, L in enumerate(self.part_lengths_m):
            Lk = L / 1000.0
            n = max(1, math.ceil(Lk / length_km - 1e-9))
            step = Lk / n
            letter = part_letter(p)
            for i in range(n):
                out.append(Sector(f"{letter}-{i + 1:02d}", p, i * step, Lk if i == n - 1 else (i + 1) * step))
        return out

    def sector_of(self, lon, lat, length_km: float = 50.0) -> np.ndarray:
        """Name of the sector of the nearest line point, for each input point."""
        secs = self.sectors(length_km)
        names = np.array([s.name for s in secs], dtype=object)
        counts = np.zeros(len(self.parts), dtype=np.int64)
        for s in secs:
            counts[s.part] += 1
        offsets = np.concatenate([[0], np.cumsum(counts)])
        lengths_km = np.asarray(self.part_lengths_m) / 1000.0
        _lo, _la, km, part = self.locate(lon, lat)
        step = lengths_km[part] / counts[part]
        idx = np.minimum(np.floor(km / np.where(step > 0, step, 1.0)).astype(np.int64), counts[part] - 1)
        return names[offsets[part] + idx]

    def _sides_of(self, k: int, party_at, samples: int = 15) -> tuple[str, str]:
        L = self.part_lengths_m[k] / 1000.0
        kms = np.linspace(0.05 * L, 0.95 * L, samples)
        lon, lat, az = self.point_at(kms, k)
        left = []
        right = []
        for probe in (30.0, 300.0):
            llon, llat = geodesic_forward(lon, lat, az - 90.0, probe)
            rlon, rlat = geodesic_forward(lon, lat, az + 90.0, probe)
            left.extend(party_at(llon, llat).tolist())
            right.extend(party_at(rlon, rlat).tolist())

        def major(vals: list[str]) -> str:
            vals = [v for v in vals if v]
            return max(set(vals), key=vals.count) if vals else ""

        return major(left), major(right)

    def to_geojson(self) -> dict:
        """The line as a GeoJSON FeatureCollection, one LineString feature per part."""
        feats = []
        for k, g in enumerate(self.parts):
            c = np.asarray(g.coords)
            feats.append(
                {
                    "type": "Feature",
                    "properties": {
                        "part": k,
                        "name": part_letter(k),
                        "length_m": round(self.part_lengths_m[k], 1),
                        "left": self.part_sides[k][0] if self.part_sides else None,
                        "right": self.part_sides[k][1] if self.part_sides else None,
                    },
                    "geometry": {"type": "LineString", "coordinates": c.round(7).tolist()},
                }
            )
        return {"type": "FeatureCollection", "features": feats}


class _Level:
    """The line densified to <= `deg` degrees: projected vertices, k-d tree, geodesic chainage."""

    def __init__(self, parts: Sequence[LineString], deg: float, fwd) -> None:
        xs, ys, lons, lats, part_ids, cums = [], [], [], [], [], []
        for k, g in enumerate(parts):
            d = np.asarray(shapely.segmentize(g, deg).coords)
            lon, lat = d[:, 0], d[:, 1]
            _az, seg = geodesic_inverse(lon[:-1], lat[:-1], lon[1:], lat[1:])
            x, y = fwd.transform(lon, lat)
            xs.append(np.asarray(x, dtype=float))
            ys.append(np.asarray(y, dtype=float))
            lons.append(lon)
            lats.append(lat)
            part_ids.append(np.full(len(lon), k, dtype=np.int64))
            cums.append(np.concatenate([[0.0], np.cumsum(seg)]))
        self.part_lengths = [float(c[-1]) for c in cums]
        self.xy = np.column_stack([np.concatenate(xs), np.concatenate(ys)])
        self.lon = np.concatenate(lons)
        self.lat = np.concatenate(lats)
        self.part = np.concatenate(part_ids)
        self.cum = np.concatenate(cums)
        self.part_start = np.concatenate([[0], np.cumsum([len(c) for c in cums])])
        # segment i joins vertex i and i+1 when both belong to the same part
        self.seg_ok = np.zeros(len(self.xy), dtype=bool)
        self.seg_ok[:-1] = self.part[:-1] == self.part[1:]
        seg_vec = np.diff(self.xy, axis=0)
        seg_len = np.hypot(seg_vec[:, 0], seg_vec[:, 1])
        self.max_seg = float(seg_len[self.seg_ok[:-1]].max()) if self.seg_ok.any() else 0.0
        self.tree = cKDTree(self.xy, leafsize=32)
        self._strtree = None

    def _segment_tree(self):
        if self._strtree is None:
            starts = np.nonzero(self.seg_ok)[0]
            segs = shapely.linestrings(np.stack([self.xy[starts], self.xy[starts + 1]], axis=1))
            self._strtree = (shapely.STRtree(segs), starts)
        return self._strtree

    def project(self, px, py, starts):
        """Nearest points of (px, py) on segments `starts` -> (dist, t); invalid segments -> inf."""
        ok = self.seg_ok[starts]
        s = np.where(ok, starts, 0)
        ax, ay = self.xy[s, 0], self.xy[s, 1]
        dx, dy = self.xy[s + 1, 0] - ax, self.xy[s + 1, 1] - ay
        den = dx * dx + dy * dy
        safe = np.where(den > 0, den, 1.0)
        t = np.clip(((px - ax) * dx + (py - ay) * dy) / safe, 0.0, 1.0)
        dist = np.hypot(px - (ax + t * dx), py - (ay + t * dy))
        return np.where(ok, dist, np.inf), t

    def nearest(self, px, py, exact_fallback: bool):
        """Nearest segment start and t per point, and whether the result is proven exact.

        Candidates are the segments around the two nearest vertices. Every other segment
        has both endpoints at least d3 (third-nearest vertex distance) away, so it is at
        least sqrt(d3^2 - s^2/4) away (s = longest segment); a candidate closer than that
        is proven nearest. With `exact_fallback` unproven points get an STRtree search.
        """
        n = len(px)
        nv = len(self.xy)
        k = min(3, nv)
        dk, ik = self.tree.query(np.column_stack([px, py]), k=k, workers=2)
        dk, ik = dk.reshape(n, k), ik.reshape(n, k)
        m = min(2, k)
        cand = np.clip(np.concatenate([ik[:, :m] - 1, ik[:, :m]], axis=1), 0, nv - 1)
        dist, t = self.project(px[:, None], py[:, None], cand)
        best = np.argmin(dist, axis=1)
        rows = np.arange(n)
        seg = cand[rows, best]
        tb = t[rows, best]
        df = dist[rows, best]
        if k >= 3:
            lower = np.sqrt(np.maximum(dk[:, 2] ** 2 - (self.max_seg**2) / 4.0, 0.0))
            proven = df <= lower + 1e-9 * df + 1e-6
        else:
            proven = np.zeros(n, dtype=bool)
        if exact_fallback:
            bad = np.nonzero(~proven)[0]
            if len(bad):
                tree, starts = self._segment_tree()
                idx = tree.query_nearest(shapely.points(px[bad], py[bad]), all_matches=False)
                segs = starts[idx[1]]
                _d, t2 = self.project(px[bad][idx[0]], py[bad][idx[0]], segs)
                seg[bad[idx[0]]] = segs
                tb[bad[idx[0]]] = t2
                proven[bad] = True
        return seg, tb, proven

    def point(self, seg, t):
        """(lon, lat, km along the part, part index) of points t along segments `seg`."""
        lon = self.lon[seg] + t * (self.lon[seg + 1] - self.lon[seg])
        lat = self.lat[seg] + t * (self.lat[seg + 1] - self.lat[seg])
        km = (self.cum[seg] + t * (self.cum[seg + 1] - self.cum[seg])) / 1000.0
        return lon, lat, km, self.part[seg]


class _ScaleFactor:
    """Point scale factor of the (conformal) query projection as a fitted polynomial in x, y.

    Fitted by least squares to pyproj's exact factors on a grid covering the line's
    extent plus 8 degrees; the fit is accepted only if its worst residual on the grid is
    below 1e-7, otherwise `at` is not used (`covers` is all False).
    """

    DEG = 4

    def __init__(self, crs: CRS, fwd, bounds) -> None:
        from pyproj import Proj

        minx, miny, maxx, maxy = (float(v) for v in bounds)
        lon, lat = np.meshgrid(
            np.linspace(minx - 8.0, maxx + 8.0, 70),
            np.linspace(max(miny - 6.0, -85.0), min(maxy + 6.0, 85.0), 70),
        )
        lon, lat = lon.ravel(), lat.ravel()
        f = Proj(crs).get_factors(lon, lat)
        k = np.asarray(f.meridional_scale, dtype=float)
        x, y = fwd.transform(lon, lat)
        x, y = np.asarray(x) / 1e6, np.asarray(y) / 1e6
        ok = np.isfinite(k) & np.isfinite(x) & np.isfinite(y)
        self._coef = np.linalg.lstsq(self._design(x[ok], y[ok]), k[ok], rcond=None)[0]
        resid = np.abs(self._design(x[ok], y[ok]) @ self._coef - k[ok]).max()
        self.valid = bool(resid < 1e-7)
        # the box (projected metres) inside which the fit is trusted: 2 degrees inside the grid
        lo, hi = (minx - 6.0, miny - 4.0), (maxx + 6.0, maxy + 4.0)
        bx0, by0 = fwd.transform(lo[0], lo[1])
        bx1, by1 = fwd.transform(hi[0], hi[1])
        self._box = (min(bx0, bx1), min(by0, by1), max(bx0, bx1), max(by0, by1))

    def _design(self, x, y):
        return np.column_stack([x**i * y**j for i in range(self.DEG + 1) for j in range(self.DEG + 1 - i)])

    def at(self, x, y) -> np.ndarray:
        xs, ys = x / 1e6, y / 1e6
        k = np.zeros_like(xs)
        c = 0
        for i in range(self.DEG + 1):
            for j in range(self.DEG + 1 - i):
                k += self._coef[c] * xs**i * ys**j
                c += 1
        return k

    def covers(self, x, y) -> np.ndarray:
        if not self.valid:
            return np.zeros(np.shape(x), dtype=bool)
        x0, y0, x1, y1 = self._box
        return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
