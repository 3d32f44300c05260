"""Turning report rows into signed spec lines (runs in worker processes).

The canonical bytes are produced by `orjson` with sorted keys. That is exactly RFC 8785
for the values built here, because every number passes through `_n`: integral floats
become ints (JCS prints `5`, not `5.0`), all other floats are rounded to a few decimals
and lie in [1e-4, 1e15], where ECMAScript's and orjson's shortest round-trip forms
agree; strings are ASCII. `tests/test_sim.py` checks the equality against `rfc8785`
on every report of a scenario.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import numpy as np
import orjson
from nacl.bindings import crypto_sign, crypto_sign_seed_keypair

from truceline.sim.network import K_AC, K_MON, K_RADAR, K_SAT, K_UAV, KINDS
from truceline.sim.observe import ACOUSTIC_CLASS, UAV_CLASSES

PROJECTILES = ("mortar", "shell", "rocket")
SAT_CONF = ("low", "nominal", "high")
_SORT = orjson.OPT_SORT_KEYS

# Bad-record kinds (plan codes)
NORMAL, MALFORMED, SCHEMA, UNKNOWN_SENSOR, BAD_SIGNATURE, CONFLICT, REPLAY, DUPLICATE, BLANK = range(9)
BAD_NAMES = ("normal", "malformed", "schema", "unknown_sensor", "bad_signature", "conflict", "replay",
             "duplicate", "blank")


def _n(x: float) -> float | int:
    """A JSON number whose orjson text equals its RFC 8785 text."""
    if x == int(x):
        return int(x)
    if abs(x) < 1e-4:
        return 0
    return x


def sodium_key(seed32: bytes) -> bytes:
    """libsodium's 64-byte Ed25519 secret key for a 32-byte seed (RFC 8032 private key)."""
    return crypto_sign_seed_keypair(seed32)[1]


def jcs(obj: Any) -> bytes:
    return orjson.dumps(obj, option=_SORT)


def times_text(t: np.ndarray) -> list[str]:
    us = np.round(np.asarray(t, float) * 1e6).astype(np.int64)
    s = np.datetime_as_string(us.astype("datetime64[us]"), unit="us")
    return [x + "Z" for x in s.tolist()]


def bodies(kind: int, tab: dict[str, np.ndarray], idx: np.ndarray) -> list[dict[str, Any]]:
    """Spec bodies of rows `idx` of one kind's table."""
    out: list[dict[str, Any]] = []
    if kind == K_AC:
        cols = [tab[k][idx].tolist() for k in ("cls", "az", "temp", "wsp", "wfr", "snr")]
        for c, az, te, ws, wf, snr in zip(*cols, strict=True):
            b: dict[str, Any] = {"class": ACOUSTIC_CLASS[c]}
            if az == az:
                b["azimuth_deg"] = _n(az)
            if te == te:
                b["air_temp_c"] = _n(te)
            if ws == ws:
                b["wind_speed_mps"] = _n(ws)
                b["wind_from_deg"] = _n(wf)
            b["snr_db"] = _n(snr)
            out.append(b)
    elif kind == K_RADAR:
        r7 = {k: np.round(tab[k][idx], 7).tolist() for k in ("llon", "llat", "ilon", "ilat")}
        r1 = {k: np.round(tab[k][idx], 1).tolist() for k in ("lee", "len", "lnn", "iee", "ien", "inn")}
        lt, it = times_text(tab["lt"][idx]), times_text(tab["it"][idx])
        proj = tab["proj"][idx].tolist()
        for j in range(len(idx)):
            le, ln_, lnn = _n(r1["lee"][j]), _n(r1["len"][j]), _n(r1["lnn"][j])
            ie, in_, inn = _n(r1["iee"][j]), _n(r1["ien"][j]), _n(r1["inn"][j])
            out.append({
                "launch": {"lat": _n(r7["llat"][j]), "lon": _n(r7["llon"][j]), "cov_en_m2": [[le, ln_], [ln_, lnn]]},
                "impact": {"lat": _n(r7["ilat"][j]), "lon": _n(r7["ilon"][j]), "cov_en_m2": [[ie, in_], [in_, inn]]},
                "launch_time": lt[j], "impact_time": it[j], "projectile": PROJECTILES[proj[j]]})
    elif kind == K_UAV:
        lat, lon = np.round(tab["lat"][idx], 7).tolist(), np.round(tab["lon"][idx], 7).tolist()
        cep, obj, cal = tab["cep"][idx].tolist(), tab["obj"][idx].tolist(), tab["cal"][idx].tolist()
        cnt, conf = tab["count"][idx].tolist(), tab["conf"][idx].tolist()
        media = tab["media"][idx]
        for j in range(len(idx)):
            b = {"lat": _n(lat[j]), "lon": _n(lon[j]), "cep_m": _n(cep[j]), "object": UAV_CLASSES[obj[j]]}
            if cal[j] > 0:
                b["caliber_mm"] = _n(cal[j])
            b["count"] = int(cnt[j])
            b["confidence"] = _n(conf[j])
            b["media_sha256"] = hashlib.sha256(media[j].tobytes()).hexdigest()
            out.append(b)
    elif kind == K_SAT:
        lat, lon = np.round(tab["lat"][idx], 7).tolist(), np.round(tab["lon"][idx], 7).tolist()
        rad, frp, conf = tab["radius"][idx].tolist(), tab["frp"][idx].tolist(), tab["conf"][idx].tolist()
        for j in range(len(idx)):
            out.append({"lat": _n(lat[j]), "lon": _n(lon[j]), "radius_m": _n(rad[j]), "frp_mw": _n(frp[j]),
                        "confidence": SAT_CONF[conf[j]]})
    elif kind == K_MON:
        lat, lon = np.round(tab["lat"][idx], 7).tolist(), np.round(tab["lon"][idx], 7).tolist()
        for j, i in enumerate(idx.tolist()):
            out.append({"lat": _n(lat[j]), "lon": _n(lon[j]), "category": str(tab["cat"][i]),
                        "text": str(tab["text"][i])})
    return out


