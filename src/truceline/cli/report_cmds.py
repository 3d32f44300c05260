"""`truceline report ...`: daily reports (HTML + PDF) in public or restricted edition."""

from __future__ import annotations

from pathlib import Path

import typer

report_app = typer.Typer(help="Daily reports (HTML and PDF), public or restricted edition.", no_args_is_help=True)


@report_app.command("daily")
def daily(
    date: str = typer.Option(..., "--date", help="UTC day to report, YYYY-MM-DD."),
    out: Path = typer.Option(..., "--out", help="Directory to write daily-<date>-<edition>.html/.pdf into."),
    edition: str = typer.Option("public", "--edition", help="public (coarsened, no sensor data) or restricted."),
    events: Path | None = typer.Option(None, "--events", help="events.geojson (spec section 4), any span of days."),
    db: str | None = typer.Option(None, "--db", help="Store URL: commission findings and the signed tree head."),
    territory: Path | None = typer.Option(None, "--territory", help="territory.geojson (default: packaged)."),
    profile: Path | None = typer.Option(None, "--profile", help="Agreement profile TOML (default: packaged)."),
    sensors: Path | None = typer.Option(
        None, "--sensors", help="sensors.json: drawn in the restricted edition; in the public edition only "
        "used to check the output reveals none of it."),
    findings: Path | None = typer.Option(None, "--findings", help="JSON array of commission findings."),
    formats: str = typer.Option("html,pdf", "--formats", help="Comma-separated: html, pdf."),
) -> None:
    """Write the day's report: summary, responsibility, map, trend, sectors, weapons, findings."""
    import orjson

    from truceline.errors import InputError
    from truceline.report import write_daily_report
    from truceline.report.sources import load_db_sources

    fmts = tuple(f.strip() for f in formats.split(",") if f.strip())
    bad = [f for f in fmts if f not in ("html", "pdf")]
    if bad or not fmts:
        raise InputError(f"--formats: expected html and/or pdf, got {formats!r}")
    if events is None:
        raise InputError("--events EVENTS.geojson is required (the store holds cases and the evidence log, "
                         "not the analysis output)")
    from truceline.report.context import MapContext, load_settings

    settings = load_settings(profile)
    ctx = MapContext(territory, settings)
    found = None
    head = None
    if db is not None:
        src = load_db_sources(db, profile=settings.profile, territory=getattr(ctx, "_geo", None))
        found, head = src.findings, src.tree_head
    if findings is not None:
        try:
            found = orjson.loads(findings.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise InputError(f"{findings}: cannot read findings: {exc}") from None
        if not isinstance(found, list):
            raise InputError(f"{findings}: findings must be a JSON array")
    written = write_daily_report(out, date, edition, events=events, sensors=sensors, findings=found,
                                 tree_head=head, formats=fmts, context=ctx)
    for kind, path in written.items():
        typer.echo(f"{kind}: {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")


def demo_step_report(ctx) -> None:  # type: ignore[no-untyped-def]
    """`truceline demo` step: write the simulated day's report, both editions.

    Reads from `ctx.state` (set by earlier steps; all optional): `events_path`
    (default `<out>/events.geojson`), `day` (default: the last day with events),
    `db_url` (findings and tree head), `sensors_path` (restricted map; public leak check),
    `profile` (a loaded profile), `territory_path`. Stores `report_paths`.
    """
    from pathlib import Path

    from truceline.report import EventTable, write_daily_report
    from truceline.report.context import MapContext, ReportSettings, load_settings
    from truceline.report.sources import load_db_sources

    st = ctx.state
    events = Path(st.get("events_path") or ctx.out / "events.geojson")
    table = EventTable.load(events)
    day = st.get("day")
    if not day and len(table):
        from datetime import UTC, datetime

        day = datetime.fromtimestamp(float(table.time.max()), UTC).date().isoformat()
    prof = st.get("profile")
    settings = ReportSettings.from_profile(prof) if prof is not None else load_settings()
    mctx = MapContext(st.get("territory_path"), settings)
    findings, head = None, None
    if st.get("db_url"):
        src = load_db_sources(st["db_url"], profile=settings.profile, territory=getattr(mctx, "_geo", None))
        findings, head = src.findings, src.tree_head
    paths = {}
    for edition in ("public", "restricted"):
        written = write_daily_report(ctx.out / "reports", day, edition, events=table, sensors=st.get("sensors_path"),
                                     findings=findings, tree_head=head, context=mctx)
        paths[edition] = written
        for kind, p in written.items():
            ctx.console.print(f"{edition} {kind}: {p}")
    st["report_paths"] = paths
    st["day"] = day
