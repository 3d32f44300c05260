"""Rule checking: which of the agreement profile's rules an event breaks, and on what evidence.

Rules are data: every enabled ``[[rules]]`` entry of the profile (``truceline.profile.Rule``:
code, description, applies_to, kind, classes, params), including the ``withdrawal.<band>``
rules the profile generates from its ``[[exclusion]]`` table. Three kinds are understood:

``fire``
    An event of a listed type (``fire.launch``: launch, ``fire.impact``: impact) at or after the
    ceasefire start, unless its existence is in doubt (``quality.uncorroborated``: a radar track
    the nearby acoustic arrays did not hear, see ``truceline.analysis.corroboration``). When the event carries ``time_sigma_s`` the rule needs
    ``P(time >= start) >= min_probability`` under a normal time error; otherwise the best time
    estimate is compared (emission times are known to about a second, far inside any margin
    that matters for a ceasefire start).
``exclusion``
    A sighting of an object of a listed class (and, for a withdrawal band, calibre band: unknown
    calibre takes the class's smallest distance, see ``truceline.profile``) standing within the
    band's distance ``D`` of the line of contact. ``D`` comes from ``params.distance_km`` or the
    profile's exclusion table.
``buffer``
    A sighting of an object of a listed class inside the buffer zone: within ``buffer_zone_km``
    (each side) of the line, or ``params.distance_km``.

Weak evidence does not break a rule. For the two position rules the checker computes the
probability that the object really is inside the band, ``P(|s| < D)`` with the signed distance
``s ~ N(d, sigma_n^2)``: ``d`` the geodesic distance of the estimate to the line and ``sigma_n``
the standard deviation of the position along the direction to the nearest line point
(``sqrt(g' C g)``; the largest axis of ``C`` when the estimate is on the line). This linearisation is
accurate when the position error is small against ``D`` and the line's curvature radius, which is the
case for sightings (tens of metres) against withdrawal distances (kilometres); where two stretches
of line are equally near it underestimates the probability (never over-states a violation). The
rule is broken only when that probability reaches ``min_probability``: ``params.min_probability``
of the rule, else the profile's ``attribution_threshold`` (0.95): a violation is reported on the
same standard of proof as a named party. An event without a usable covariance, time or position
breaks no rule that depends on it. Every rule also needs the event to be at or after the ceasefire
start plus ``params.effective_after_h`` (default 0; e.g. a withdrawal period).

A sighting must also be credible: its ``confidence`` (the fused looks' confidences combined as
independent evidence, ``truceline.analysis.fusion.combined_confidence``) must reach
``params.min_confidence``, else the profile's ``sighting_min_confidence`` (default 0.8). Decoys and
misclassified vehicles are what drones mostly get wrong; the position probability cannot see them.
A sighting without any reported confidence is taken at its word. A sighting whose position breaks
a rule but whose confidence is too low lists that code in ``violations_to_confirm`` instead: no
finding, but the place an analyst should send another look (a second look is what separates a
decoy from a weapon; no confidence gate can, see docs/attribution.md).

``params`` understood (all optional): ``min_probability`` (0..1], ``effective_after_h`` >= 0,
``distance_km`` >= 0 (exclusion/buffer), ``min_confidence`` [0..1] (exclusion/buffer). Anything else there is an error, as are unknown kinds.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from truceline.analysis.attribution import regularize_cov, valid_covariances
from truceline.analysis.chi2 import normal_cdf
from truceline.errors import InputError
from truceline.formats import parse_time
from truceline.profile import DEFAULT_SIGHTING_MIN_CONFIDENCE

KNOWN_PARAMS = {
    "fire": {"min_probability", "effective_after_h"},
    "exclusion": {"min_probability", "min_confidence", "effective_after_h", "distance_km", "min_caliber_mm",
                  "max_caliber_mm"},
    "buffer": {"min_probability", "min_confidence", "effective_after_h", "distance_km"},
}


@dataclass(frozen=True)
class Finding:
    """The outcome of one applicable rule for one event, with the evidence it rests on."""

    code: str
    description: str
    kind: str
    broken: bool
    probability: float | None  # probability that the rule's condition holds (None: not assessable)
    required: float  # min_probability the rule needs
    evidence: str  # plain-language basis of the decision
    to_confirm: bool = False  # the position breaks it, the sighting's confidence is too low to say so


# ---------------------------------------------------------------------------------------------
# Profile access
# ---------------------------------------------------------------------------------------------


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    value = getattr(obj, name, default)
    return default if value is None else value


def _epoch(value: Any, what: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return parse_time(value)
    except ValueError as exc:
        raise InputError(f"profile: {what}: {exc}") from None


def _rules_of(profile: Any, rules: Sequence[Any] | None) -> list[Any]:
    chosen = list(rules if rules is not None else (_get(profile, "rules", ()) or ()))
    out = []
    for i, r in enumerate(chosen):
        code = _get(r, "code")
        kind = _get(r, "kind")
        where = f"profile: rules[{i}]" + (f" ({code})" if code else "")
        if not code or not isinstance(code, str):
            raise InputError(f"{where}: missing rule code")
        if kind not in KNOWN_PARAMS:
            raise InputError(f"{where}.kind: unknown rule kind {kind!r} (known: {', '.join(KNOWN_PARAMS)})")
        params = dict(_get(r, "params", {}) or {})
        unknown = set(params) - KNOWN_PARAMS[kind]
        if unknown:
            raise InputError(
                f"{where}.params: unknown key {sorted(unknown)[0]!r} for kind {kind!r} "
                f"(allowed: {', '.join(sorted(KNOWN_PARAMS[kind]))})"
            )
        mp = params.get("min_probability")
        if mp is not None and (isinstance(mp, bool) or not isinstance(mp, int | float) or not 0 < mp <= 1):
            raise InputError(f"{where}.params.min_probability: must be a number in (0, 1], got {mp!r}")
        mc = params.get("min_confidence")
        if mc is not None and (isinstance(mc, bool) or not isinstance(mc, int | float) or not 0 <= mc <= 1):
            raise InputError(f"{where}.params.min_confidence: must be a number in [0, 1], got {mc!r}")
        for key in ("effective_after_h", "distance_km"):
            v = params.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not v >= 0):
                raise InputError(f"{where}.params.{key}: must be a number >= 0, got {v!r}")
        if _get(r, "enabled", True) is False:
            continue
        out.append(r)
    return out


# ---------------------------------------------------------------------------------------------
# Per-event inputs, computed once and vectorized
# ---------------------------------------------------------------------------------------------


@dataclass
class _Inputs:
    types: np.ndarray  # object
    objects: np.ndarray  # object (class or None)
    calibers: np.ndarray  # float, NaN unknown
    time: np.ndarray  # epoch s, NaN unknown
    time_sigma: np.ndarray  # s, NaN unknown
    lon: np.ndarray  # NaN when no position
    lat: np.ndarray
    cov: np.ndarray  # (N, 2, 2), NaN when unusable
    dist: np.ndarray  # m to the line, NaN when unknown
    sigma_n: np.ndarray  # m, NaN when unknown
    confidence: np.ndarray  # sighting confidence (fused looks), NaN when none was reported
    doubtful: np.ndarray  # bool: quality.uncorroborated (a radar track the arrays contradict)


def _float(v: Any) -> float:
    if v is None or isinstance(v, bool):
        return math.nan
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) else math.nan


def _gather(features: Sequence[Mapping[str, Any]], territory: Any, need_distance: bool) -> _Inputs:
    n = len(features)
    types = np.empty(n, dtype=object)
    objects = np.empty(n, dtype=object)
    calibers = np.full(n, np.nan)
    times = np.full(n, np.nan)
    tsig = np.full(n, np.nan)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    cov = np.full((n, 2, 2), np.nan)
    conf = np.full(n, np.nan)
    doubtful = np.zeros(n, bool)
    for i, f in enumerate(features):
        p = f.get("properties") or {}
        types[i] = p.get("type")
        conf[i] = _float(p.get("confidence"))
        q = p.get("quality")
        doubtful[i] = isinstance(q, Mapping) and q.get("uncorroborated") is True
        objects[i] = p.get("object")
        calibers[i] = _float(p.get("caliber_mm"))
        with contextlib.suppress(ValueError):
            times[i] = parse_time(p.get("time"))
        tsig[i] = _float(p.get("time_sigma_s"))
        try:
            x, y = f["geometry"]["coordinates"][:2]
            lon[i], lat[i] = _float(x), _float(y)
        except (KeyError, TypeError, ValueError, IndexError):
            pass
        c = p.get("cov_en_m2")
        try:
            arr = np.asarray(c, dtype=float)
            if arr.shape == (2, 2):
                cov[i] = arr
        except (TypeError, ValueError):
            pass
    good = valid_covariances(cov)
    cov[good] = regularize_cov(cov[good])
    cov[~good] = np.nan
    dist = np.full(n, np.nan)
    sigma_n = np.full(n, np.nan)
    has_pos = np.isfinite(lon) & np.isfinite(lat)
    if need_distance and has_pos.any():
        from truceline.geo import geodesic_inverse

        idx = np.flatnonzero(has_pos)
        nlon, nlat, _km, _part = territory.contact_line.locate(lon[idx], lat[idx])
        az, d = geodesic_inverse(lon[idx], lat[idx], nlon, nlat)
        dist[idx] = d
        g = np.stack([np.sin(np.radians(az)), np.cos(np.radians(az))], axis=1)
        c = cov[idx]
        var_n = np.einsum("ni,nij,nj->n", g, c, g)
        var_max = np.linalg.eigvalsh(np.where(np.isfinite(c), c, 0.0))[:, 1]
        var_n = np.where(d < 1.0, var_max, var_n)
        sigma_n[idx] = np.where(np.isfinite(c).all(axis=(1, 2)), np.sqrt(np.maximum(var_n, 0.0)), np.nan)
    conf[(conf < 0) | (conf > 1)] = np.nan
    return _Inputs(types, objects, calibers, times, tsig, lon, lat, cov, dist, sigma_n, conf, doubtful)


def band_probability(
    dist_m: np.ndarray, sigma_n_m: np.ndarray, half_width_m: float | np.ndarray
) -> np.ndarray:
    """P(|s| < W) for s ~ N(d, sigma_n^2): the probability that a position whose estimate is ``d``
    from the line (error ``sigma_n`` across it) lies within ``W`` of the line. NaN in, NaN out."""
    d = np.asarray(dist_m, dtype=float)
    s = np.maximum(np.asarray(sigma_n_m, dtype=float), 1e-9)
    w = np.asarray(half_width_m, dtype=float)
    return normal_cdf((w - d) / s) - normal_cdf((-w - d) / s)


# ---------------------------------------------------------------------------------------------
# The checker
# ---------------------------------------------------------------------------------------------


def _fmt_km(m: float) -> str:
    return f"{m / 1000.0:.3f} km" if m >= 1000 else f"{m:.0f} m"


def check_rules(
    features: Sequence[Mapping[str, Any]],
    territory: Any,
    profile: Any,
    rules: Sequence[Any] | None = None,
    evidence: bool = True,
) -> list[list[Finding]]:
    """Every applicable rule's finding for every feature (broken or not), in profile rule order.

    ``rules`` overrides the profile's rule list (same fields as ``truceline.profile.Rule``, as
    objects or dicts). Raises ``InputError`` for rule definitions the checker cannot honour.
    ``evidence=False`` skips writing the plain-language evidence (faster, for bulk runs).
    """
    return _check(features, territory, profile, rules, evidence)[0]


def _check(features, territory, profile, rules, evidence: bool) -> tuple[list[list[Finding]], _Inputs]:
    rule_list = _rules_of(profile, rules)
    start = _epoch(_get(profile, "ceasefire_start"), "ceasefire_start")
    default_p = float(_get(profile, "attribution_threshold", 0.95))
    default_conf = float(_get(profile, "sighting_min_confidence", DEFAULT_SIGHTING_MIN_CONFIDENCE))
    buffer_m = float(_get(profile, "buffer_zone_km", 0.0)) * 1000.0
    x = _gather(features, territory, need_distance=True)  # distances are also written to the events
    n = len(features)
    out: list[list[Finding]] = [[] for _ in range(n)]
    exclusion_table = _get(profile, "exclusion", ()) or ()
    entry_codes = {getattr(e, "code", None): e for e in exclusion_table}

    for r in rule_list:
        code, kind, desc = _get(r, "code"), _get(r, "kind"), _get(r, "description", "")
        params = dict(_get(r, "params", {}) or {})
        applies = set(_get(r, "applies_to", ()) or ())
        classes = set(_get(r, "classes", ()) or ())
        need = float(params.get("min_probability") or default_p)
        eff = start + float(params.get("effective_after_h") or 0.0) * 3600.0
        sel = np.isin(x.types, list(applies))
        if kind in ("exclusion", "buffer") and classes:
            sel &= np.isin(x.objects, list(classes))
        if not sel.any():
            continue

        # time: P(t >= effective start)
        with np.errstate(invalid="ignore", divide="ignore"):
            p_time = np.where(
                np.isfinite(x.time_sigma) & (x.time_sigma > 0),
                normal_cdf((x.time - eff) / np.where(x.time_sigma > 0, x.time_sigma, 1.0)),
                np.where(x.time >= eff, 1.0, 0.0),
            )
        p_time = np.where(np.isfinite(x.time), p_time, np.nan)

        if kind == "fire":
            for i in np.flatnonzero(sel):
                if x.doubtful[i]:
                    ev = ("only a radar track reports it and the acoustic arrays near it did not hear it "
                          "(quality.uncorroborated): its existence is in doubt")
                    out[i].append(Finding(code, desc, kind, False, None, need, ev))
                    continue
                pt = p_time[i]
                if not np.isfinite(pt):
                    ev = "the event has no valid time, so it cannot be placed before or after the ceasefire start"
                    out[i].append(Finding(code, desc, kind, False, None, need, ev))
                    continue
                ev = _time_evidence(x.time[i], x.time_sigma[i], eff, pt) if evidence else ""
                out[i].append(Finding(code, desc, kind, bool(pt >= need), float(pt), need, ev))
            continue

        # exclusion / buffer: band half-width per event
        width = np.full(n, np.nan)
        if kind == "buffer":
            width[:] = float(params["distance_km"]) * 1000.0 if "distance_km" in params else buffer_m
        else:
            width = _exclusion_widths(r, code, params, entry_codes, profile, x, sel)
        sel &= np.isfinite(width)
        p_band = band_probability(x.dist, x.sigma_n, np.where(np.isfinite(width), width, 0.0))
        need_conf = float(params["min_confidence"]) if params.get("min_confidence") is not None else default_conf
        for i in np.flatnonzero(sel):
            w = width[i]
            if not (np.isfinite(x.dist[i]) and np.isfinite(x.sigma_n[i])):
                ev = "the sighting has no usable position or covariance, so its distance to the line is unknown"
                out[i].append(Finding(code, desc, kind, False, None, need, ev))
                continue
            pt = p_time[i] if np.isfinite(p_time[i]) else 0.0
            pb = float(p_band[i])
            prob = pb * pt
            conf = x.confidence[i]
            credible = bool(not np.isfinite(conf) or conf >= need_conf)
            doubt = bool(not credible and prob >= need)
            if not evidence:
                out[i].append(Finding(code, desc, kind, bool(credible and prob >= need), prob, need, "", doubt))
                continue
            zone = "buffer zone" if kind == "buffer" else "exclusion band"
            ev = (
                f"estimate {_fmt_km(x.dist[i])} from the line of contact, 1-sigma {x.sigma_n[i]:.0f} m across it: "
                f"P(within {_fmt_km(w)}, the {zone}) = {pb:.4f}"
            )
            if pt < 1.0:
                ev += "; " + (
                    _time_evidence(x.time[i], x.time_sigma[i], eff, pt)
                    if np.isfinite(p_time[i])
                    else "no valid time"
                )
            if kind == "exclusion" and math.isnan(x.calibers[i]) and _bands_of_class(profile, x.objects[i]) > 1:
                ev += (f"; no look reported the calibre, so the smallest band of a {x.objects[i]} applies "
                       "(the finding holds whatever the calibre; the rule's own calibre range is not observed)")
            if np.isfinite(conf):
                ev += (f"; sighting confidence {conf:.3f} (its looks combined) "
                       + ("meets" if credible else "is below") + f" the {need_conf:g} a finding needs")
            if doubt:
                ev += "; another look (a drone re-tasked, a monitor) would settle it"
            out[i].append(Finding(code, desc, kind, bool(credible and prob >= need), prob, need, ev, doubt))
    return out, x


def _bands_of_class(profile: Any, object_class: Any) -> int:
    """How many withdrawal bands the profile's exclusion table has for a class."""
    return sum(1 for e in (_get(profile, "exclusion", ()) or ()) if getattr(e, "object_class", None) == object_class)


