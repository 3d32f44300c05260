"""Scenario knobs. Event rates are per hour (fires: per day) per 1,000 km of instrumented
contact line at `intensity` 1; clutter rates are per sensor.

`intensity` multiplies the rates of violations and clutter (launch missions, weapon
and buffer sightings, non-weapon explosions, false detections). At intensity 1 a day
yields roughly 25-30 thousand reports on the 2026-01-06 territory; see `docs/sim.md`
for the intensity that gives about a million reports per day.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class SimConfig:
    # -- network layout ------------------------------------------------------------------
    min_part_km: float = 8.0                # contact-line parts shorter than this get no sensors
    acoustic_spacing_km: tuple[float, float] = (4.0, 6.0)
    acoustic_depth_km: tuple[float, float] = (1.0, 10.0)
    acoustic_timing_sigma_s: tuple[float, float] = (0.002, 0.009)
    acoustic_azimuth_share: float = 0.4
    acoustic_azimuth_sigma_deg: tuple[float, float] = (2.0, 5.0)
    acoustic_wind_share: float = 0.3
    acoustic_temp_share: float = 0.35        # of the arrays without a wind sensor
    wind_sigma_mps: float = 0.5
    wind_sigma_deg: float = 10.0
    temp_sigma_c: float = 0.3
    radar_spacing_km: float = 50.0
    radar_depth_km: tuple[float, float] = (4.0, 12.0)
    radar_sector_deg: float = 120.0
    uav_sector_km: float = 40.0
    uav_cep_m: tuple[float, float] = (5.0, 30.0)
    uav_misclass_rate: float = 0.05
    uav_depth_km: float = 90.0              # how deep behind the line drones patrol
    uav_depth_scale_km: float = 15.0        # waypoint depth ~ exponential with this mean
    uav_swath_km: float = 5.0               # footprint width of the drone's sensors
    satellites: tuple[str, ...] = ("viirs-snpp", "viirs-noaa20", "viirs-noaa21")
    monitor_teams: int = 6
    # -- ground truth ---------------------------------------------------------------------
    party_share: dict[str, float] | None = None   # default 0.5 / 0.5
    weapon_share: dict[str, float] = field(
        default_factory=lambda: {"mortar": 0.45, "artillery": 0.4, "mlrs": 0.15})
    missions_per_hour: float = 6.0           # fire missions per 1,000 km of line
    near_line_share: float = 0.08            # launches within 500 m of the line
    objects_per_hour: float = 4.6            # weapon objects appearing (tanks, guns, trucks, ...)
    object_inside_share: float = 0.35        # share of restricted weapons placed inside their exclusion distance
    buffer_per_hour: float = 0.45            # presences in the buffer zone / across the line
    other_explosions_per_hour: float = 0.4   # demolitions, quarry blasts: real, not weapons fire
    wildfires_per_day: float = 0.75
    industrial_hotspots: int = 3
    acoustic_clutter_per_array_hour: float = 0.4
    radar_false_tracks_per_radar_hour: float = 0.01
    uav_false_per_flight: float = 0.3
    monitor_reports_per_team_day: float = 3.0
    # -- sensing --------------------------------------------------------------------------
    label_error_rate: float = 0.07           # acoustic launch/impact label wrong or 'unknown'
    acoustic_outlier_rate: float = 0.003     # arrivals with a gross timing/azimuth error
    acoustic_merge_s: float = 0.25           # onsets closer than this at one array merge
    late_share: float = 0.003                # reports delayed by minutes to an hour (link outage)
    # -- bad input --------------------------------------------------------------------------
    bad_share: float = 0.002
    bad_mix: dict[str, float] = field(default_factory=lambda: {
        "malformed": 0.14, "schema": 0.14, "unknown_sensor": 0.14, "bad_signature": 0.14,
        "conflict": 0.1, "replay": 0.14, "duplicate": 0.14, "blank": 0.06})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
