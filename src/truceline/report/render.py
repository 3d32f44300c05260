"""Write a daily report as a self-contained HTML page and a multi-page PDF.

HTML: Jinja2 template with the figures inline as SVG (no external asset, opens offline).
PDF: Matplotlib `PdfPages` (summary and tables as text pages, the map, the trend), fonts
embedded as TrueType so `pdftotext` reads it. `write_daily_report` is the entry point the
CLI and `truceline demo` call.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from truceline.errors import InputError, TrucelineError
from truceline.report.context import MapContext, ReportSettings, load_settings
from truceline.report.daily import DailyReport, build_daily_report, parse_day
from truceline.report.events import EventTable, load_event_features, validate_features

TEMPLATES = Path(__file__).resolve().parent / "templates"
PDF_MAX_EVENTS = 300
PDF_MAX_WEAPONS = 200


def fmt_pos(e: dict[str, Any]) -> str:
    if "radius_m" in e:  # public: already rounded to the grid
        return f"{e['lat']:.3f}, {e['lon']:.3f}"
    return f"{e['lat']:.5f}, {e['lon']:.5f}"


def fmt_att(att: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in sorted(att.items(), key=lambda kv: -kv[1])) or "-"


def _env():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(fmt_pos=fmt_pos, fmt_att=fmt_att)
    return env


def report_title(r: DailyReport) -> str:
    return f"Daily report {r.day.isoformat()} ({r.edition} edition)"


def render_html(r: DailyReport, ctx: MapContext) -> str:
    from truceline.report.charts import figure_svg, map_figure, trend_figure

    map_svg = figure_svg(map_figure(ctx, r.map_events, r.parties, f"Events of {r.day.isoformat()}",
                                    sensors=r.sensors if r.edition == "restricted" else None))
    trend_svg = figure_svg(trend_figure(r.trend, r.parties))
    return _env().get_template("daily.html.j2").render(r=r, map_svg=map_svg, trend_svg=trend_svg)


# -- PDF ---------------------------------------------------------------------------------
A4P = (8.27, 11.69)
A4L = (11.69, 8.27)


def _text_pages(lines: list[tuple[str, str]], title: str, per_page: int = 74) -> list[Any]:
    """Figures holding lines of (style, text): style 'h' heading, 'p' prose, 'm' monospace."""
    from matplotlib.figure import Figure

    pages = []
    chunk: list[tuple[str, str]] = []
    for item in lines:
        chunk.append(item)
        if len(chunk) >= per_page:
            pages.append(chunk)
            chunk = []
    if chunk or not pages:
        pages.append(chunk)
    figs = []
    for n, chunk in enumerate(pages):
        fig = Figure(figsize=A4P)
        fig.text(0.06, 0.965, title, fontsize=9, color="#555555")
        fig.text(0.94, 0.965, f"page {n + 1}/{len(pages)}", fontsize=8, color="#555555", ha="right")
        y = 0.935
        for style, text in chunk:
            if style == "h":
                y -= 0.006
                fig.text(0.06, y, text, fontsize=12, weight="bold", color="#1b3a5c")
                y -= 0.022
            elif style == "m":
                fig.text(0.06, y, text, fontsize=6.8, family="DejaVu Sans Mono")
                y -= 0.0118
            else:
                fig.text(0.06, y, text, fontsize=9)
                y -= 0.0155
        figs.append(fig)
    return figs


def _table_lines(headers: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[int]) -> list[tuple[str, str]]:
    def cell(v: Any, w: int) -> str:
        s = "" if v is None else str(v)
        return (s[: w - 1] + "~") if len(s) > w else s.ljust(w)

    out = [("m", " ".join(cell(h, w) for h, w in zip(headers, widths, strict=True)))]
    out.append(("m", " ".join("-" * w for w in widths)))
    out.extend(("m", " ".join(cell(v, w) for v, w in zip(row, widths, strict=True))) for row in rows)
    return out


def _pdf_lines(r: DailyReport) -> list[tuple[str, str]]:
    L: list[tuple[str, str]] = [("h", f"Daily report - {r.day.strftime('%d %B %Y')}"),
                                ("p", f"{r.edition.upper()} EDITION. Generated {r.generated}. All times UTC."),
                                ("h", "1. Summary")]
    L += [("p", t) for t in textwrap.wrap(r.summary_text(), 100)]
    rows = [[r.day.isoformat(), r.n_events, r.n_violations]]
    for c in (r.prev7, r.prev30):
        if c.events_per_day is None:
            rows.append([f"previous {c.days} days (no data)", "no data", "no data"])
        else:
            rows.append([f"previous {c.days} d, mean ({c.covered_days} d with data)", f"{c.events_per_day:.1f}",
                         f"{c.violations_per_day:.1f}"])
    L += [("p", "")] + _table_lines(["", "events", "violations"], rows, [44, 10, 10])
    L += [("h", "2. Responsibility")]
    L += _table_lines(["responsible party", "events", "violations"],
                      [[x["party"], x["events"], x["violations"]] for x in r.by_party], [24, 10, 10])
    L += [("h", "3. Events by type")]
    L += _table_lines(["type", "events", "violations", "prev 7 d mean", "prev 30 d mean"],
                      [[x["type"], x["events"], x["violations"],
                        "no data" if r.prev7.events_per_day is None else f"{r.prev7.by_type.get(x['type'], 0):.1f}",
                        "no data" if r.prev30.events_per_day is None else f"{r.prev30.by_type.get(x['type'], 0):.1f}"]
                       for x in r.by_type], [18, 8, 10, 14, 14])
    if r.by_rule:
        L += [("p", "")] + _table_lines(["rule broken", "count"], [[x["rule"], x["count"]] for x in r.by_rule], [40, 8])
    L += [("h", "4. By sector")]
    L += _table_lines(["sector", "events", "violations", "violations by responsible party"],
                      [[x["sector"], x["events"], x["violations"],
                        ", ".join(f"{k}: {v}" for k, v in x["responsible"].items())] for x in r.by_sector],
                      [8, 8, 10, 50])
    L += [("h", "5. Weapons in violation of withdrawal lines")]
    if r.weapons:
        if len(r.weapons) > PDF_MAX_WEAPONS:
            L += [("p", f"{len(r.weapons)} sightings; the first {PDF_MAX_WEAPONS} are listed here (all in the HTML).")]
        L += _table_lines(["event", "time", "object", "sector", "dist km", "responsible", "position"],
                          [[e["id"], e["time"][11:19], e.get("object", ""), e.get("sector", ""),
                            f"{(e.get('distance_to_line_m') or 0) / 1000:.1f}", e["responsible"] or "undetermined",
                            fmt_pos(e)] for e in r.weapons[:PDF_MAX_WEAPONS]], [22, 9, 11, 7, 8, 12, 22])
    else:
        L += [("p", "No weapon was seen inside its exclusion band.")]
    if r.to_confirm:
        L += [("p", t) for t in textwrap.wrap(
            f"Sightings to confirm (restricted): {len(r.to_confirm)} whose position breaks a rule but whose "
            "confidence is below what a finding needs; send another look.", 100)]
        L += _table_lines(["event", "time", "object", "conf", "sector", "dist km", "rules"],
                          [[e["id"], e["time"][11:19], e.get("object", ""),
                            "" if e.get("confidence") is None else f"{e['confidence']:.2f}", e.get("sector", ""),
                            f"{(e.get('distance_to_line_m') or 0) / 1000:.1f}", ", ".join(e["violations_to_confirm"])]
                           for e in r.to_confirm[:PDF_MAX_WEAPONS]], [22, 9, 11, 6, 7, 8, 30])
    L += [("h", "6. Commission findings of the day")]
    if r.findings:
        for f in r.findings:
            L += [("p", f"Finding {f['id']} (case {f['case']}): {f['decision']} {f['party'] or ''} "
                        f"rules {', '.join(f['rules'])}")]
            if f["text"]:
                L += [("p", "  " + t) for t in textwrap.wrap(f["text"], 96)]
            L += [("m", "  events: " + ", ".join(f["events"])[:110])]
            if f["proof"]:
                L += [("m", "  proof: " + ", ".join(f"{k}={v}" for k, v in f["proof"].items())[:110])]
            L += [("m", f"  verify: truceline log prove {f['id']}")]
    else:
        L += [("p", "The commission issued no findings on this day.")]
    if r.tree_head:
        L += [("m", f"signed tree head: size {r.tree_head.get('tree_size')} root {r.tree_head.get('root_hash')}")]
    L += [("h", "7. Events of the day")]
    events = r.events[:PDF_MAX_EVENTS]
    omitted = r.events_truncated + len(r.events) - len(events)
    if omitted:
        L += [("p", f"First {len(events)} events listed (violations first); {omitted} more omitted here.")]
    if r.edition == "public":
        L += _table_lines(["event", "time", "type", "cell centre", "r95 m", "sector", "responsible", "violations"],
                          [[e["id"], e["time"][11:19], e["type"], fmt_pos(e), f"{e['radius_m']:.0f}",
                            e.get("sector", ""), e["responsible"] or "undetermined", ", ".join(e["violations"])]
                           for e in events], [12, 9, 15, 17, 6, 6, 12, 30])
    else:
        widths = [30, 8, 15, 19, 14, 6, 22]
        head = _table_lines(["event", "time", "type", "position", "ellipse95 m", "resp.", "violations"],
                            [], widths)
        L += head
        for e in events:
            row = [e["id"], e["time"][11:19], e["type"], fmt_pos(e),
                   f"{e['ellipse95']['major_m']:.0f}x{e['ellipse95']['minor_m']:.0f}@{e['ellipse95']['azimuth_deg']:.0f}",
                   e["responsible"] or "-", ", ".join(e["violations"])]
            L += _table_lines([""] * len(widths), [row], widths)[2:]
            for chunk in textwrap.wrap("reports: " + ", ".join(e["reports"]), 104):
                L.append(("m", "    " + chunk))
        if r.sensors:
            L += [("h", "8. Sensor network (restricted)")]
            L += _table_lines(["sensor", "kind", "position"],
                              [[s["id"], s["kind"], f"{s['lat']:.5f}, {s['lon']:.5f}" if "lat" in s else "mobile"]
                               for s in r.sensors], [14, 10, 26])
    return L


def render_pdf(r: DailyReport, ctx: MapContext, path: Path) -> None:
    from matplotlib.backends.backend_pdf import PdfPages

    from truceline.report.charts import map_figure, trend_figure

    title = report_title(r)
    pages = _text_pages(_pdf_lines(r), title)
    with PdfPages(path, metadata={"Title": title, "Creator": "truceline", "Producer": "truceline",
                                  "CreationDate": None, "ModDate": None}) as pdf:
        pdf.savefig(pages[0])
        pdf.savefig(map_figure(ctx, r.map_events, r.parties, f"{title}: events and the line of contact",
                               sensors=r.sensors if r.edition == "restricted" else None, size=A4L))
        pdf.savefig(trend_figure(r.trend, r.parties, size=(A4L[0], 4.5)))
        for fig in pages[1:]:
            pdf.savefig(fig)


# -- entry point -------------------------------------------------------------------------
def write_daily_report(
    out_dir: str | Path,
    day: str | date,
    edition: str = "public",
    events: str | Path | list[dict[str, Any]] | EventTable | None = None,
    territory: str | Path | None = None,
    profile: str | Path | ReportSettings | None = None,
    sensors: str | Path | list[dict[str, Any]] | None = None,
    findings: list[dict[str, Any]] | None = None,
    tree_head: dict[str, Any] | None = None,
    formats: Sequence[str] = ("html", "pdf"),
    context: MapContext | None = None,
) -> dict[str, Path]:
    """Write `daily-<day>-<edition>.html/.pdf` in `out_dir`; returns the paths by format.

    `events` is an `events.geojson` path, a list of spec section 4 features or an
    `EventTable`. In the public edition `sensors` is never rendered; when given, the
    written files are scanned for every sensor id, key and coordinate and the report is
    refused (files removed, `TrucelineError`) if one appears.
    """
    if isinstance(day, str):
        day = parse_day(day)
    if events is None:
        raise InputError("no events: pass --events EVENTS.geojson (or --db URL)")
    if isinstance(events, EventTable):
        table = events
    elif isinstance(events, list):
        validate_features(events)
        table = EventTable.from_features(events)
    else:
        table = EventTable.from_features(load_event_features(events))
    if context is None:
        settings = profile if isinstance(profile, ReportSettings) else load_settings(profile)
        context = MapContext(territory, settings)
    sensor_list = _load_sensors(sensors) if sensors is not None else []
    report = build_daily_report(table, context, day, edition, findings=findings,
                                sensors=sensor_list if edition == "restricted" else None, tree_head=tree_head)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"daily-{day.isoformat()}-{edition}"
    written: dict[str, Path] = {}
    if "html" in formats:
        p = out / f"{stem}.html"
        p.write_text(render_html(report, context), encoding="utf-8")
        written["html"] = p
    if "pdf" in formats:
        p = out / f"{stem}.pdf"
        render_pdf(report, context, p)
        written["pdf"] = p
    if edition == "public" and sensor_list:
        from truceline.report.leaks import scan_paths

        leaks = scan_paths(written.values(), sensor_list)
        if leaks:
            for p in written.values():
                p.unlink(missing_ok=True)
            first = leaks[0]
            raise TrucelineError(f"public report refused: {first.where} reveals sensor {first.sensor} "
                                 f"({first.what}); {len(leaks)} leak(s) in total")
    return written


def _load_sensors(sensors: str | Path | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(sensors, list):
        return sensors
    import orjson

    path = Path(sensors)
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read sensor registry: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(s, dict) and "id" in s for s in data):
        raise InputError(f"{path}: sensor registry must be a JSON array of objects with an 'id'")
    return data