def _time_evidence(t: float, sigma: float, eff: float, p: float) -> str:
    from truceline.formats import format_time

    dt = t - eff
    rel = f"{abs(dt):,.1f} s {'after' if dt >= 0 else 'before'} the rule takes effect ({format_time(eff)})"
    if np.isfinite(sigma) and sigma > 0:
        return f"time {format_time(t)}, {rel}, 1-sigma {sigma:.1f} s: P(after) = {p:.4f}"
    return f"time {format_time(t)}, {rel}"


def _exclusion_widths(r, code, params, entry_codes, profile, x: _Inputs, sel: np.ndarray) -> np.ndarray:
    """Distance (m) of the band an exclusion rule enforces on each selected sighting, NaN where the
    rule does not apply (other calibre band, unrestricted class).

    A rule generated from (or consistent with) the profile's exclusion table follows the table,
    including its unknown-calibre choice; a rule with its own ``params.distance_km`` uses that."""
    n = len(x.types)
    width = np.full(n, np.nan)
    table_entry = entry_codes.get(code)
    if (
        table_entry is not None
        and hasattr(profile, "exclusion_entry")
        and params.get("distance_km") in (None, table_entry.distance_km)
    ):
        # a withdrawal band of the profile's table: applies when it is the band the profile picks
        for i in np.flatnonzero(sel):
            cal = None if math.isnan(x.calibers[i]) else float(x.calibers[i])
            entry = profile.exclusion_entry(x.objects[i], cal)
            if entry is not None and entry.code == code:
                width[i] = entry.distance_m
        return width
    lo = params.get("min_caliber_mm")
    hi = params.get("max_caliber_mm")
    for i in np.flatnonzero(sel):
        cal = x.calibers[i]
        if lo is not None or hi is not None:
            if math.isnan(cal):
                continue  # band depends on calibre, which is unknown: not this rule's finding
            if (lo is not None and cal < lo) or (hi is not None and cal >= hi):
                continue
        if "distance_km" in params:
            width[i] = float(params["distance_km"]) * 1000.0
        elif hasattr(profile, "exclusion_distance_m"):
            d = profile.exclusion_distance_m(x.objects[i], None if math.isnan(cal) else float(cal))
            if d is not None:
                width[i] = d
    return width


