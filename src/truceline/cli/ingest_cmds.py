"""`truceline ingest` and `truceline import firms`: reports into the store and the log."""

from __future__ import annotations

import json
from pathlib import Path

import typer

DB_HELP = "Database URL: sqlite:///FILE (default $TRUCELINE_DB or sqlite:///./truceline.sqlite) or postgresql://..."
KEY_HELP = "Log signing key file (default: kept in the store, or $TRUCELINE_LOG_KEY)."


def _summary_table(title: str, counts: dict[str, int], extra: dict[str, object]):  # type: ignore[no-untyped-def]
    from rich.table import Table

    table = Table(title=title, show_header=True)
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for key, value in extra.items():
        table.add_row(key, str(value))
    for reason, count in counts.items():
        table.add_row(f"quarantined: {reason}", str(count), style="red" if count else None)
    return table


def ingest(
    reports: Path = typer.Argument(..., help="Reports, JSON Lines (spec section 2)."),
    sensors: Path = typer.Option(..., "--sensors", help="Sensor registry sensors.json (spec section 1)."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    log_key: Path | None = typer.Option(None, "--log-key", help=KEY_HELP),
    workers: int | None = typer.Option(None, "--workers", help="Verification processes (default: all cores)."),
    quarantine_out: Path | None = typer.Option(None, "--quarantine-out",
                                                  help="Also write this run's quarantine records as JSON Lines."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of a table."),
) -> None:
    """Validate, verify and store signed reports; rejected lines go to quarantine with a reason."""
    from rich.console import Console

    from truceline.ingest import ingest_file, load_registry
    from truceline.store import open_store

    registry = load_registry(sensors)
    with open_store(db) as store:
        summary = ingest_file(reports, registry, store, workers=workers, progress=not as_json, log_key=log_key)
        if quarantine_out is not None:
            _write_quarantine(store, summary.run_id, quarantine_out)
    if as_json:
        typer.echo(json.dumps(summary.to_json()))
        return
    Console().print(_summary_table(
        f"ingest {reports.name}", summary.reason_counts(),
        {"lines": summary.lines, "accepted (new)": summary.accepted, "duplicates": summary.duplicates,
         "log tree size": summary.tree_size}))


def _write_quarantine(store, run_id: int, path: Path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from truceline.store.reports import quarantine

    q = quarantine.c
    with store.engine.connect() as conn, path.open("w", encoding="utf-8") as fh:
        for line, rid, reason, detail, raw in conn.execute(
                select(q.line, q.report_id, q.reason, q.detail, q.raw).where(q.run_id == run_id).order_by(q.line)):
            fh.write(json.dumps({"line": line, "id": rid, "reason": reason, "detail": detail, "raw": raw}) + "\n")


def import_firms(
    csv_file: Path = typer.Argument(..., help="NASA FIRMS active-fire CSV (VIIRS or MODIS columns)."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    log_key: Path | None = typer.Option(None, "--log-key", help=KEY_HELP),
    importer_key: Path | None = typer.Option(
        None, "--importer-key", help="Importer signing key file (default: kept in the store)."),
    sensor_id: str = typer.Option("firms-importer", "--sensor-id", help="Registry id of the importer sensor."),
    sensors_out: Path | None = typer.Option(
        None, "--sensors-out", help="Write/extend a sensors.json with the importer's registry entry."),
    reports_out: Path | None = typer.Option(
        None, "--reports-out", help="Also write the signed satellite reports as JSON Lines."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import FIRMS thermal anomalies as signed `satellite` reports (provenance: file SHA-256)."""
    from rich.console import Console

    from truceline.ingest.firms import import_firms_file
    from truceline.store import open_store

    with open_store(db) as store:
        result = import_firms_file(csv_file, store, sensor_id=sensor_id, importer_key=importer_key,
                                   log_key=log_key, sensors_out=sensors_out, reports_out=reports_out)
    if as_json:
        typer.echo(json.dumps(result))
        return
    summary = result["ingest"]
    Console().print(_summary_table(
        f"import firms {csv_file.name} (sha256 {result['source_sha256'][:16]}...)", summary["quarantined"],
        {"rows": result["rows"], "rows skipped": result["rows_skipped"], "accepted (new)": summary["accepted"],
         "duplicates": summary["duplicates"], "log tree size": summary["tree_size"]}))
    for problem in result["problems"][:20]:
        Console(stderr=True).print(f"[yellow]skipped:[/] {problem}")


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    import_app = typer.Typer(help="Import public feeds as signed reports.", no_args_is_help=True)
    import_app.command("firms")(import_firms)
    app.add_typer(import_app, name="import")
