"""File-level driver behind `truceline analyze`: read, validate, analyse, write.

Reports are validated with `truceline.ingest.validate_lines` (the same checks as
`truceline ingest`), so a report that is malformed, unsigned, replayed or in conflict never
reaches an event; its quarantine record goes to `EVENTS.quarantine.jsonl` beside the output.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from truceline.errors import InputError

from .events import events_to_geojson
from .parallel import release_free_memory
from .pipeline import analyze_reports
from .reportset import ReportSet


def quarantine_path(out_path: str | Path) -> Path:
    """`events.geojson` -> `events.quarantine.jsonl` (same directory)."""
    p = Path(out_path)
    name = p.name
    stem = name[: -len(".geojson")] if name.endswith(".geojson") else (p.stem if p.suffix else name)
    return p.with_name(f"{stem}.quarantine.jsonl")


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None


def run_analysis(
    reports_path: str | Path,
    sensors_path: str | Path,
    territory_path: str | Path | None,
    out_path: str | Path,
    profile_path: str | Path | None = None,
    db_url: str | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the whole analysis on files; returns a summary (counts and timings)."""
    from truceline.ingest import load_registry, validate_lines

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    registry = load_registry(sensors_path)
    territory = None
    if territory_path is not None:
        from truceline.geo import load_territory

        territory = load_territory(territory_path)
    profile = None
    if profile_path is not None:
        from truceline.profile import load_profile

        profile = load_profile(profile_path)
    rp = Path(reports_path)
    reports = ReportSet()
    timings["read_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    try:
        # the open file, not its splitlines(): lines end at "\n" only, as in `truceline ingest`
        # (a stray "\r" inside a line must not move the line numbers of the quarantine)
        # accepted reports go straight into columns (`ReportSet`): a million of them as
        # dicts would take ~2 GB
        with rp.open("rb") as fh:
            result = validate_lines(fh, registry, workers=workers, progress=progress, sink=reports.extend)
    except OSError as exc:
        raise InputError(f"{rp}: cannot read reports: {exc.strerror or exc}") from None
    timings["validate_s"] = time.perf_counter() - t1  # reading included
    release_free_memory()  # the validation's parsed dicts are gone: give their pages back
    if db_url is not None:
        from truceline.ingest import ingest_file
        from truceline.store import open_store

        t2 = time.perf_counter()
        with open_store(db_url) as store:
            ingest_file(rp, registry, store, workers=workers, progress=progress)
        timings["ingest_db_s"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    stats: dict[str, Any] = {}
    events = analyze_reports(reports, registry, territory=territory, profile=profile, stats=stats,
                             workers=workers)
    timings["analyze_s"] = time.perf_counter() - t3
    out = Path(out_path)
    geo = events_to_geojson(events)
    import orjson

    _atomic_write(out, orjson.dumps(geo, option=orjson.OPT_INDENT_2) + b"\n")
    q_lines = [json.dumps({"line": q.line, "id": q.id, "reason": q.reason, "detail": q.detail}, ensure_ascii=False)
               for q in result.quarantined]
    _atomic_write(quarantine_path(out), ("\n".join(q_lines) + ("\n" if q_lines else "")).encode())
    counts: dict[str, int] = {}
    for e in events:
        counts[e.type] = counts.get(e.type, 0) + 1
    return {
        "lines": result.lines,
        "accepted": result.n_accepted,
        "quarantined": len(result.quarantined),
        "duplicates": result.duplicates,
        "events": len(events),
        "by_type": dict(sorted(counts.items())),
        "stats": {k: v for k, v in stats.items() if not k.startswith("_")},
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "out": str(out),
        "quarantine": str(quarantine_path(out)),
    }
