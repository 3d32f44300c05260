"""Daily reports (HTML and PDF, public and restricted editions) from spec section 4 events.

Public API:
- `write_daily_report(out_dir, day, edition="public", events=..., territory=None, profile=None,
  sensors=None, findings=None, tree_head=None, formats=("html", "pdf"))` -> {"html": Path, "pdf": Path}
- `build_daily_report(table, ctx, day, edition, ...)` -> `DailyReport` (the content, no rendering)
- `EventTable`, `load_event_features`, `MapContext`, `ReportSettings`, `load_settings`
- `public_rows` / `restricted_rows` / `public_event_id`: the two views of an event
- `scan_paths` / `scan_text`: the sensor-leak scanner used on public output
"""

from __future__ import annotations

from truceline.report.context import MapContext, ReportSettings, load_settings
from truceline.report.daily import DailyReport, build_daily_report
from truceline.report.events import EventTable, load_event_features
from truceline.report.leaks import scan_paths, scan_text
from truceline.report.public import public_event_id, public_rows, restricted_rows
from truceline.report.render import write_daily_report

__all__ = [
    "DailyReport",
    "EventTable",
    "MapContext",
    "ReportSettings",
    "build_daily_report",
    "load_event_features",
    "load_settings",
    "public_event_id",
    "public_rows",
    "restricted_rows",
    "scan_paths",
    "scan_text",
    "write_daily_report",
]
