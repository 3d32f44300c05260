"""Calibrated attribution: the probability that an event's position lies in each party's territory.

What is computed
----------------
For an event with best estimate ``(lon, lat)`` and position covariance ``cov_en_m2`` (2x2, local
east/north metres, spec section 4), the position is modelled as a bivariate normal in the local
tangent plane at the estimate, and for each party we compute

    P(party) = integral of that normal over the party's territory polygons.

The probabilities sum to at most 1; the remainder (mass at sea, abroad, outside the file) is
"undetermined". A party is named ``responsible`` only when its probability reaches the agreement
profile's threshold (``p >= threshold``, default 0.95); otherwise ``responsible`` is null.

How (exact, no sampling)
------------------------
Whiten the plane with the Cholesky factor ``L`` of the covariance (``w = L^-1 x``): the position
becomes a standard normal and polygons stay polygons (edges are straight in the tangent plane).
For a closed polygon and the origin at the estimate, the standard normal mass inside is, summing
over the oriented edges (triangle fan from the origin, polar coordinates),

    P = W(origin) - sum_edges (1/2pi) * signed integral over the edge's angle of exp(-r(theta)^2 / 2),

where ``W`` is the winding number (1 inside, 0 outside, holes included). For a straight edge at
perpendicular distance ``h`` from the origin whose ends sit at along-line positions ``ta < tb``
(measured from the foot of the perpendicular), that angular integral is exactly
``T(h, tb/h) - T(h, ta/h)`` with Owen's T function (``T(h,a) = 1/2pi int_0^atan(a)
exp(-h^2 / (2 cos^2 phi)) dphi``), evaluated to ~1e-16 by ``scipy.special.owens_t``. Its
magnitude is at most ``exp(-h^2/2)/4``, so only edges within ``R_SIGMA`` (8) standard deviations
of the estimate matter (the neglected rest is < 1e-13): they are found for all events at once with
an STR-tree over the territory's edges, and an event with no edge that close is decided by the
point-in-polygon test alone (the fast path, probability exactly 1 or 0). Everything is vectorized
over events and edges: there is no per-event Python loop.

Geometry model: territory edges are straight in lon/lat (as Shapely and every GeoJSON reader treat
them). They are first densified to at most ``MAX_SEGMENT_DEG`` (0.005 degree, ~400-550 m) so that
"straight in lon/lat" and "straight in the tangent plane" differ by millimetres; vertices are then
mapped exactly to the event's east/north tangent plane on the WGS84 ellipsoid.

Honesty: the probability is exactly as calibrated as the covariance it integrates. Model error
(sensor survey error, map registration) belongs in the fusion covariance, where it is published
alongside the attribution, so that anyone can recompute the attribution from ``events.geojson``
alone. An optional extra floor (``floor_m``, a 1-sigma error added in quadrature on both axes;
profile key ``attribution_floor_m``) is available and defaults to 0. Published probabilities are
rounded *down* to 1e-6 and the decision is taken on the published value, so a reader of the file
always reaches the same decision and rounding can never name a party.
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from scipy.special import owens_t

from truceline.errors import TrucelineError

R_SIGMA = 8.0
"""Edges farther than this many standard deviations (largest axis) are ignored (error < 1e-13)."""
MAX_SEGMENT_DEG = 0.005
"""Territory edges are densified to at most this length in degrees before integration."""
DEFAULT_THRESHOLD = 0.95
PUBLISH_DECIMALS = 6
"""Published probabilities are floored to this many decimals (never rounded up)."""
MIN_SIGMA_M = 0.01
"""Covariance eigenvalues are raised to at least this 1-sigma (m) so a point estimate stays integrable."""
SUBDIVIDE_K = 6_500.0
"""Edges near an event are cut into pieces <= sqrt(SUBDIVIDE_K * sigma_min) m: their chords then stay
within ~1e-4 sigma_min of the lon/lat-straight edge (curvature <= tan(lat) / (sqrt(2) R))."""
LENS_M = 1.0
"""Distance (m) below which the estimate's side of a chord is cross-checked against the lon/lat edge."""
DEGENERATE_M = 1e-7
NUDGE_M = 1e-6
CHUNK_EVENTS = 4096

# WGS84
_A = 6378137.0
_F = 1.0 / 298.257223563
_E2 = _F * (2.0 - _F)

# ---------------------------------------------------------------------------------------------
# Geometry helpers
# ---------------------------------------------------------------------------------------------