class Renderer:
    """Holds everything needed to render any line of the output plan (shared via fork)."""

    def __init__(self, ids: list[str], keys: list[Any], tables: dict[int, dict[str, np.ndarray]],
                 rows: dict[str, np.ndarray], plan: dict[str, np.ndarray], seed: int) -> None:
        self.sensor_ids = ids
        self.keys = keys
        self.tables = tables
        self.rows = rows        # global row columns: kind, kidx, sensor, seq, t, id
        self.plan = plan        # per output line: type, row, variant, id, aux
        self.seed = seed

    def objects(self, rows: np.ndarray) -> list[dict[str, Any]]:
        """Unsigned report objects for global rows (in the given order)."""
        R = self.rows
        kind = R["kind"][rows]
        bod: list[Any] = [None] * len(rows)
        for k in np.unique(kind):
            sel = np.flatnonzero(kind == k)
            for j, b in zip(sel.tolist(), bodies(int(k), self.tables[int(k)], R["kidx"][rows[sel]]), strict=True):
                bod[j] = b
        times = times_text(R["t"][rows])
        sid = R["sensor"][rows].tolist()
        seq = R["seq"][rows].tolist()
        rid = R["id"][rows].tolist()
        kinds = kind.tolist()
        return [{"id": rid[j], "sensor": self.sensor_ids[sid[j]], "kind": KINDS[kinds[j]], "seq": seq[j],
                 "time": times[j], "body": bod[j]} for j in range(len(rows))]

    def sign(self, obj: dict[str, Any], key: Any) -> bytes:
        """Sign with libsodium (`key` is its 64-byte secret key) and serialise the line."""
        obj["sig"] = base64.b64encode(crypto_sign(jcs(obj), key)[:64]).decode("ascii")
        return orjson.dumps(obj)

    def render(self, start: int, end: int) -> bytes:
        """Lines [start, end) of the output plan, each followed by a newline."""
        P = self.plan
        ptype = P["type"][start:end]
        prow = P["row"][start:end]
        objs = self.objects(prow)
        sens = self.rows["sensor"][prow].tolist()
        lines: list[bytes] = []
        for j in range(end - start):
            t = int(ptype[j])
            if t in (NORMAL, DUPLICATE):
                lines.append(self.sign(objs[j], self.keys[sens[j]]))
            elif t == BLANK:
                lines.append(b"")
            else:
                lines.append(self._bad(start + j, t, objs[j], sens[j]))
        return b"".join(x + b"\n" for x in lines)

    def _bad(self, line_index: int, t: int, obj: dict[str, Any], sensor: int) -> bytes:
        P = self.plan
        v = int(P["variant"][line_index])
        fresh = str(P["id"][line_index])
        aux = int(P["aux"][line_index])
        key = self.keys[sensor]
        if t == MALFORMED:
            good = self.sign(dict(obj), key)
            return (good[: len(good) // 2], b"this is not JSON", b"[" + good + b"]", b'"' + fresh.encode() + b'"')[v % 4]
        if t == SCHEMA:
            obj["id"] = fresh
            if v == 0:
                del obj["time"]
            elif v == 1:
                obj["seq"] = -1 - aux % 1000
            elif v == 2:
                obj["time"] = obj["time"][:5] + "02-30T25:61:00Z"
            elif v == 3:
                obj["sig"] = "not*base64"
                return orjson.dumps(obj)
            elif v == 4 and "lat" in obj["body"]:
                obj["body"]["lat"] = 91.5 + aux % 7
            else:
                del obj["body"]
            return self.sign(obj, key)
        if t == UNKNOWN_SENSOR:
            obj["id"] = fresh
            if v == 0:
                obj["sensor"] = obj["sensor"].split("-")[0] + f"-x{aux % 10000:04d}"
                k = sodium_key(hashlib.sha256(f"{self.seed}/{obj['sensor']}".encode()).digest())
                return self.sign(obj, k)
            obj["sensor"] = self.sensor_ids[aux]      # registered, but of another kind
            return self.sign(obj, self.keys[aux])
        if t == BAD_SIGNATURE:
            obj["id"] = fresh
            if v == 0:
                obj["sig"] = base64.b64encode(crypto_sign(jcs(obj), key)[:64]).decode("ascii")
                obj["seq"] = obj["seq"] + 1 + aux % 5        # altered after signing
                return orjson.dumps(obj)
            if v == 1:
                return self.sign(obj, self.keys[aux])      # signed with another sensor's key
            obj["sig"] = base64.b64encode(hashlib.sha512(fresh.encode()).digest()).decode("ascii")
            return orjson.dumps(obj)
        if t == CONFLICT:
            obj["time"] = times_text(np.array([self.rows["t"][P["row"][line_index]] + 0.5 + aux % 3]))[0]
            return self.sign(obj, key)
        if t == REPLAY:
            obj["id"] = fresh
            return self.sign(obj, key)
        raise ValueError(t)


_R: Renderer | None = None


def _init(r: Renderer) -> None:
    global _R
    _R = r


def render_chunk(bounds: tuple[int, int]) -> bytes:
    assert _R is not None
    return _R.render(*bounds)
