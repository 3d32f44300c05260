"""Helpers shared by the test modules (import them with `from common import ...`).

Plain module rather than conftest so that test packages with their own conftest (the
browser tests) cannot shadow it.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import rfc8785
from nacl.signing import SigningKey

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


# ---------------------------------------------------------------------------- signed reports


class SensorNet:
    """Sensors with private keys, for building signed test reports of any kind."""

    def __init__(self, kinds: dict[str, str], seed: int = 7) -> None:
        self.keys = {sid: SigningKey(bytes([seed % 256, len(sid)]) + sid.encode().ljust(30, b"\0")[:30])
                     for sid in kinds}
        self.kinds = kinds
        self.seq: dict[str, int] = dict.fromkeys(kinds, 0)

    def registry_json(self) -> list[dict[str, Any]]:
        out = []
        for sid, kind in self.kinds.items():
            entry: dict[str, Any] = {"id": sid, "kind": kind,
                                     "public_key": base64.b64encode(bytes(self.keys[sid].verify_key)).decode()}
            if kind in ("acoustic", "radar"):
                entry.update(lat=48.5, lon=37.5, alt=0.0)
            if kind == "acoustic":
                entry["timing_sigma_s"] = 0.01
            out.append(entry)
        return out

    def registry(self):  # type: ignore[no-untyped-def]
        from truceline.ingest import registry_from_json

        return registry_from_json(self.registry_json())

    def sign(self, report: dict[str, Any], sensor: str | None = None) -> dict[str, Any]:
        sensor = sensor or report["sensor"]
        unsigned = {k: v for k, v in report.items() if k != "sig"}
        sig = self.keys[sensor].sign(rfc8785.dumps(unsigned)).signature
        return {**unsigned, "sig": base64.b64encode(sig).decode()}

    def report(self, sensor: str, body: dict[str, Any] | None = None, *, rid: str | None = None,
               seq: int | None = None, time: str = "2026-01-06T00:00:00Z", **extra: Any) -> dict[str, Any]:
        kind = self.kinds[sensor]
        if seq is None:
            self.seq[sensor] += 1
            seq = self.seq[sensor]
        rep = {"id": rid or f"{sensor}-{seq}", "sensor": sensor, "kind": kind, "seq": seq, "time": time,
               "body": body if body is not None else default_body(kind), **extra}
        return self.sign(rep)


def default_body(kind: str) -> dict[str, Any]:
    cov = [[100.0, 5.0], [5.0, 80.0]]
    return {
        "acoustic": {"class": "launch", "azimuth_deg": 12.5, "air_temp_c": 3.0},
        "radar": {"launch": {"lat": 48.1, "lon": 37.2, "cov_en_m2": cov},
                  "impact": {"lat": 48.2, "lon": 37.4, "cov_en_m2": cov},
                  "launch_time": "2026-01-06T00:00:00Z", "impact_time": "2026-01-06T00:00:30.5Z",
                  "projectile": "shell"},
        "uav": {"lat": 48.3, "lon": 37.1, "cep_m": 12.0, "object": "tank", "count": 2, "confidence": 0.8},
        "satellite": {"lat": 48.3, "lon": 37.1, "radius_m": 190.0, "frp_mw": 3.2, "confidence": "nominal"},
        "monitor": {"lat": 48.3, "lon": 37.1, "category": "shelling", "text": "Обстріл — heard at 03:10"},
    }[kind]


def jsonl(reports: list[Any]) -> list[bytes]:
    import json

    return [r if isinstance(r, bytes) else json.dumps(r, ensure_ascii=False).encode() for r in reports]
