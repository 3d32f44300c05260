"""Matplotlib figures of a daily report: the map of the line and the 30-day trend.

The same figure goes to the HTML (inline SVG, text kept as text, no date metadata) and
to the PDF (a page of `PdfPages`). Figures only draw what `DailyReport` hands them, so a
public map cannot show anything the public edition does not contain.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import PathPatch  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402

from truceline.report.context import MapContext  # noqa: E402

PARTY_COLOURS = {"UA": "#1f5fa8", "RU": "#b8322a"}
FALLBACK_COLOURS = ["#6a3d9a", "#33a02c", "#ff7f00", "#b15928", "#1f78b4", "#e31a1c"]
UNDETERMINED_COLOUR = "#555555"
TERRITORY_FILL = {"UA": "#dce8f5", "RU": "#f3dcd8"}
RASTER_ABOVE = 3000

plt.rcParams.update(
    {
        "svg.fonttype": "none",
        "svg.hashsalt": "truceline",
        "pdf.fonttype": 42,
        "font.size": 9,
        "font.family": "DejaVu Sans",
    }
)


def party_colour(party: str, parties: list[str]) -> str:
    if party in PARTY_COLOURS:
        return PARTY_COLOURS[party]
    if party == "undetermined" or not party:
        return UNDETERMINED_COLOUR
    idx = parties.index(party) if party in parties else len(parties)
    return FALLBACK_COLOURS[idx % len(FALLBACK_COLOURS)]


def _geom_path(geom: Any) -> MplPath | None:
    polys = list(geom.geoms) if hasattr(geom, "geoms") else [geom]
    verts: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for p in polys:
        if p.is_empty or p.geom_type != "Polygon":
            continue
        for ring in [p.exterior, *p.interiors]:
            xy = np.asarray(ring.coords)[:, :2]
            if len(xy) < 3:
                continue
            c = np.full(len(xy), MplPath.LINETO, dtype=np.uint8)
            c[0] = MplPath.MOVETO
            c[-1] = MplPath.CLOSEPOLY
            verts.append(xy)
            codes.append(c)
    if not verts:
        return None
    return MplPath(np.concatenate(verts), np.concatenate(codes))


def map_figure(ctx: MapContext, ev: dict[str, np.ndarray], parties: list[str], title: str,
               sensors: list[dict[str, Any]] | None = None, size=(11.0, 7.2)) -> Figure:
    """The line, territories, exclusion bands, sector marks and the day's events."""
    fig = Figure(figsize=size)
    ax = fig.add_axes((0.04, 0.06, 0.78, 0.86))
    minx, miny, maxx, maxy = ctx.bounds
    for party, geom in ctx.polygons.items():
        path = _geom_path(geom.simplify(0.003))
        if path is not None:
            fill = TERRITORY_FILL.get(party)
            ax.add_patch(PathPatch(path, facecolor=fill or party_colour(party, list(ctx.parties)),
                                   alpha=1.0 if fill else 0.15, edgecolor="#999999", linewidth=0.3, zorder=1))
    band_alpha = [0.10, 0.14, 0.18, 0.22]
    for k, band in enumerate(ctx.exclusion_bands):
        path = _geom_path(band["geometry"])
        if path is not None:
            ax.add_patch(PathPatch(path, facecolor="#e0a000", alpha=band_alpha[k % 4], edgecolor="#c08000",
                                   linewidth=0.4, linestyle=(0, (3, 2)), zorder=2,
                                   label=f"exclusion band {band['distance_m'] / 1000:.0f} km "
                                         f"({', '.join(band['classes'])})"))
    for g in ctx.line.geoms:
        xy = np.asarray(g.coords)
        ax.plot(xy[:, 0], xy[:, 1], color="black", linewidth=1.1, zorder=5.5)
    ax.plot([], [], color="black", linewidth=1.1, label="line of contact")
    for sec in ctx.sectors:
        x0, y0 = sec["geometry"].coords[0][:2]
        ax.plot([x0], [y0], marker="|", color="black", markersize=6, zorder=3)
        digits = "".join(ch for ch in sec["label"] if ch.isdigit())
        if not digits or int(digits) % 2 == 1:
            ax.annotate(sec["label"], (x0, y0), xytext=(4, 4), textcoords="offset points", fontsize=6,
                        color="#333333", zorder=6)
    lon, lat = ev.get("lon", np.array([])), ev.get("lat", np.array([]))
    if len(lon):
        violated = ev["violated"].astype(bool)
        resp = ev["responsible"]
        many = len(lon) > RASTER_ABOVE  # thousands of markers: one embedded image keeps files small
        for party in sorted(set(resp.tolist())):
            m = resp == party
            col = party_colour(party, parties)
            ax.scatter(lon[m & ~violated], lat[m & ~violated], s=4 if many else 7, facecolors="none",
                       edgecolors=col, linewidths=0.5, zorder=4, rasterized=many)
            ax.scatter(lon[m & violated], lat[m & violated], s=6 if many else 11, color=col, edgecolors="white",
                       linewidths=0.2, zorder=5, label=f"violation, responsible: {party}", rasterized=many)
        ax.scatter([], [], s=7, facecolors="none", edgecolors="#333333", linewidths=0.5, label="event, no violation")
    if sensors:
        sl = np.array([s["lon"] for s in sensors if "lon" in s])
        sa = np.array([s["lat"] for s in sensors if "lat" in s])
        ax.scatter(sl, sa, marker="^", s=12, color="#2b8a3e", zorder=6, label="sensor (restricted)")
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect(1.0 / math.cos(math.radians(ctx.lat0)))
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.grid(True, linewidth=0.2, color="#bbbbbb")
    ax.set_title(title, fontsize=11, loc="left")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return fig


