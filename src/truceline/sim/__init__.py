"""Scenario simulator: a monitoring network along a real line of contact, the ground
truth of a ceasefire period with violations, and the signed sensor reports (spec
formats.md) it produces. See `docs/sim.md`.

    from truceline.sim import simulate
    sc = simulate(territory, profile, hours=2, seed=1, intensity=1.0, start=None, out_dir=None)
    sc.sensors, sc.lines / sc.reports, sc.truth, sc.keys
"""

from truceline.sim.config import SimConfig
from truceline.sim.core import KEYS_FILE, TRUTH_FORMAT, Scenario, simulate

__all__ = ["KEYS_FILE", "TRUTH_FORMAT", "Scenario", "SimConfig", "simulate"]
