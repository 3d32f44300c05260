"""Scan a public output for anything that would reveal the sensor network.

Needles per sensor: its id, its public key, and its coordinates in the number formats a
renderer might use (to the metre: 5 decimals of degrees; rounded to 4 decimals; the raw
registry value; 6 and 7 decimals). Numbers match only as whole numbers (not inside a
longer digit string). The public edition shows coordinates with at most 3 decimals, so a
4-or-more-decimal match is a real leak, not a coincidence.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Leak:
    where: str
    sensor: str
    what: str
    text: str


def _number_variants(v: float) -> set[str]:
    out = {repr(float(v))}
    for d in (4, 5, 6, 7):
        s = f"{v:.{d}f}"
        out.add(s)
        if d >= 5:
            out.add(s.rstrip("0").rstrip("."))
    return {s for s in out if len(s.split(".")[-1]) >= 4 or "." not in s}


_NUM_RE = re.compile(r"(?<![\d.])-?\d+\.\d+(?![\d])")
_TOKEN_RE = re.compile(r"[\w.-]+")


def sensor_needles(sensors: Iterable[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(sensor id, what, kind, needle) for every identifying string of each sensor.

    kind is `token` (must equal a whole word-ish token), `number` (must equal a whole
    decimal number in the text) or `substring` (keys: anywhere).
    """
    needles = []
    for s in sensors:
        sid = str(s.get("id", ""))
        if sid:
            needles.append((sid, "id", "token", sid))
        key = s.get("public_key")
        if key:
            needles.append((sid, "public_key", "substring", str(key)))
        for axis in ("lat", "lon"):
            if isinstance(s.get(axis), int | float):
                for txt in _number_variants(float(s[axis])):
                    needles.append((sid, f"{axis}={txt}", "number", txt))
    return needles


def _context(text: str, needle: str) -> str:
    i = text.find(needle)
    return text[max(0, i - 30) : i + len(needle) + 30] if i >= 0 else needle


def scan_text(text: str, sensors: Iterable[dict[str, Any]], where: str = "text", numbers: bool = True) -> list[Leak]:
    """Every sensor id (as a token, also inside longer ids like `ac-013-r0001`), key and
    coordinate (as a whole number; skipped when `numbers` is false) found in `text`."""
    found_numbers: set[str] = set(_NUM_RE.findall(text)) if numbers else set()
    found_numbers |= {n.lstrip("-") for n in found_numbers}
    tokens = set(_TOKEN_RE.findall(text))
    parts = {p for tok in tokens for p in re.split(r"[._]", tok) if p}
    leaks = []
    for sid, what, kind, needle in sensor_needles(sensors):
        if kind == "number":
            hit = needle in found_numbers
        elif kind == "token":
            hit = needle in tokens or needle in parts or any(
                t.startswith(needle + "-") or t.endswith("-" + needle) or ("-" + needle + "-") in t
                for t in tokens if needle in t
            )
        else:
            hit = needle in text
        if hit:
            leaks.append(Leak(where, sid, what, _context(text, needle)))
    return leaks


_PDF_STR = re.compile(rb"\((?:[^()\\]|\\.)*\)", re.S)
_PDF_ESC = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f", b"(": b"(", b")": b")", b"\\": b"\\"}


def _pdf_string(lit: bytes) -> bytes:
    body = lit[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i : i + 1]
        if c == b"\\" and i + 1 < len(body):
            nxt = body[i + 1 : i + 2]
            if nxt in _PDF_ESC:
                out += _PDF_ESC[nxt]
                i += 2
                continue
            m = re.match(rb"[0-7]{1,3}", body[i + 1 : i + 4])
            if m:
                out.append(int(m.group(0), 8) & 0xFF)
                i += 1 + len(m.group(0))
                continue
            i += 1
            continue
        out += c
        i += 1
    return bytes(out)