def trend_figure(trend: list[dict[str, Any]], parties: list[str], size=(11.0, 3.6)) -> Figure:
    """Events per day and violations per day by responsible party; days without data hatched."""
    fig = Figure(figsize=size)
    ax = fig.add_axes((0.06, 0.2, 0.74, 0.7))
    days = [t["day"][5:] for t in trend]
    x = np.arange(len(trend))
    ev = np.array([t["events"] if t["events"] is not None else 0 for t in trend], float)
    nodata = np.array([t["events"] is None for t in trend])
    ax.bar(x, ev, width=0.8, color="#d9d9d9", label="events", zorder=1)
    bottom = np.zeros(len(trend))
    keys = sorted({k for t in trend for k in t["by_party"]}, key=lambda k: (k == "undetermined", k))
    for k in keys:
        vals = np.array([t["by_party"].get(k, 0) for t in trend], float)
        ax.bar(x, vals, width=0.5, bottom=bottom, color=party_colour(k, parties), label=f"violations: {k}",
               zorder=2)
        bottom += vals
    top = max(float(ev.max()) if len(ev) else 1.0, 1.0)
    if nodata.any():
        ax.bar(x[nodata], np.full(int(nodata.sum()), top), width=0.8, color="none", edgecolor="#aaaaaa",
               hatch="///", linewidth=0, label="no data", zorder=0)
    ax.set_xticks(x[::2], days[::2], rotation=60, fontsize=7)
    ax.set_ylabel("per day")
    ax.set_title("Events and violations, last 30 days", fontsize=10, loc="left")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    ax.grid(True, axis="y", linewidth=0.2)
    return fig


_GEOM_ATTR = re.compile(r'\b(d|points|transform|x|y|x1|y1|x2|y2|cx|cy|r|width|height|viewBox)="([^"]*)"')
_LONG_NUM = re.compile(r"(-?\d+\.\d{2})\d+")


def _short_numbers(m: re.Match[str]) -> str:
    short = _LONG_NUM.sub(r"\1", m.group(2))
    return f'{m.group(1)}="{short}"'


def figure_svg(fig: Figure) -> str:
    """Inline SVG text (no XML prolog, no date metadata).

    Geometry attributes (path data, positions, sizes; in points of the figure) are written
    to 0.01 pt: finer than any screen, and it leaves no number with 4 or more decimals in
    the drawing, so such a number in a public report can only be data (the leak scan
    relies on this)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "truceline"}, dpi=150)
    text = buf.getvalue()
    start = text.find("<svg")
    text = text[start:] if start >= 0 else text
    return _GEOM_ATTR.sub(_short_numbers, text)
