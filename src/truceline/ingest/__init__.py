"""Ingest stage: validate signed sensor reports (spec formats.md sections 1-2), quarantine
the bad ones with a reason, store the good ones and append them to the evidence log.

Public API::

    registry = load_registry("sensors.json")          # dict[str, Sensor]
    result = validate_lines(lines, registry)           # pure, no database
    summary = ingest_file("reports.jsonl", registry, store)   # with a store, idempotent
"""

from __future__ import annotations

from typing import Any

from truceline.ingest.pipeline import Quarantine, ValidationResult, validate_lines
from truceline.ingest.registry import Sensor, load_registry, registry_from_json

__all__ = [
    "IngestSummary",
    "Quarantine",
    "Sensor",
    "ValidationResult",
    "ingest_file",
    "ingest_lines",
    "load_registry",
    "registry_from_json",
    "validate_lines",
]


def __getattr__(name: str) -> Any:
    # The store-backed half pulls in SQLAlchemy; load it only when asked for.
    if name in ("ingest_file", "ingest_lines", "IngestSummary"):
        from truceline.ingest import store_sink

        return getattr(store_sink, name)
    raise AttributeError(name)