def _ecef(lon_deg: np.ndarray, lat_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Earth-centred coordinates (m) of points on the WGS84 ellipsoid (altitude 0)."""
    lam = np.radians(lon_deg)
    phi = np.radians(lat_deg)
    sphi = np.sin(phi)
    n = _A / np.sqrt(1.0 - _E2 * sphi * sphi)
    cphi = np.cos(phi)
    return n * cphi * np.cos(lam), n * cphi * np.sin(lam), n * (1.0 - _E2) * sphi


def enu_of(
    lon0: np.ndarray, lat0: np.ndarray, lon: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """East/north (m) of points ``(lon, lat)`` in the tangent planes at ``(lon0, lat0)`` (elementwise).

    Exact local ENU on the WGS84 ellipsoid (the up component is dropped), vectorized so that
    every element may have its own origin.
    """
    x0, y0, z0 = _ecef(lon0, lat0)
    return _enu_from_ecef(_Frames(lon0, lat0), slice(None), _ecef(lon, lat))


class _Frames:
    """Per-origin ECEF position and rotation terms of local east/north tangent planes."""

    def __init__(self, lon0: np.ndarray, lat0: np.ndarray) -> None:
        self.x0, self.y0, self.z0 = _ecef(lon0, lat0)
        lam, phi = np.radians(lon0), np.radians(lat0)
        self.sl, self.cl, self.sp, self.cp = np.sin(lam), np.cos(lam), np.sin(phi), np.cos(phi)


def _enu_from_ecef(
    fr: _Frames, i: Any, xyz: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """East/north of ECEF points ``xyz`` in the frames ``fr[i]`` (elementwise)."""
    dx, dy, dz = xyz[0] - fr.x0[i], xyz[1] - fr.y0[i], xyz[2] - fr.z0[i]
    sl, cl, sp = fr.sl[i], fr.cl[i], fr.sp[i]
    e = -sl * dx + cl * dy
    n = -sp * (cl * dx + sl * dy) + fr.cp[i] * dz
    return e, n


def _polygon_parts(geom: Any) -> list[Any]:
    parts = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and not g.is_empty]
    return parts


@dataclass(frozen=True)
class TerritoryIndex:
    """Oriented territory edges (exteriors CCW, holes CW) of every party and an STR-tree over them."""

    parties: tuple[str, ...]
    geoms: tuple[Any, ...]  # party geometries (lon/lat), prepared for point-in-polygon tests
    x0: np.ndarray  # edge start lon
    y0: np.ndarray  # edge start lat
    x1: np.ndarray  # edge end lon
    y1: np.ndarray  # edge end lat
    party_of_edge: np.ndarray  # index into parties
    tree: shapely.STRtree
    xyz0: tuple[np.ndarray, np.ndarray, np.ndarray]  # ECEF of edge starts
    xyz1: tuple[np.ndarray, np.ndarray, np.ndarray]  # ECEF of edge ends


def _build_index(parties: Sequence[str], geoms: Sequence[Any]) -> TerritoryIndex:
    xs0, ys0, xs1, ys1, owner = [], [], [], [], []
    prepared = []
    for k, geom in enumerate(geoms):
        dense = shapely.segmentize(geom, MAX_SEGMENT_DEG)
        dense = shapely.orient_polygons(dense, exterior_cw=False)
        shapely.prepare(geom)
        prepared.append(geom)
        for poly in _polygon_parts(dense):
            for ring in [poly.exterior, *poly.interiors]:
                c = shapely.get_coordinates(ring)
                if len(c) < 4:
                    continue
                xs0.append(c[:-1, 0])
                ys0.append(c[:-1, 1])
                xs1.append(c[1:, 0])
                ys1.append(c[1:, 1])
                owner.append(np.full(len(c) - 1, k, dtype=np.int32))
    if xs0:
        x0, y0 = np.concatenate(xs0), np.concatenate(ys0)
        x1, y1 = np.concatenate(xs1), np.concatenate(ys1)
        party_of_edge = np.concatenate(owner)
    else:
        x0 = y0 = x1 = y1 = np.zeros(0)
        party_of_edge = np.zeros(0, dtype=np.int32)
    boxes = shapely.box(np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1))
    return TerritoryIndex(
        tuple(parties),
        tuple(prepared),
        x0,
        y0,
        x1,
        y1,
        party_of_edge,
        shapely.STRtree(boxes),
        _ecef(x0, y0),
        _ecef(x1, y1),
    )


_INDEX_CACHE: weakref.WeakKeyDictionary[Any, TerritoryIndex] = weakref.WeakKeyDictionary()


def _territory_geoms(territory: Any) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """(parties, geometries) of a ``truceline.geo`` Territory or of a mapping party -> geometry."""
    if isinstance(territory, Mapping):
        parties = tuple(territory.keys())
        return parties, tuple(territory[p] for p in parties)
    parties = tuple(territory.parties)
    return parties, tuple(territory.polygon(p) for p in parties)


def edge_index(territory: Any) -> TerritoryIndex:
    """The (cached) edge index of a territory; built once per Territory object.

    ``territory`` may be a ``truceline.geo`` Territory, a mapping party -> Shapely geometry
    (lon/lat), or an index already built by this function (returned as is).
    """
    if isinstance(territory, TerritoryIndex):
        return territory
    try:
        cached = _INDEX_CACHE.get(territory)
    except TypeError:  # not weak-referenceable (e.g. a dict)
        cached = None
    if cached is not None:
        return cached
    parties, geoms = _territory_geoms(territory)
    index = _build_index(parties, geoms)
    with contextlib.suppress(TypeError):
        _INDEX_CACHE[territory] = index
    return index


# ---------------------------------------------------------------------------------------------
# Covariance handling
# ---------------------------------------------------------------------------------------------


def valid_covariances(cov_en_m2: np.ndarray) -> np.ndarray:
    """Mask (N,) of covariances (N,2,2) that are finite, symmetric to 1e-6 and positive semidefinite."""
    cov = np.asarray(cov_en_m2, dtype=float)
    finite = np.isfinite(cov).all(axis=(1, 2))
    c = np.where(finite[:, None, None], cov, 0.0)
    a, b, d = c[:, 0, 0], 0.5 * (c[:, 0, 1] + c[:, 1, 0]), c[:, 1, 1]
    scale = np.maximum(np.abs(a) + np.abs(d), 1.0)
    symmetric = np.abs(c[:, 0, 1] - c[:, 1, 0]) <= 1e-6 * scale
    lmin = 0.5 * (a + d) - np.sqrt(0.25 * (a - d) ** 2 + b * b)
    return finite & symmetric & (lmin >= -1e-9 * scale) & (a >= 0) & (d >= 0)


def regularize_cov(cov_en_m2: np.ndarray, floor_m: float = 0.0) -> np.ndarray:
    """Validated, symmetrized covariances (N,2,2) with ``floor_m`` added in quadrature.

    Raises ValueError for non-finite or non-positive-semidefinite input. Eigenvalues are raised to
    at least ``MIN_SIGMA_M**2`` so that a zero covariance (an exact point) remains integrable.
    """
    cov = np.asarray(cov_en_m2, dtype=float)
    if cov.ndim != 3 or cov.shape[1:] != (2, 2):
        raise ValueError(f"covariances must have shape (N, 2, 2), got {cov.shape}")
    if not np.all(np.isfinite(cov)):
        raise ValueError("covariance contains non-finite values")
    cov = 0.5 * (cov + np.transpose(cov, (0, 2, 1)))
    a, b, c = cov[:, 0, 0], cov[:, 0, 1], cov[:, 1, 1]
    half_tr = 0.5 * (a + c)
    disc = np.sqrt(np.maximum(0.25 * (a - c) ** 2 + b * b, 0.0))
    lmin = half_tr - disc
    scale = np.maximum(np.abs(half_tr), 1.0)
    if np.any(lmin < -1e-9 * scale):
        bad = int(np.flatnonzero(lmin < -1e-9 * scale)[0])
        raise ValueError(f"covariance #{bad} is not positive semidefinite: {cov[bad].tolist()}")
    add = float(floor_m) ** 2 + np.maximum(MIN_SIGMA_M**2 - np.maximum(lmin, 0.0), 0.0)
    out = cov.copy()
    out[:, 0, 0] += add
    out[:, 1, 1] += add
    return out


def ellipse_95(cov_en_m2: Sequence[Sequence[float]]) -> tuple[float, float, float]:
    """(semi-major m, semi-minor m, azimuth of the major axis in degrees clockwise from north, 0..180)
    of the 95 % confidence ellipse of a 2x2 east/north covariance (chi-square 2 dof: 5.991)."""
    cov = np.asarray(cov_en_m2, dtype=float)
    vals, vecs = np.linalg.eigh(cov)
    k = -2.0 * math.log(0.05)
    major = math.sqrt(max(vals[1], 0.0) * k)
    minor = math.sqrt(max(vals[0], 0.0) * k)
    ve, vn = vecs[0, 1], vecs[1, 1]
    az = math.degrees(math.atan2(ve, vn)) % 180.0
    return major, minor, az


# ---------------------------------------------------------------------------------------------
# The integral
# ---------------------------------------------------------------------------------------------


def _cholesky(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(l11, l21, l22, sigma_max, sigma_min) of regularized 2x2 covariances."""
    a, b, c = cov[:, 0, 0], cov[:, 0, 1], cov[:, 1, 1]
    l11 = np.sqrt(a)
    l21 = b / l11
    l22 = np.sqrt(np.maximum(c - l21 * l21, (MIN_SIGMA_M * 1e-3) ** 2))
    half, disc = 0.5 * (a + c), np.sqrt(0.25 * (a - c) ** 2 + b * b)
    return l11, l21, l22, np.sqrt(half + disc), np.sqrt(np.maximum(half - disc, MIN_SIGMA_M**2))


def _integrate(
    index: TerritoryIndex, lon: np.ndarray, lat: np.ndarray, cov: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities (N, n_parties), degenerate mask (N,)) for regularized covariances.

    Degenerate events (estimate within a micrometre of an edge) are flagged for the caller to
    nudge; their returned row is meaningless.
    """
    n = len(lon)
    n_par = len(index.parties)
    probs = np.zeros((n, n_par))
    for k, geom in enumerate(index.geoms):
        probs[:, k] = shapely.contains_xy(geom, lon, lat).astype(float)
    degenerate = np.zeros(n, dtype=bool)
    if n == 0 or len(index.x0) == 0:
        return probs, degenerate

    l11, l21, l22, sig_max, sig_min = _cholesky(cov)

    # Query boxes: R_SIGMA * sigma_max around each estimate, in degrees (generous conversion).
    radius = R_SIGMA * sig_max * 1.02 + 1.0
    dlat = radius / 110_000.0
    lat_far = np.minimum(np.abs(lat) + dlat, 89.9)
    dlon = radius / (111_000.0 * np.cos(np.radians(lat_far)))
    boxes = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
    ev, ed = index.tree.query(boxes)
    if len(ev) == 0:
        return probs, degenerate

    def whiten(i, e, nn):
        x = e / l11[i]
        return x, (nn - l21[i] * x) / l22[i]

    # 1. Prune candidate edges by their whitened distance to the estimate.
    fr = _Frames(lon, lat)
    ea, na = _enu_from_ecef(fr, ev, tuple(c[ed] for c in index.xyz0))
    eb, nb = _enu_from_ecef(fr, ev, tuple(c[ed] for c in index.xyz1))
    ax, ay = whiten(ev, ea, na)
    bx, by = whiten(ev, eb, nb)
    dx, dy = bx - ax, by - ay
    len2 = np.maximum(dx * dx + dy * dy, 1e-300)
    t = np.clip(-(ax * dx + ay * dy) / len2, 0.0, 1.0)
    dist = np.hypot(ax + t * dx, ay + t * dy)
    keep = dist < R_SIGMA + 0.5
    ev, ed = ev[keep], ed[keep]
    if len(ev) == 0:
        return probs, degenerate
    len_m = np.hypot(eb[keep] - ea[keep], nb[keep] - na[keep])

    # 2. Subdivide each kept edge (straight in lon/lat) so that its chords in the tangent plane
    #    deviate from it by < ~1e-4 sigma_min (sagitta = curvature * L^2 / 8).
    pieces = np.clip(np.ceil(len_m / np.sqrt(SUBDIVIDE_K * sig_min[ev])), 1, 512).astype(np.int64)
    rep = np.repeat(np.arange(len(ev)), pieces)
    first = np.cumsum(pieces) - pieces
    j = np.arange(len(rep)) - first[rep]
    f0 = j / pieces[rep]
    f1 = (j + 1) / pieces[rep]
    ev, ed = ev[rep], ed[rep]
    gx0, gy0, gx1, gy1 = index.x0[ed], index.y0[ed], index.x1[ed], index.y1[ed]
    sx0, sy0 = gx0 + f0 * (gx1 - gx0), gy0 + f0 * (gy1 - gy0)
    sx1, sy1 = gx0 + f1 * (gx1 - gx0), gy0 + f1 * (gy1 - gy0)
    whole = pieces[rep] == 1  # unsplit edges: reuse the vertices' precomputed ECEF
    ea, na = _enu_from_ecef(fr, ev, tuple(c[ed] for c in index.xyz0))
    eb, nb = _enu_from_ecef(fr, ev, tuple(c[ed] for c in index.xyz1))
    split = np.flatnonzero(~whole)
    if len(split):
        ea[split], na[split] = _enu_from_ecef(fr, ev[split], _ecef(sx0[split], sy0[split]))
        eb[split], nb[split] = _enu_from_ecef(fr, ev[split], _ecef(sx1[split], sy1[split]))

    # 3. Consistency with the point-in-polygon test (which treats edges as straight in lon/lat):
    #    within the thin lens between an edge and its chord the two disagree about the side.
    de, dn = eb - ea, nb - na
    seg_m = np.hypot(de, dn)
    ok = seg_m > 0
    seg_m_safe = np.where(ok, seg_m, 1.0)
    cross_m = ea * nb - na * eb  # > 0: estimate left of the chord (inside, for a CCW ring)
    h_m = np.abs(cross_m) / seg_m_safe
    t_m = -(ea * de + na * dn) / seg_m_safe  # along-chord position of the foot, metres from start
    within = ok & (t_m > -1e-6) & (t_m < seg_m + 1e-6)
    close = within & (h_m < LENS_M)
    if np.any(close):
        ci = np.flatnonzero(close)
        coslat = np.cos(np.radians(lat[ev[ci]]))
        ux, uy = (sx1[ci] - sx0[ci]) * coslat, sy1[ci] - sy0[ci]
        px, py = (lon[ev[ci]] - sx0[ci]) * coslat, lat[ev[ci]] - sy0[ci]
        cross_ll = ux * py - uy * px
        h_ll_m = np.abs(cross_ll) / np.maximum(np.hypot(ux, uy), 1e-300) * 110_000.0
        bad = (h_m[ci] < DEGENERATE_M) | (h_ll_m < DEGENERATE_M)
        if np.any(bad):
            degenerate[np.unique(ev[ci[bad]])] = True
        fix = (np.sign(cross_m[ci]) - np.sign(cross_ll)) * 0.5
        flat = ev[ci] * n_par + index.party_of_edge[ed[ci]]
        probs += np.bincount(flat, weights=fix, minlength=n * n_par).reshape(n, n_par)

    # 4. The edge sum: W - sum sign * (T(h, tb/h) - T(h, ta/h)) in whitened coordinates.
    ax, ay = whiten(ev, ea, na)
    bx, by = whiten(ev, eb, nb)
    dx, dy = bx - ax, by - ay
    length = np.hypot(dx, dy)
    ok &= length > 0
    length = np.where(ok, length, 1.0)
    ux, uy = dx / length, dy / length
    cross = ax * by - ay * bx
    h = np.abs(ax * uy - ay * ux)
    ta = ax * ux + ay * uy
    tb = bx * ux + by * uy
    near = ok & (h < R_SIGMA + 1.0) & (h > 0)
    hs = h[near]
    with np.errstate(over="ignore"):  # tiny h: t/h -> +-inf, where T(h, +-inf) is exact
        term = np.sign(cross[near]) * (owens_t(hs, tb[near] / hs) - owens_t(hs, ta[near] / hs))
    flat = ev[near] * n_par + index.party_of_edge[ed[near]]
    probs -= np.bincount(flat, weights=term, minlength=n * n_par).reshape(n, n_par)
    return np.clip(probs, 0.0, 1.0), degenerate


def _integrate_chunked(
    index: TerritoryIndex, lon: np.ndarray, lat: np.ndarray, cov: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    probs = np.zeros((len(lon), len(index.parties)))
    degenerate = np.zeros(len(lon), dtype=bool)
    for a in range(0, len(lon), CHUNK_EVENTS):
        b = min(a + CHUNK_EVENTS, len(lon))
        probs[a:b], degenerate[a:b] = _integrate(index, lon[a:b], lat[a:b], cov[a:b])
    return probs, degenerate


def attribute_positions_array(
    territory: Any, lon: Any, lat: Any, cov_en_m2: Any, floor_m: float = 0.0
) -> tuple[tuple[str, ...], np.ndarray]:
    """(parties, probabilities (N, n_parties)) for N positions and their covariances.

    Unrounded; rows sum to at most 1 (up to ~1e-12). See the module docstring for the method.
    """
    index = edge_index(territory)
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    if lon.shape != lat.shape or lon.ndim != 1:
        raise ValueError("lon and lat must be 1-D arrays of the same length")
    if not (np.all(np.isfinite(lon)) and np.all(np.isfinite(lat))):
        raise ValueError("positions contain non-finite values")
    cov = regularize_cov(np.asarray(cov_en_m2, dtype=float).reshape(-1, 2, 2), floor_m)
    if len(cov) != len(lon):
        raise ValueError(f"{len(lon)} positions but {len(cov)} covariances")
    probs, degenerate = _integrate_chunked(index, lon, lat, cov)
    # Estimates within 0.1 micrometre of a boundary: the integral is continuous there, so evaluate it
    # at a point moved by NUDGE_M (1 micrometre; changes the result by < 4e-7 / sigma_min[m]).
    for attempt in range(4):
        if not np.any(degenerate):
            break
        idx = np.flatnonzero(degenerate)
        step = NUDGE_M * (attempt + 1)
        ang = 0.7 + 1.3 * attempt
        de, dn = step * math.sin(ang), step * math.cos(ang)
        lon2 = lon[idx] + de / (111_000.0 * np.cos(np.radians(lat[idx])))
        lat2 = lat[idx] + dn / 111_000.0
        p2, degenerate2 = _integrate_chunked(index, lon2, lat2, cov[idx])
        probs[idx] = p2
        degenerate = np.zeros_like(degenerate)
        degenerate[idx[degenerate2]] = True
    total = probs.sum(axis=1)
    over = total > 1.0
    if np.any(over):  # only rounding residue (or overlapping polygons, which geo rejects)
        probs[over] /= total[over, None]
    return index.parties, probs


def attribute_positions(
    territory: Any, lon: Any, lat: Any, cov_en_m2: Any, floor_m: float = 0.0
) -> dict[str, np.ndarray]:
    """Probability that each of N positions lies in each party's territory.

    ``lon``, ``lat``: shape (N,) degrees; ``cov_en_m2``: shape (N, 2, 2), local east/north m^2.
    Returns ``{party: ndarray (N,)}``; per event the values sum to at most 1, the remainder being
    mass outside every polygon. Accurate to ~1e-9 against the exact integral (see module doc).
    """
    parties, probs = attribute_positions_array(territory, lon, lat, cov_en_m2, floor_m)
    return {p: probs[:, k] for k, p in enumerate(parties)}


# ---------------------------------------------------------------------------------------------
# Decisions and the events output
# ---------------------------------------------------------------------------------------------


def publish_probability(p: float) -> float:
    """A probability as written to events.geojson: floored (never rounded up) to 1e-6."""
    scale = 10**PUBLISH_DECIMALS
    return math.floor(float(p) * scale + 1e-6) / scale if p < 1.0 else 1.0


def publish_probabilities(probs: np.ndarray) -> np.ndarray:
    """Vectorized ``publish_probability``."""
    scale = 10.0**PUBLISH_DECIMALS
    p = np.asarray(probs, dtype=float)
    return np.where(p >= 1.0, 1.0, np.floor(p * scale + 1e-6) / scale)


def decide(attribution: Mapping[str, float], threshold: float) -> str | None:
    """The party whose published probability is >= threshold, else None.

    The threshold must exceed 0.5, so at most one party can reach it.
    """
    check_threshold(threshold)
    best = None
    for party, p in attribution.items():
        if p >= threshold and (best is None or p > attribution[best]):
            best = party
    return best


def check_threshold(threshold: float) -> float:
    t = float(threshold)
    if not (0.5 < t <= 1.0) or math.isnan(t):
        raise TrucelineError(f"attribution threshold must be in (0.5, 1], got {threshold!r}")
    return t


def _profile_value(profile: Any, name: str, default: Any) -> Any:
    if profile is None:
        return default
    if isinstance(profile, Mapping):
        return profile.get(name, default)
    value = getattr(profile, name, None)
    return default if value is None else value


_POSITION_TYPES = ("launch", "weapon_sighting")


def _cov_of(props: Mapping[str, Any]) -> np.ndarray | None:
    cov = props.get("cov_en_m2")
    if cov is None and props.get("cep_m") is not None:
        cep = float(props["cep_m"])
        s2 = (cep / math.sqrt(2.0 * math.log(2.0))) ** 2  # CEP (50 %) of a circular normal -> sigma
        return np.array([[s2, 0.0], [0.0, s2]])
    try:
        arr = np.asarray(cov, dtype=float)
    except (TypeError, ValueError):
        return None
    if arr.shape != (2, 2) or not np.all(np.isfinite(arr)):
        return None
    return arr


def _position_ok(feature: Mapping[str, Any]) -> tuple[float, float] | None:
    try:
        lon, lat = feature["geometry"]["coordinates"][:2]
        lon, lat = float(lon), float(lat)
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return None
    return lon, lat


MIN_REDUNDANT_DOF = 2.0
MIN_OWN_ARRIVALS = 4  # arrivals no other located source predicts (3 suffice with an azimuth)
MAX_BACKGROUND = 0.05  # unexplained detections per member array within +-10 s (~9 per array-hour)


def _barely_determined(props: dict[str, Any]) -> bool:
    """True for an acoustic-only fix with fewer than `MIN_REDUNDANT_DOF` redundant
    measurements (`quality.dof` from the fusion) that may be made of other sources' leftovers:
    its chi-square test has almost no power to reveal a wrong association (the far-array
    remainder of a source located elsewhere fits somewhere), so its small covariance cannot
    be trusted to accuse anyone unless the analysis checked that its arrivals are its own:
    `quality.explained_by_others` is the share of its arrivals another located source
    predicts (`acoustic_events.explained_by_others`), and the arrivals left must still locate
    a source by themselves (`MIN_OWN_ARRIVALS`, or one fewer with an azimuth): a mixture of
    a few leftovers with a few detections of its own fails that. Its arrays must also be quiet
    (`quality.background`, unexplained detections per member array within +-10 s, at most
    `MAX_BACKGROUND`): chance fits of clutter grow with the fourth power of that rate. Without
    these checks the event stays undetermined; radar or drone evidence, or more arrays, lift this. Also
    true for a launch the analysis marked `quality.uncorroborated` (a radar-only track that
    nearby arrays did not hear)."""
    sources = props.get("sources")
    quality = props.get("quality")
    if not isinstance(sources, dict) or not isinstance(quality, dict):
        return False
    if quality.get("uncorroborated") is True:  # see analysis.corroboration: silent arrays contradict it
        return True
    dof = quality.get("dof")
    only_acoustic = set(sources) == {"acoustic"}
    if not (only_acoustic and isinstance(dof, int | float) and dof < MIN_REDUNDANT_DOF):
        return False
    share = quality.get("explained_by_others")
    n = sources.get("acoustic")
    if not (isinstance(share, int | float) and isinstance(n, int) and 0.0 <= share <= 1.0):
        return True
    background = quality.get("background")
    if not (isinstance(background, int | float) and background <= MAX_BACKGROUND):
        return True  # among frequent unexplained detections, four of them line up by chance
    own = round(n * (1.0 - share))
    need = MIN_OWN_ARRIVALS - (1 if (quality.get("n_azimuths") or 0) >= 1 else 0)
    return own < need


def withheld_reason(props: Mapping[str, Any]) -> str | None:
    """Plain-language reason why a launch or sighting with a position is left undetermined
    (or why its probabilities are scaled down), or None. Used by `truceline explain`."""
    quality = props.get("quality") if isinstance(props.get("quality"), dict) else {}
    if quality.get("uncorroborated") is True:
        near, heard = quality.get("near_arrays"), quality.get("heard_arrays")
        if near is not None and heard is not None:
            lr = quality.get("hearing_log10_lr")
            lr_text = f"; their evidence favours a false track by 10^{-lr:.1f} to 1" if lr is not None else ""
            return (f"only a radar track reports this launch, and of the {near} acoustic arrays within "
                    f"10 km, {heard} had a detection when its sound should have reached them{lr_text}. "
                    "A real launch that close is heard, so the radar alone does not accuse anyone")
        return (f"only a radar track reports this launch, and {quality.get('silent_arrays')} acoustic arrays "
                "within 10 km heard nothing, so the radar alone does not accuse anyone")
    if _barely_determined(dict(props)):
        share, bg = quality.get("explained_by_others"), quality.get("background")
        why = ("" if not isinstance(share, int | float) else
               f", other located sources predict {share:.0%} of its arrivals (it may be made of their leftovers)")
        if isinstance(bg, int | float) and bg > MAX_BACKGROUND:
            why += (f", and its arrays have {bg:.2f} unexplained detections each within 10 s (above "
                    f"{MAX_BACKGROUND:g}: chance alignments of clutter are frequent there)")
        return (f"the acoustic fix has {quality.get('dof')} redundant measurements (fewer than "
                f"{MIN_REDUNDANT_DOF:g}){why}: its consistency test cannot reveal a wrong association, so its small "
                "ellipse is not trusted to accuse anyone")
    c = props.get("confidence")
    if props.get("type") == "weapon_sighting" and isinstance(c, int | float) and c < 1.0:
        return (f"the drones' looks at this object combine to a confidence of {c:.3f} that it is real and of its "
                "reported class (decoys and misidentified vehicles are nobody's weapon); the territorial "
                "probabilities below are multiplied by it")
    return None


def _sighting_confidence(features: list[dict[str, Any]], rows: list[int]) -> np.ndarray:
    """Probability that each attributed object is real and of its reported class.

    A drone's `confidence` (spec: 0..1) is that probability for one look; the fusion combines
    the looks of one object into the sighting's `confidence` (`fusion.combined_confidence`).
    A decoy or a misclassified vehicle is nobody's weapon, so the territorial probability is
    scaled by it. Launches, and sightings without a reported confidence,
    get 1: their existence is not in doubt in the reports.
    """
    out = np.ones(len(rows))
    for r, i in enumerate(rows):
        props = features[i]["properties"]
        c = props.get("confidence")
        if props.get("type") == "weapon_sighting" and isinstance(c, int | float) and 0.0 <= c <= 1.0:
            out[r] = float(c)
    return out


def apply_attribution(features: list[dict[str, Any]], territory: Any, profile: Any = None) -> None:
    """Fill ``properties.attribution`` and ``properties.responsible`` of spec event Features in place.

    - launch: probability that the firing position lies in each party's territory;
    - weapon_sighting: probability that the object stands in each party's territory, times the
      probability that it is real and correctly classified (the sighting's ``confidence``);
    - impact: copied from its ``launch_event`` (the launch, located by acoustics or radar, is the
      evidence of who fired); an impact without a known launch stays undetermined (``{}``/null),
      since where a shell lands does not say who fired it;
    - every other type (thermal, monitor_report, ...): undetermined.
    Attributed events list every party of the territory (0.0 included); an event whose covariance
    is missing or invalid is undetermined (``{}``) rather than guessed.
    """
    threshold = check_threshold(_profile_value(profile, "attribution_threshold", DEFAULT_THRESHOLD))
    floor_m = float(_profile_value(profile, "attribution_floor_m", 0.0))

    rows: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    covs: list[np.ndarray] = []
    for i, f in enumerate(features):
        props = f.setdefault("properties", {})
        props["attribution"] = {}
        props["responsible"] = None
        if props.get("type") not in _POSITION_TYPES:
            continue
        pos = _position_ok(f)
        cov = _cov_of(props)
        if pos is None or cov is None or _barely_determined(props):
            continue
        rows.append(i)
        lons.append(pos[0])
        lats.append(pos[1])
        covs.append(cov)

    if rows:
        cov_arr = np.stack(covs)
        good = valid_covariances(cov_arr)  # an invalid covariance leaves the event undetermined
        rows = [r for r, g in zip(rows, good, strict=True) if g]
        parties, probs = attribute_positions_array(
            territory, np.array(lons)[good], np.array(lats)[good], cov_arr[good], floor_m
        )
        probs = probs * _sighting_confidence(features, rows)[:, None]
        published = publish_probabilities(probs)
        named = published >= threshold  # threshold > 0.5: at most one party per row
        for r, i in enumerate(rows):
            props = features[i]["properties"]
            props["attribution"] = {party: float(published[r, k]) for k, party in enumerate(parties)}
            hit = np.flatnonzero(named[r])
            props["responsible"] = parties[int(hit[0])] if len(hit) else None

    by_id = {f["properties"].get("id"): f for f in features if "id" in f.get("properties", {})}
    launch_of_impact = {
        f["properties"].get("impact_event"): f
        for f in features
        if f["properties"].get("type") == "launch" and f["properties"].get("impact_event") is not None
    }
    for f in features:
        props = f["properties"]
        if props.get("type") != "impact":
            continue
        # the link may be written on either side (impact.launch_event or launch.impact_event)
        launch = by_id.get(props.get("launch_event")) if props.get("launch_event") is not None else None
        if launch is None:
            launch = launch_of_impact.get(props.get("id"))
        if launch is None or launch["properties"].get("type") != "launch":
            continue
        attribution = dict(launch["properties"].get("attribution") or {})
        props["attribution"] = attribution
        props["responsible"] = decide(attribution, threshold)


# ---------------------------------------------------------------------------------------------
# Calibration (used by the evaluation over simulated days)
# ---------------------------------------------------------------------------------------------


def _as_prob_outcome(predicted: Iterable[float], outcomes: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(list(predicted) if not isinstance(predicted, np.ndarray) else predicted, dtype=float)
    o = np.asarray(list(outcomes) if not isinstance(outcomes, np.ndarray) else outcomes, dtype=float)
    if p.shape != o.shape or p.ndim != 1:
        raise ValueError("predicted probabilities and outcomes must be 1-D and of equal length")
    if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
        raise ValueError("predicted probabilities must lie in [0, 1]")
    if np.any((o != 0) & (o != 1)):
        raise ValueError("outcomes must be 0/1 (or booleans)")
    return p, o


def brier_score(predicted: Iterable[float], outcomes: Iterable[Any]) -> float:
    """Mean squared difference between predicted probabilities and 0/1 outcomes (lower is better)."""
    p, o = _as_prob_outcome(predicted, outcomes)
    if len(p) == 0:
        raise ValueError("no predictions to score")
    return float(np.mean((p - o) ** 2))


def calibration_table(
    predicted: Iterable[float], outcomes: Iterable[Any], bins: int = 10
) -> list[dict[str, float]]:
    """Reliability table: equal-width probability bins with count, mean prediction, observed frequency
    and a 95 % Wilson interval for the observed frequency.

    Bin ``k`` holds predictions in ``[k/bins, (k+1)/bins)`` (the last bin includes 1.0). Empty bins
    are listed with ``count`` 0 and NaN statistics so tables of different days line up.
    A calibrated predictor has ``mean_predicted`` inside ``[ci_low, ci_high]`` in most bins.
    """
    if bins < 1:
        raise ValueError("bins must be >= 1")
    p, o = _as_prob_outcome(predicted, outcomes)
    k = np.minimum((p * bins).astype(int), bins - 1)
    rows = []
    z = 1.959963984540054
    for b in range(bins):
        sel = k == b
        n = int(sel.sum())
        row: dict[str, float] = {"bin_low": b / bins, "bin_high": (b + 1) / bins, "count": n}
        if n:
            freq = float(o[sel].mean())
            denom = 1 + z * z / n
            centre = (freq + z * z / (2 * n)) / denom
            half = z * math.sqrt(freq * (1 - freq) / n + z * z / (4 * n * n)) / denom
            row.update(
                mean_predicted=float(p[sel].mean()),
                observed_frequency=freq,
                ci_low=max(0.0, centre - half),
                ci_high=min(1.0, centre + half),
            )
        else:
            row.update(
                mean_predicted=math.nan, observed_frequency=math.nan, ci_low=math.nan, ci_high=math.nan
            )
        rows.append(row)
    return rows


def attribute(events: list[Any], territory: Any, profile: Any = None, features: list[dict] | None = None) -> None:
    """Pipeline hook: fill ``attribution`` / ``responsible`` of analysis `Event` records.

    Runs `apply_attribution` on their spec Feature form, so the events file and the
    in-memory records can never disagree. Without a territory nothing can be attributed
    and the events stay undetermined. `features`: the events' Feature form when the caller
    already has it (`event_to_feature` of each, same order; updated in place too).
    """
    if territory is None or not events:
        return
    from truceline.analysis.events import event_to_feature

    if features is None:
        features = [event_to_feature(e) for e in events]
    apply_attribution(features, territory, profile)
    for e, f in zip(events, features, strict=True):
        e.attribution = dict(f["properties"]["attribution"])
        e.responsible = f["properties"]["responsible"]