def evaluate_rules(
    features: list[dict[str, Any]],
    territory: Any,
    profile: Any,
    rules: Sequence[Any] | None = None,
) -> None:
    """Fill ``properties.violations`` (codes of broken rules, profile order) of spec event Features,
    ``violations_to_confirm`` (position rules the sighting's estimate breaks but its confidence is
    too low to report: what an analyst should send another look at; only when not empty) and
    ``distance_to_line_m`` / ``zone`` where absent.

    ``zone`` is the party whose territory contains the estimate, else ``"outside"`` (as the
    analysis sets it; nearness to the line is ``distance_to_line_m`` and ``buffer.presence``).
    """
    findings, x = _check(features, territory, profile, rules, evidence=False)
    for f, fs in zip(features, findings, strict=True):
        props = f.setdefault("properties", {})
        props["violations"] = [g.code for g in fs if g.broken]
        doubtful = [g.code for g in fs if g.to_confirm]
        if doubtful:
            props["violations_to_confirm"] = doubtful
        else:
            props.pop("violations_to_confirm", None)
    _fill_location(features, territory, x.dist)


def _fill_location(features: list[dict[str, Any]], territory: Any, known_dist: np.ndarray) -> None:
    todo = []
    for i, f in enumerate(features):
        p = f["properties"]
        if "distance_to_line_m" in p and "zone" in p:
            continue
        try:
            x, y = f["geometry"]["coordinates"][:2]
            x, y = float(x), float(y)
        except (KeyError, TypeError, ValueError, IndexError):
            continue
        if math.isfinite(x) and math.isfinite(y):
            todo.append((i, x, y))
    if not todo:
        return
    idx = [t[0] for t in todo]
    lon = np.array([t[1] for t in todo])
    lat = np.array([t[2] for t in todo])
    dist = known_dist[idx]
    missing = ~np.isfinite(dist)
    if missing.any():
        dist[missing] = territory.distance_to_line_m(lon[missing], lat[missing])
    party = territory.party_at(lon, lat)
    for k, i in enumerate(idx):
        p = features[i]["properties"]
        p.setdefault("distance_to_line_m", round(float(dist[k]), 1))
        p.setdefault("zone", party[k] or "outside")


def check(events: list[Any], territory: Any, profile: Any = None, features: list[dict] | None = None) -> None:
    """Pipeline hook: fill ``violations`` of analysis `Event` records from the profile's rules
    (through `evaluate_rules` on their spec Feature form). Needs a territory for every
    position rule; without one, nothing is evaluated. `features`: the events' current
    Feature form when the caller already has it (same order; updated in place too)."""
    if territory is None or not events:
        return
    if profile is None:
        from truceline.profile import load_profile

        profile = load_profile()
    from truceline.analysis.events import event_to_feature

    if features is None:
        features = [event_to_feature(e) for e in events]
    evaluate_rules(features, territory, profile)
    for e, f in zip(events, features, strict=True):
        p = f["properties"]
        e.violations = list(p["violations"])
        if p.get("violations_to_confirm"):
            e.extra["violations_to_confirm"] = list(p["violations_to_confirm"])
        else:
            e.extra.pop("violations_to_confirm", None)
        if e.zone is None and p.get("zone") is not None:
            e.zone = p["zone"]
        if e.distance_to_line_m is None and p.get("distance_to_line_m") is not None:
            e.distance_to_line_m = float(p["distance_to_line_m"])
