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


STEPS: list[tuple[str, Callable[[DemoContext], None]]] = [
    ("geography: territory, line of contact, sectors", step_geography),
]


def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", "-o", help="Directory for the demo's outputs."),
) -> None:
    """Run the pipeline demo on the shipped data (offline) and write outputs to DIR."""
    from rich.console import Console

    console = Console()
    out.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(out=out, console=console)
    for k, (title, fn) in enumerate(STEPS, 1):
        console.rule(f"[bold]step {k}/{len(STEPS)}: {title}")
        fn(ctx)
    console.print(f"[green]demo finished[/]; outputs in {out}")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
