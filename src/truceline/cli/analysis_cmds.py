"""`truceline analyze`: reports -> events.geojson (spec section 4) + quarantine records."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def analyze(
    reports: Path = typer.Argument(..., help="Reports, JSON Lines (spec section 2)."),
    sensors: Path = typer.Option(..., "--sensors", help="Sensor registry sensors.json (spec section 1)."),
    territory: Path | None = typer.Option(
        None, "--territory",
        help="territory.geojson (spec section 3); default: the shipped 2026-01-06 snapshot of the line."),
    out: Path = typer.Option(..., "--out", help="Output events.geojson (spec section 4)."),
    profile: Path | None = typer.Option(None, "--profile", help="Agreement profile (TOML)."),
    db: str | None = typer.Option(None, "--db", help="Also ingest the reports into this store (URL)."),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes for signature checks and acoustic association (default: CPU cores, at most 4)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Validate reports, fuse them into located events with honest uncertainty, write GeoJSON.

    Quarantined lines are written to EVENTS.quarantine.jsonl beside the output."""
    from truceline.analysis.run import run_analysis
    from truceline.geo import default_territory_path

    # attribution and the rules need the parties' territory: without one they would say
    # nothing, which an output file cannot tell from "checked, nothing broken"
    territory = territory or default_territory_path()
    summary = run_analysis(reports, sensors, territory, out, profile_path=profile, db_url=db,
                           workers=workers, progress=not as_json)
    if as_json:
        typer.echo(json.dumps(summary))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"analyze {reports}")
    table.add_column("item")
    table.add_column("value", justify="right")
    for key in ("lines", "accepted", "quarantined", "duplicates", "events"):
        table.add_row(key, str(summary[key]))
    for key, value in summary["by_type"].items():
        table.add_row(f"  {key}", str(value))
    for key, value in summary["timings"].items():
        table.add_row(key, f"{value:.2f}")
    table.add_row("territory", str(territory))
    table.add_row("events", summary["out"])
    table.add_row("quarantine", summary["quarantine"])
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze)
