"""`truceline explain EVENT_ID --events EVENTS.geojson`: why an event was attributed as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

TERRITORY_HELP = "Territory GeoJSON (spec formats.md section 3); default: the shipped 2026-01-06 snapshot."
PROFILE_HELP = "Agreement profile TOML; default: the shipped Minsk-modelled profile."


def _read_json(path: Path, what: str) -> Any:
    import orjson

    from truceline.errors import InputError

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{path}: {what} is not valid JSON: {exc}") from None


def load_events(path: Path) -> list[dict[str, Any]]:
    """Features of an events.geojson FeatureCollection (spec section 4); InputError when it is not one."""
    from truceline.errors import InputError

    doc = _read_json(path, "events file")
    if (
        not isinstance(doc, dict)
        or doc.get("type") != "FeatureCollection"
        or not isinstance(doc.get("features"), list)
    ):
        raise InputError(f"{path}: not a GeoJSON FeatureCollection of events")
    feats = []
    for i, f in enumerate(doc["features"]):
        if not isinstance(f, dict) or not isinstance(f.get("properties"), dict):
            raise InputError(f"{path}: features[{i}]: not a Feature with properties")
        feats.append(f)
    return feats


def load_registry(path: Path) -> dict[str, dict[str, Any]]:
    from truceline.errors import InputError

    doc = _read_json(path, "sensor registry")
    if not isinstance(doc, list) or not all(
        isinstance(s, dict) and isinstance(s.get("id"), str) for s in doc
    ):
        raise InputError(
            f"{path}: a sensor registry is a JSON array of objects with an 'id' (spec section 1)"
        )
    return {s["id"]: s for s in doc}


def load_report_index(path: Path) -> dict[str, dict[str, Any]]:
    """report id -> {sensor, kind} from a reports JSON Lines file (unparseable lines are skipped)."""
    import orjson

    from truceline.errors import InputError

    out: dict[str, dict[str, Any]] = {}
    try:
        with path.open("rb") as fh:
            for line in fh:
                try:
                    r = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(r, dict) and isinstance(r.get("id"), str):
                    out.setdefault(r["id"], {"sensor": r.get("sensor"), "kind": r.get("kind")})
    except OSError as exc:
        raise InputError(f"{path}: cannot read reports: {exc.strerror or exc}") from None
    return out


def explain(
    event_id: str = typer.Argument(..., help="Id of the event to explain."),
    events: Path = typer.Option(Path("events.geojson"), "--events", "-e",
                                help="events.geojson written by the analysis (default: ./events.geojson)."),
    territory: Path = typer.Option(None, "--territory", "-t", help=TERRITORY_HELP),
    profile: Path = typer.Option(None, "--profile", "-p", help=PROFILE_HELP),
    sensors: Path = typer.Option(
        None, "--sensors", "-s", help="Sensor registry (sensors.json) to name sensor kinds."
    ),
    reports: Path = typer.Option(
        None, "--reports", "-r", help="Reports (JSON Lines) to map the event's report ids to their sensors."
    ),
) -> None:
    """Explain in plain language why an event was attributed as it was and which rules it breaks."""
    from truceline.analysis.explain import explain_event
    from truceline.errors import TrucelineError
    from truceline.geo import default_territory_path, load_territory
    from truceline.profile import load_profile

    feats = load_events(events)
    by_id = {f["properties"].get("id"): f for f in feats}
    if event_id not in by_id:
        raise TrucelineError(f"{events}: no event with id {event_id!r} ({len(feats)} events in the file)")
    t = load_territory(territory or default_territory_path())
    p = load_profile(profile)
    registry = load_registry(sensors) if sensors else None
    report_index = load_report_index(reports) if reports else None
    typer.echo(explain_event(by_id[event_id], by_id, t, p, registry=registry, reports=report_index))


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)
