"""`truceline line ...`: inspect and map the line of contact of a territory file."""

from __future__ import annotations

from pathlib import Path

import typer

line_app = typer.Typer(help="The line of contact: length, parts, sectors, maps.", no_args_is_help=True)

TERRITORY_HELP = "Territory GeoJSON (spec formats.md section 3); default: the shipped 2026-01-06 snapshot."
PROFILE_HELP = "Agreement profile TOML; default: the shipped Minsk-modelled profile."


def _load(territory: Path | None, profile: Path | None):
    from truceline.geo import default_territory_path, load_territory
    from truceline.profile import load_profile

    t = load_territory(territory or default_territory_path())
    p = load_profile(profile)
    return t, p


def line_info_data(t, p) -> dict:
    """The summary printed by `line info` (also used by the demo)."""
    data = t.summary()
    sectors = t.sectors(p.sector_km)
    data["sector_km"] = p.sector_km
    data["n_sectors"] = len(sectors)
    data["sectors"] = [
        {"name": s.name, "part": s.part, "start_km": round(s.start_km, 3), "end_km": round(s.end_km, 3)}
        for s in sectors
    ]
    missing = [x for x in p.parties if x not in t.parties]
    if missing:
        data["warnings"].append(f"profile parties not in the territory: {', '.join(missing)}")
    return data


def print_line_info(data: dict, console=None) -> None:
    """Rich rendering of `line_info_data`."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    for w in data["warnings"]:
        console.print(f"[yellow]warning:[/] {w}")
    console.print(f"[bold]Territory[/] {data['territory']}")
    areas = ", ".join(f"{p} {a:,.0f} km²" for p, a in data["areas_km2"].items())
    console.print(f"[bold]Parties[/] {', '.join(data['parties'])} ({areas})")
    console.print(
        f"[bold]Line of contact[/] {data['total_length_km']:,.1f} km in {data['n_parts']} continuous parts; "
        f"main part {data['main_length_km']:,.1f} km; {data['n_sectors']} sectors of <= {data['sector_km']:g} km"
    )
    table = Table(title="Continuous parts (oriented from the northern end)")
    for col in ("part", "length km", "start (lon, lat)", "end (lon, lat)", "left | right", "sectors"):
        table.add_column(col, justify="right" if col in ("length km", "sectors") else "left")
    counts: dict[int, list[str]] = {}
    for s in data["sectors"]:
        counts.setdefault(s["part"], []).append(s["name"])
    for part in data["parts"]:
        names = counts.get(part["part"], [])
        sectors = f"{names[0]}..{names[-1]}" if len(names) > 1 else (names[0] if names else "")
        table.add_row(
            f"{part['part']}{' (closed)' if part['closed'] else ''}",
            f"{part['length_km']:,.2f}",
            f"{part['start'][0]:.4f}, {part['start'][1]:.4f}",
            f"{part['end'][0]:.4f}, {part['end'][1]:.4f}",
            f"{part['left'] or '-'} | {part['right'] or '-'}",
            sectors,
        )
    console.print(table)


@line_app.command("info")
def info(
    territory: Path = typer.Option(None, "--territory", "-t", help=TERRITORY_HELP),
    profile: Path = typer.Option(None, "--profile", "-p", help=PROFILE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Total length, parties, continuous parts (length, endpoints, sides), sectors, warnings."""
    t, p = _load(territory, profile)
    data = line_info_data(t, p)
    if as_json:
        import orjson

        typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    else:
        print_line_info(data)


def write_line_map(t, p, out: Path) -> Path:
    """Render the map for a territory and profile (used by `line map` and the demo)."""
    from truceline.geo.mapplot import render_line_map

    bands = sorted({e.distance_km for e in p.exclusion})
    return render_line_map(t, out, bands_km=bands, buffer_km=p.buffer_zone_km, sector_km=p.sector_km)


@line_app.command("map")
def map_(
    out: Path = typer.Option(..., "--out", "-o", help="Output image: .png, .svg or .pdf."),
    territory: Path = typer.Option(None, "--territory", "-t", help=TERRITORY_HELP),
    profile: Path = typer.Option(None, "--profile", "-p", help=PROFILE_HELP),
) -> None:
    """Map: territories by party, the line, withdrawal bands, buffer zone, sectors, scale bar."""
    from truceline.errors import InputError

    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise InputError(f"{out}: map output must end in .png, .svg or .pdf")
    t, p = _load(territory, profile)
    for w in t.warnings:
        typer.secho(f"warning: {w}", fg=typer.colors.YELLOW, err=True)
    path = write_line_map(t, p, out)
    typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(line_app, name="line")
