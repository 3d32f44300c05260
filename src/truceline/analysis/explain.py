"""Plain-language explanation of one event's attribution and rule findings (`truceline explain`).

The explanation is recomputed from the event file, the territory and the profile with the same
code that produced the published values, and says so when the published values differ (for
instance when the file was produced with another profile or territory).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from truceline.analysis.attribution import (
    DEFAULT_THRESHOLD,
    apply_attribution,
    check_threshold,
    ellipse_95,
    withheld_reason,
)
from truceline.analysis.rules import check_rules

_TYPE_WORDS = {
    "launch": "a launch (firing position)",
    "impact": "an impact",
    "weapon_sighting": "a weapon sighting",
    "thermal": "a thermal anomaly",
    "monitor_report": "a monitor's report",
}


def _pct(p: float) -> str:
    if p >= 1.0:
        return "100 %"
    if p <= 0.0:
        return "0 %"
    text = f"{100.0 * p:.4f}".rstrip("0").rstrip(".")
    return f"{text} %"


def _metres(m: float) -> str:
    return f"{m / 1000.0:.2f} km" if m >= 10_000 else f"{m:,.0f} m"


def _sensor_lines(
    props: Mapping[str, Any], registry: Mapping[str, Any] | None, reports: Mapping[str, Any] | None
):
    ids = [str(r) for r in (props.get("reports") or [])]
    lines = [f"Evidence: {len(ids)} sensor report{'s' if len(ids) != 1 else ''} fused into this event."]
    kinds: dict[str, int] = {}
    for rid in ids:
        sensor = None
        rep = reports.get(rid) if reports else None
        if isinstance(rep, Mapping):
            sensor = rep.get("sensor")
        elif isinstance(rep, str):
            sensor = rep
        kind = None
        if sensor is not None and registry is not None and sensor in registry:
            kind = registry[sensor].get("kind") if isinstance(registry[sensor], Mapping) else None
        elif isinstance(rep, Mapping):
            kind = rep.get("kind")
        desc = f"  - report {rid}"
        if sensor:
            desc += f" from sensor {sensor}"
        if kind:
            desc += f" ({kind})"
            kinds[kind] = kinds.get(kind, 0) + 1
        lines.append(desc)
    listed = props.get("sensors")  # optional: sensor ids written by the fusion stage
    if isinstance(listed, list) and listed and not kinds:
        lines.append("  Sensors:")
        for s in listed:
            entry = registry.get(str(s)) if registry is not None else None
            k = entry.get("kind") if isinstance(entry, Mapping) else None
            lines.append(f"  - sensor {s}" + (f" ({k})" if k else ""))
            if k:
                kinds[k] = kinds.get(k, 0) + 1
    if kinds:
        lines.append("  Sensor kinds: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + ".")
    elif ids and reports is None and not listed:
        lines.append(
            "  (pass --reports REPORTS.jsonl and --sensors SENSORS.json to see which sensors made them)"
        )
    return lines


def explain_event(
    feature: Mapping[str, Any],
    features_by_id: Mapping[str, Mapping[str, Any]],
    territory: Any,
    profile: Any,
    registry: Mapping[str, Any] | None = None,
    reports: Mapping[str, Any] | None = None,
) -> str:
    """A plain-language account of why ``feature`` was attributed as it was and which rules it breaks.

    ``registry``: sensor id -> registry entry (spec section 1); ``reports``: report id -> report
    (or sensor id), used to name the sensors behind the event's ``reports``.
    """
    props = dict(feature.get("properties") or {})
    eid = props.get("id")
    etype = props.get("type")
    threshold = check_threshold(getattr(profile, "attribution_threshold", None) or DEFAULT_THRESHOLD)
    out: list[str] = []
    out.append(f"Event {eid}: {_TYPE_WORDS.get(etype, repr(etype))} at {props.get('time')}.")
    out += _sensor_lines(props, registry, reports)

    coords = (feature.get("geometry") or {}).get("coordinates") or [math.nan, math.nan]
    lon, lat = float(coords[0]), float(coords[1])
    out.append(f"Best estimate of the position: {lat:.5f} N, {lon:.5f} E.")
    cov = props.get("cov_en_m2")
    try:
        major, minor, az = ellipse_95(cov)
        sig = np.sqrt(np.clip(np.diag(np.asarray(cov, dtype=float)), 0, None))
        out.append(
            f"95 % uncertainty ellipse: semi-axes {_metres(major)} x {_metres(minor)}, major axis at {az:.0f} deg "
            f"from north (1-sigma east {sig[0]:,.0f} m, north {sig[1]:,.0f} m)."
        )
    except (TypeError, ValueError, np.linalg.LinAlgError):
        out.append("No usable position covariance: the position's uncertainty is unknown.")

    if math.isfinite(lon) and math.isfinite(lat):
        d = float(territory.distance_to_line_m(lon, lat))
        where = territory.party_at(lon, lat)
        where = str(where) if where else "outside every party's territory"
        out.append(f"Distance to the line of contact: {_metres(d)}; the estimate lies in {where}.")

    # recompute attribution on a private copy (the impact needs its launch)
    mine = _copy(feature)
    group = [mine]
    launch_id = props.get("launch_event")
    if etype == "impact" and launch_id is None:  # the link may be written on the launch only
        launch_id = next(
            (
                k
                for k, f in features_by_id.items()
                if (f.get("properties") or {}).get("type") == "launch"
                and (f.get("properties") or {}).get("impact_event") == eid
            ),
            None,
        )
    if etype == "impact" and launch_id in features_by_id:
        group.append(_copy(features_by_id[launch_id]))
    apply_attribution(group, territory, profile)
    attribution = mine["properties"]["attribution"]
    responsible = mine["properties"]["responsible"]

    out.append("")
    out.append("Attribution:")
    if etype == "impact":
        if launch_id in features_by_id:
            out.append(
                f"  Where a shell lands does not say who fired it; this impact is linked to launch {launch_id}, "
                "so it carries that launch's attribution."
            )
        elif launch_id:
            out.append(f"  Linked launch {launch_id} is not in the events file: the origin is unknown.")
        else:
            out.append(
                "  No launch or radar track is linked to this impact, and where it landed does not say who "
                "fired it: undetermined."
            )
    elif etype == "launch":
        out.append(
            "  Probability that the firing position lies in each party's territory, integrating the position's "
            "uncertainty (bivariate normal) over the territory polygons:"
        )
    elif etype == "weapon_sighting":
        out.append(
            "  Probability that the object stands in each party's territory, integrating the sighting's "
            "position uncertainty over the territory polygons:"
        )
    else:
        out.append(
            f"  Events of type {etype!r} are not attributed to a party (their location does not say whose act "
            "they are)."
        )
    reason = withheld_reason(props) if etype in ("launch", "weapon_sighting") else None
    if reason:
        out.append(f"  Note: {reason}.")
    parties = list(getattr(territory, "parties", ()) or attribution.keys())
    if attribution:
        for p in parties:
            out.append(f"    {p}: {_pct(attribution.get(p, 0.0))}")
        rest = max(0.0, 1.0 - sum(attribution.values()))
        if rest > 2e-6:  # published values are floored to 1e-6: ignore that rounding
            out.append(f"    undetermined (outside every party's territory, or unknown): {_pct(rest)}")
    out.append(
        f"  Threshold to name a party (agreement profile): {_pct(threshold)} (probability >= threshold)."
    )
    if responsible:
        out.append(
            f"  Decision: {responsible} is named responsible ({_pct(attribution[responsible])} >= "
            f"{_pct(threshold)})."
        )
    else:
        best = max(attribution.items(), key=lambda kv: kv[1]) if attribution else None
        why = (
            f"the highest probability, {best[0]} at {_pct(best[1])}, is below the threshold"
            if best
            else ("the evidence is withheld from attribution, see the note above" if reason
                  else "there is no evidence of origin")
        )
        out.append(f"  Decision: no party is named ({why}).")
    published = (props.get("attribution"), props.get("responsible"))
    if published != (None, None) and (published[0] != attribution or published[1] != responsible):
        out.append(
            f"  Note: the events file says attribution={published[0]}, responsible={published[1]}; it was "
            "produced with another territory, profile or covariance than the ones used here."
        )

    out.append("")
    findings = check_rules([feature], territory, profile)[0]
    broken = [f for f in findings if f.broken]
    if broken:
        out.append("Rules broken:")
        for f in broken:
            out.append(f"  - {f.code}: {f.description}.")
            out.append(f"    Evidence: {f.evidence}.")
    else:
        out.append("Rules broken: none.")
    unmet = [f for f in findings if not f.broken]
    if unmet:
        out.append("Rules checked and not broken:")
        for f in unmet:
            need = "" if f.probability is None else f" (needs probability >= {_pct(f.required)})"
            out.append(f"  - {f.code}: {f.evidence}{need}.")
    return "\n".join(out)


def _copy(feature: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": dict(feature.get("geometry") or {}),
        "properties": dict(feature.get("properties") or {}),
    }
