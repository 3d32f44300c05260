"""Replaying simulated reports in arrival order at a chosen speed-up (for streaming ingest).

Lines go to a binary stream (stdout) or are appended to a file and flushed one by one,
so a consumer can `tail -f` the file. Pacing follows each line's arrival time divided
by `speedup` (0 = no pacing).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np


def stream_lines(lines: Iterable[bytes], arrival: np.ndarray, target: BinaryIO | Path, speedup: float,
                 sleep=time.sleep, clock=time.monotonic) -> int:
    """Write `lines` (arrival order) to `target`, pacing by `arrival`; returns lines written."""
    own = isinstance(target, Path)
    fh: BinaryIO = open(target, "ab") if own else target  # noqa: SIM115 - closed below
    n = 0
    try:
        wall0 = clock()
        sim0 = float(arrival[0]) if len(arrival) else 0.0
        for line, t in zip(lines, arrival, strict=False):
            if speedup > 0:
                due = (float(t) - sim0) / speedup - (clock() - wall0)
                if due > 0:
                    sleep(due)
            fh.write(line + b"\n")
            fh.flush()
            n += 1
    except BrokenPipeError:
        pass
    finally:
        if own:
            fh.close()
    return n
