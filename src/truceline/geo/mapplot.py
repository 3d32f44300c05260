"""A static map of the territory and the line of contact (matplotlib, no network, no tiles).

Shows party territories filled, the line thick, withdrawal bands and the buffer zone on
each side, sector boundaries and names, a scale bar and a title with the total length.
Bands are the contours of the geodesic signed distance to the line evaluated on a grid
(`Territory.signed_distance_m`), so they are exact distance bands on the ellipsoid
(to the grid resolution, ~1 km) rather than planar buffers in degrees.

Takes plain numbers (no profile import): `bands_km` are withdrawal distances per side,
`buffer_km` the buffer-zone half-width.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import shapely

PARTY_COLOURS = ("#4a7fc1", "#c8553d", "#6a994e", "#9b5de5", "#f2a541", "#2ec4b6")


def _poly_patches(geom, **kw):
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MplPath

    patches = []
    for poly in shapely.get_parts(geom):
        if poly.geom_type != "Polygon":
            continue
        verts, codes = [], []
        for ring in [poly.exterior, *poly.interiors]:
            c = np.asarray(ring.coords)[:, :2]
            verts.append(c)
            codes.append([MplPath.MOVETO] + [MplPath.LINETO] * (len(c) - 2) + [MplPath.CLOSEPOLY])
        path = MplPath(np.concatenate(verts), np.concatenate(codes))
        patches.append(PathPatch(path, **kw))
    return patches


def render_line_map(
    territory,
    out: str | Path,
    bands_km: Sequence[float] = (15.0, 25.0, 35.0, 70.0),
    buffer_km: float = 2.0,
    sector_km: float = 50.0,
    title: str | None = None,
    grid_deg: float = 0.02,
) -> Path:
    """Write the map to `out` (format from the suffix: .png, .svg, .pdf) and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    out = Path(out)
    line = territory.contact_line
    minx, miny, maxx, maxy = territory.bounds
    lat_mid = (miny + maxy) / 2.0
    fig, ax = plt.subplots(figsize=(14, 9.5), dpi=110)
    ax.set_aspect(1.0 / math.cos(math.radians(lat_mid)))
    handles = []
    for k, party in enumerate(territory.parties):
        colour = PARTY_COLOURS[k % len(PARTY_COLOURS)]
        for patch in _poly_patches(
            territory.polygon(party), facecolor=colour, alpha=0.28, edgecolor=colour, lw=0.4
        ):
            ax.add_patch(patch)
        handles.append(
            Patch(facecolor=colour, alpha=0.4, label=f"{party} ({territory.area_km2(party):,.0f} km²)")
        )

    if line.parts:
        # exact geodesic distance bands via contours of the signed distance on a grid
        reach = max([*bands_km, buffer_km, 1.0]) * 1000.0
        lb = shapely.total_bounds(line.parts)
        pad_lat = reach / 111_000.0 * 1.1
        pad_lon = pad_lat / math.cos(math.radians(lat_mid))
        gx = np.arange(max(minx, lb[0] - pad_lon), min(maxx, lb[2] + pad_lon) + grid_deg, grid_deg)
        gy = np.arange(max(miny, lb[1] - pad_lat), min(maxy, lb[3] + pad_lat) + grid_deg, grid_deg)
        lon, lat = np.meshgrid(gx, gy)
        dist_km = territory.distance_to_line_m(lon, lat) / 1000.0
        inside = territory.party_at(lon, lat) != ""
        dist_km = np.where(inside, dist_km, np.nan)
        levels = sorted({float(b) for b in bands_km if b > 0})
        if buffer_km > 0:
            ax.contourf(lon, lat, dist_km, levels=[0.0, buffer_km], colors=["#ffd166"], alpha=0.85)
            handles.append(Patch(facecolor="#ffd166", label=f"buffer zone ({buffer_km:g} km each side)"))
        if levels:
            # light shading that fades with distance: the nearer band, the darker
            fill_levels = [buffer_km if buffer_km > 0 else 0.0, *[v for v in levels if v > buffer_km]]
            if len(fill_levels) > 1:
                alphas = np.linspace(0.22, 0.06, len(fill_levels) - 1)
                for (lo, hi), alpha in zip(
                    zip(fill_levels[:-1], fill_levels[1:], strict=False), alphas, strict=True
                ):
                    ax.contourf(lon, lat, dist_km, levels=[lo, hi], colors=["#444444"], alpha=float(alpha))
            cmap = matplotlib.colormaps["Greys"]
            cs = ax.contour(
                lon,
                lat,
                dist_km,
                levels=levels,
                colors=[cmap(0.45 + 0.5 * i / max(1, len(levels) - 1)) for i in range(len(levels))],
                linewidths=0.9,
                linestyles="--",
            )
            ax.clabel(cs, fmt=lambda v: f"{v:g} km", fontsize=7, inline=True)
            handles.append(
                Line2D(
                    [],
                    [],
                    color="grey",
                    ls="--",
                    label="withdrawal lines: " + ", ".join(f"{v:g}" for v in levels) + " km",
                )
            )
        for k, g in enumerate(line.parts):
            c = np.asarray(g.coords)
            ax.plot(
                c[:, 0], c[:, 1], color="black", lw=3.0 if k == 0 else 2.0, solid_capstyle="round", zorder=5
            )
        handles.append(
            Line2D([], [], color="black", lw=3, label=f"line of contact ({line.length_m / 1000:,.0f} km)")
        )
        # sectors: boundary ticks and names at the middle of each sector
        for s in line.sectors(sector_km):
            mid_lon, mid_lat, az = line.point_at((s.start_km + s.end_km) / 2.0, s.part)
            b_lon, b_lat, _ = line.point_at(s.start_km, s.part)
            ax.plot([b_lon], [b_lat], marker="|", color="black", ms=9, mew=1.5, zorder=6)
            ang = math.radians(az + 90.0)
            off = 0.12
            ax.annotate(
                s.name,
                (mid_lon, mid_lat),
                xytext=(
                    mid_lon + off * math.sin(ang) / math.cos(math.radians(mid_lat)),
                    mid_lat + off * math.cos(ang),
                ),
                fontsize=6.5,
                ha="center",
                va="center",
                zorder=7,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
            )
    _scale_bar(ax, minx, miny, maxx, maxy)
    ax.set_xlim(minx - 0.2, maxx + 0.2)
    ax.set_ylim(miny - 0.2, maxy + 0.2)
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.grid(alpha=0.2)
    name = territory.path.name if territory.path else "territory"
    ax.set_title(title or f"{name}: line of contact {line.length_m / 1000:,.1f} km ({len(line.parts)} parts)")
    ax.legend(handles=handles, loc="upper left", fontsize=8, framealpha=0.9)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def _scale_bar(ax, minx, miny, maxx, maxy) -> None:
    """A 100/200 km scale bar measured geodesically along the parallel at its position."""
    from truceline.geo.local import geodesic_forward

    lat = miny + 0.06 * (maxy - miny)
    lon = maxx - 0.32 * (maxx - minx)
    span_km = 200.0 if (maxx - minx) > 8 else 100.0 if (maxx - minx) > 3 else 20.0
    lon2, lat2 = geodesic_forward(lon, lat, 90.0, span_km * 1000.0)
    ax.plot([lon, float(lon2)], [lat, lat], color="black", lw=3)
    ax.plot([lon, lon], [lat - 0.05, lat + 0.05], color="black", lw=1.5)
    ax.plot([float(lon2)] * 2, [lat - 0.05, lat + 0.05], color="black", lw=1.5)
    ax.text((lon + float(lon2)) / 2.0, lat + 0.1, f"{span_km:g} km", ha="center", va="bottom", fontsize=9)
