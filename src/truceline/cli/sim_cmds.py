"""`truceline simulate`: write a simulated scenario (sensors, signed reports, truth, keys)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_cmd)


def simulate_cmd(
    out: Path = typer.Option(..., "--out", help="Directory for sensors.json, reports.jsonl, truth.json and the secret keys."),
    territory: Path = typer.Option(None, "--territory", help="Territory GeoJSON (spec section 3); default: the shipped 2026-01-06 snapshot."),
    hours: float = typer.Option(24.0, "--hours", help="Length of the simulated period."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives byte-identical files."),
    profile: Path = typer.Option(None, "--profile", help="Agreement profile (TOML); default: the shipped profile."),
    intensity: float = typer.Option(1.0, "--intensity", help="Multiplier of violation and clutter rates (1: ~25k reports/day; 41: ~1M/day)."),
    start: str = typer.Option(None, "--start", help="RFC 3339 start time (default: the profile's ceasefire start, else 2026-01-06T00:00:00Z)."),
    bad_share: float = typer.Option(None, "--bad-share", help="Share of deliberately bad lines (default 0.002)."),
    workers: int = typer.Option(None, "--workers", help="Signing processes (default: CPU count)."),
    stream: str = typer.Option(None, "--stream", help="After writing, replay the reports in arrival order to 'stdout' or append them to FILE."),
    speedup: float = typer.Option(60.0, "--speedup", help="Stream pace: simulated seconds per wall-clock second (0: as fast as possible)."),
) -> None:
    """Simulate a ceasefire period along the line of contact and write signed sensor reports."""
    import sys

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from truceline.errors import InputError
    from truceline.sim import KEYS_FILE, SimConfig, simulate
    from truceline.sim.stream import stream_lines

    cfg = SimConfig()
    if bad_share is not None:
        if not 0.0 <= bad_share <= 0.5:
            raise InputError(f"--bad-share must be within 0..0.5, got {bad_share}")
        cfg.bad_share = bad_share
    if speedup < 0:
        raise InputError(f"--speedup must be >= 0, got {speedup}")
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console,
                  transient=True) as prog:
        task = prog.add_task("simulating", total=1.0)
        sc = simulate(territory, profile, hours=hours, seed=seed, intensity=intensity, start=start, out_dir=out,
                      config=cfg, workers=workers, keep_lines=False,
                      progress=lambda name, frac: prog.update(task, completed=frac, description=name))
    c = sc.truth["counts"]
    console.print(
        f"[green]wrote[/] {out}/reports.jsonl ({c['lines']:,} lines: {c['reports']:,} reports, "
        f"{c['bad_records']} bad, {c['duplicates']} duplicates), sensors.json ({len(sc.sensors)} sensors), "
        f"truth.json ({c['launches']:,} launches); [bold red]secret keys in {out}/{KEYS_FILE}[/]")
    if stream:
        target = sys.stdout.buffer if stream == "stdout" else Path(stream)
        stream_lines(sc.iter_lines(), sc.arrival, target, speedup)
