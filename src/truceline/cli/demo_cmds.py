"""`truceline demo`: the whole pipeline on the shipped data, one step after another.

The demo is a list of steps; each stage appends its own step function (simulate,
ingest, analyze, commission, report, ...) to `STEPS`. A step takes the `DemoContext`
(output directory, console, shared objects) and may store results in `ctx.state` for
later steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer


@dataclass
class DemoContext:
    out: Path
    console: Any
    state: dict[str, Any] = field(default_factory=dict)


def step_geography(ctx: DemoContext) -> None:
    """Load the territory and the profile, print the line of contact, write the map."""
    from truceline.cli.geo_cmds import line_info_data, print_line_info, write_line_map
    from truceline.geo import default_territory_path, load_territory
    from truceline.profile import load_profile

    territory = load_territory(default_territory_path())
    profile = load_profile()
    ctx.state["territory"] = territory
    ctx.state["profile"] = profile
    print_line_info(line_info_data(territory, profile), ctx.console)
    path = write_line_map(territory, profile, ctx.out / "line_map.png")
    ctx.console.print(f"map: {path}")


def step_simulate(ctx: DemoContext) -> None:
    """Simulate the monitored period along the shipped line (signed reports + truth)."""
    from truceline.sim import simulate

    hours, seed = ctx.state.get("hours", 24.0), ctx.state.get("seed", 0)
    sim_dir = ctx.out / "scenario"
    sc = simulate(None, None, hours=hours, seed=seed, out_dir=sim_dir)  # shipped territory + profile
    ctx.state["reports_path"] = sim_dir / "reports.jsonl"
    ctx.state["sensors_path"] = sim_dir / "sensors.json"
    ctx.state["truth_path"] = sim_dir / "truth.json"
    truth = sc.truth
    ctx.state["day"] = truth["scenario"]["start"][:10]  # the report covers the simulated day
    ctx.console.print(
        f"simulated {hours:g} h (seed {seed}): {len(sc.sensors)} sensors, "
        f"{len(truth.get('launches', []))} launches, {truth['counts']['lines']:,} report lines "
        f"(with {len(truth.get('bad_records', []))} deliberately bad) in {sim_dir}"
    )


def step_ingest(ctx: DemoContext) -> None:
    """Validate, verify and store every report; each accepted one becomes a log leaf."""
    from rich.table import Table

    from truceline.evidence import sign_head
    from truceline.ingest import ingest_file, load_registry
    from truceline.store import open_store

    db_path = ctx.out / "truceline.sqlite"
    for suffix in ("", "-wal", "-shm"):  # the demo starts from an empty store every time
        db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
    db_url = f"sqlite:///{db_path}"
    registry = load_registry(ctx.state["sensors_path"])
    store = open_store(db_url)
    summary = ingest_file(ctx.state["reports_path"], registry, store, progress=True)
    head = sign_head(store)
    table = Table(title="ingest: quarantine by reason")
    table.add_column("reason")
    table.add_column("lines", justify="right")
    for reason, n in summary.reason_counts().items():
        table.add_row(reason, str(n))
    ctx.console.print(table)
    ctx.console.print(
        f"ingested {summary.accepted:,} reports ({summary.duplicates} duplicates) into {db_path}; "
        f"evidence log tree size {head['tree_size']:,}, root {head['root_hash']}"
    )
    ctx.state.update(db_url=db_url, store=store)


def step_analyze(ctx: DemoContext) -> None:
    """Fuse the reports into located, attributed events and check them against the rules."""
    from truceline.analysis.run import run_analysis
    from truceline.geo import default_territory_path

    events_path = ctx.out / "events.geojson"
    summary = run_analysis(
        ctx.state["reports_path"], ctx.state["sensors_path"], default_territory_path(), events_path,
        progress=True,
    )
    ctx.state["events_path"] = events_path
    ctx.state["territory_path"] = default_territory_path()
    by_type = ", ".join(f"{n} {t}" for t, n in summary["by_type"].items())
    ctx.console.print(f"analysis: {summary['events']} events ({by_type}) -> {events_path}")
    ctx.console.print(f"try: truceline explain <event id> --events {events_path}")


def step_commission(ctx: DemoContext) -> None:
    """Open cases from the violations and take one through the whole procedure."""
    from truceline.commission.demo import demo_step

    demo_step(ctx)


def step_report(ctx: DemoContext) -> None:
    """Write the day's public and restricted reports (HTML + PDF)."""
    from truceline.cli.report_cmds import demo_step_report

    demo_step_report(ctx)


def step_dashboard(ctx: DemoContext) -> None:
    """Offer (or, with --serve, start) the dashboard on the simulated day."""
    from truceline.cli.web_cmds import demo_step_dashboard

    store = ctx.state.pop("store", None)
    if store is not None:
        store.close()
    demo_step_dashboard(ctx)


STEPS: list[tuple[str, Callable[[DemoContext], None]]] = [
    ("geography: territory, line of contact, sectors", step_geography),
    ("sensors: simulate a monitored period along the line", step_simulate),
    ("ingest: validate, verify signatures, quarantine, evidence log", step_ingest),
    ("analysis: fuse, locate, attribute, check the rules", step_analyze),
    ("commission: cases, review, vote, finding, remedy, publication", step_commission),
    ("report: the day's public and restricted editions", step_report),
    ("dashboard", step_dashboard),
]


def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", "-o", help="Directory for the demo's outputs."),
    hours: float = typer.Option(24.0, "--hours", min=0.5, help="Length of the simulated period."),
    seed: int = typer.Option(0, "--seed", help="Simulator seed (same seed, same outputs)."),
    serve: bool = typer.Option(False, "--serve", help="Start the dashboard at the end (Ctrl-C stops it)."),
    port: int = typer.Option(8000, "--port", help="Dashboard port with --serve (loopback only)."),
) -> None:
    """Run the whole pipeline on the shipped data (offline) and write outputs to DIR."""
    from rich.console import Console

    console = Console()
    out.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(out=out, console=console, state={"hours": hours, "seed": seed, "serve": serve, "port": port})
    try:
        for k, (title, fn) in enumerate(STEPS, 1):
            console.rule(f"[bold]step {k}/{len(STEPS)}: {title}")
            fn(ctx)
    finally:
        store = ctx.state.pop("store", None)
        if store is not None:
            store.close()
    console.print(f"[green]demo finished[/]; outputs in {out}")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
