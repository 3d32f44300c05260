"""Analysis stage: fuse accepted sensor reports into located events with honest uncertainty.

Public API:

    analyze_reports(reports, registry, territory=None, profile=None) -> list[Event]
    events_to_geojson(events) -> dict        # spec section 4 FeatureCollection
    run_analysis(reports_path, sensors_path, territory_path, out_path, ...)  # the CLI's core
"""

from truceline.analysis.events import Event, event_id, events_to_geojson
from truceline.analysis.pipeline import analyze_reports

__all__ = ["Event", "analyze_reports", "event_id", "events_to_geojson"]