def _stream_text(stream: bytes) -> str:
    """The strings shown by text operators (Tj, TJ, ', \") of a content stream, joined per
    operator, so kerned runs like `[(4) 0.2 (8) ...] TJ` read as `48...` again. Two-byte
    strings (matplotlib's Type 42 fonts) are decoded as UTF-16BE."""
    lines = []
    for m in re.finditer(rb"\[(.*?)\]\s*TJ|(\((?:[^()\\]|\\.)*\))\s*(?:Tj|'|\")", stream, re.S):
        lits = _PDF_STR.findall(m.group(1)) if m.group(1) is not None else [m.group(2)]
        raw = b"".join(_pdf_string(x) for x in lits)
        if len(raw) >= 2 and len(raw) % 2 == 0 and raw[0::2].count(0) >= len(raw) // 4:
            text = raw.decode("utf-16-be", "replace")
        else:
            text = raw.decode("latin-1")
        lines.append(text)
    return "\n".join(lines)


def pdf_texts(path: Path) -> tuple[str, str]:
    """(text, streams) of a PDF. `text`: what it shows and says about itself: `pdftotext`
    (poppler) when installed, the strings of its text operators (decoded here, so no
    external tool is needed) and the file outside its streams (Info dictionary, XMP).
    `streams`: all decompressed stream bytes (drawing operators, fonts, images), where
    numbers are figure coordinates, so only ids and keys are searched there."""
    raw = path.read_bytes()
    outside = re.sub(rb"stream\r?\n.*?\r?\nendstream", b"stream endstream", raw, flags=re.S)
    text = [outside.decode("latin-1")]
    streams = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", raw, re.S):
        try:
            stream = zlib.decompress(m.group(1))
        except zlib.error:
            stream = m.group(1)
        streams.append(stream.decode("latin-1"))
        text.append(_stream_text(stream))
    exe = shutil.which("pdftotext")
    if exe:
        res = subprocess.run([exe, "-layout", str(path), "-"], capture_output=True, timeout=120, check=False)
        text.append(res.stdout.decode("utf-8", "replace"))
    return "\n".join(text), "\n".join(streams)


def pdf_text(path: Path) -> str:
    """Everything `pdf_texts` extracts, joined."""
    return "\n".join(pdf_texts(path))


_DATA_PNG = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=\s]+)")


def png_text_chunks(png: bytes) -> list[str]:
    """The textual metadata of a PNG (tEXt, zTXt, iTXt chunks), decoded."""
    import struct

    out = []
    pos = 8
    while pos + 8 <= len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        data = png[pos + 8 : pos + 8 + length]
        if kind == b"tEXt":
            out.append(data.replace(b"\0", b" ").decode("latin-1"))
        elif kind == b"zTXt":
            key, _, rest = data.partition(b"\0")
            try:
                out.append(key.decode("latin-1") + " " + zlib.decompress(rest[1:]).decode("latin-1"))
            except zlib.error:
                out.append(key.decode("latin-1"))
        elif kind == b"iTXt":
            key, _, rest = data.partition(b"\0")
            flag = rest[:1]
            parts = rest[2:].split(b"\0", 2)
            body = parts[2] if len(parts) == 3 else b""
            if flag == b"\x01":
                with contextlib.suppress(zlib.error):
                    body = zlib.decompress(body)
            out.append(key.decode("latin-1") + " " + body.decode("utf-8", "replace"))
        pos += 12 + length
    return out


def embedded_png_text(text: str) -> list[str]:
    """Metadata of every base64 PNG embedded in an HTML/SVG text (e.g. rasterized layers)."""
    import base64

    out = []
    for m in _DATA_PNG.finditer(text):
        try:
            png = base64.b64decode("".join(m.group(1).split()))
        except ValueError:
            continue
        out.extend(png_text_chunks(png))
    return out


def scan_paths(paths: Iterable[Path], sensors: list[dict[str, Any]]) -> list[Leak]:
    """Leaks in HTML/SVG/JSON/text files (with the metadata of embedded PNGs) and PDFs
    (text, streams, metadata)."""
    leaks: list[Leak] = []
    for p in paths:
        p = Path(p)
        if p.suffix.lower() == ".pdf":
            text, streams = pdf_texts(p)
            seen = {(lk.sensor, lk.what) for lk in leaks}
            leaks.extend(lk for lk in scan_text(streams, sensors, str(p), numbers=False)
                         if (lk.sensor, lk.what) not in seen)
        else:
            text = p.read_bytes().decode("utf-8", "replace")
            text = "\n".join([text, *embedded_png_text(text)])
        leaks.extend(scan_text(text, sensors, str(p)))
    return leaks
