"""The fast Ed25519 path accepts exactly what libsodium (PyNaCl, the reference) accepts:
spec vectors, random and mutated signatures, and crafted adversarial cases (small-order
and mixed-order R and A, non-canonical R, S and A, the cofactored-only signatures)."""

from __future__ import annotations

import base64
import hashlib
import json
import random

import pytest
import rfc8785
from nacl.signing import SigningKey

from common import SPEC
from truceline.ingest import ed25519

# ---------------------------------------------------------------------------- reference
# Edwards25519 arithmetic after RFC 8032 section 6, to craft signatures no honest signer
# makes (the private scalar is used directly, no clamping, torsion added at will).

p = ed25519.P
q = ed25519.L
d = -121665 * pow(121666, p - 2, p) % p
SQRT_M1 = pow(2, (p - 1) // 4, p)
IDENTITY = (0, 1, 1, 0)


def add(P, Q):  # type: ignore[no-untyped-def]
    A, B = (P[1] - P[0]) * (Q[1] - Q[0]) % p, (P[1] + P[0]) * (Q[1] + Q[0]) % p
    C, D = 2 * P[3] * Q[3] * d % p, 2 * P[2] * Q[2] % p
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F % p, G * H % p, F * G % p, E * H % p)


def mul(s: int, P):  # type: ignore[no-untyped-def]
    Q = IDENTITY
    while s > 0:
        if s & 1:
            Q = add(Q, P)
        P = add(P, P)
        s >>= 1
    return Q


def recover_x(y: int, sign: int) -> int | None:
    if y >= p:
        return None
    x2 = (y * y - 1) * pow(d * y * y + 1, p - 2, p) % p
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (p + 3) // 8, p)
    if (x * x - x2) % p:
        x = x * SQRT_M1 % p
    if (x * x - x2) % p:
        return None
    return p - x if (x & 1) != sign else x


def point(x: int, y: int):  # type: ignore[no-untyped-def]
    return (x, y, 1, x * y % p)


def compress(P) -> bytes:  # type: ignore[no-untyped-def]
    zinv = pow(P[2], p - 2, p)
    x, y = P[0] * zinv % p, P[1] * zinv % p
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def is_identity(P) -> bool:  # type: ignore[no-untyped-def]
    return P[0] % p == 0 and (P[1] - P[2]) % p == 0


B = point(recover_x(4 * pow(5, p - 2, p) % p, 0), 4 * pow(5, p - 2, p) % p)


def torsion_point(order: int):  # type: ignore[no-untyped-def]
    """A point of exactly `order` (1, 2, 4 or 8) in the torsion subgroup."""
    for y in range(2, 10_000):
        x = recover_x(y, 0)
        if x is None:
            continue
        T = mul(q, point(x, y))  # kill the prime-order part
        for _ in range(4):
            if is_identity(mul(order, T)) and (order == 1 or not is_identity(mul(order // 2, T))):
                return T
            T = add(T, T)
    raise AssertionError("no torsion point found")


def challenge(R: bytes, A: bytes, M: bytes) -> int:
    return int.from_bytes(hashlib.sha512(R + A + M).digest(), "little") % q


def craft(a: int, r: int, M: bytes, *, A_torsion=IDENTITY, R_torsion=IDENTITY,  # type: ignore[no-untyped-def]
          R_bytes: bytes | None = None, A_bytes: bytes | None = None, s_add: int = 0):
    """(sig, message, key) with A = aB + A_torsion, R = rB + R_torsion, S = r + h*a."""
    A = A_bytes or compress(add(mul(a, B), A_torsion))
    R = R_bytes or compress(add(mul(r, B), R_torsion))
    s = (r + challenge(R, A, M) * a) % q + s_add
    return R + s.to_bytes(32, "little"), M, A


def _agree(sig: bytes, message: bytes, key: bytes) -> bool:
    ours = ed25519.verify(sig, message, key)
    assert ours == ed25519.sodium_verify(sig, message, key), (sig.hex(), message, key.hex())
    return ours


# ---------------------------------------------------------------------------- tests


def test_fast_path_is_available_and_used():
    assert ed25519.FAST, "solders (ed25519-dalek) is a dependency; the fast path must be importable"
    key = SigningKey(b"\x05" * 32)
    assert ed25519._fast_key(bytes(key.verify_key)) is not None
    assert ed25519._fast_key(bytes(32)) is None  # small-order key: libsodium path


def test_reference_arithmetic_matches_libsodium():
    key = SigningKey(b"\x07" * 32)
    a = int.from_bytes(hashlib.sha512(b"\x07" * 32).digest()[:32], "little")
    a = (a & ((1 << 254) - 8)) | (1 << 254)
    assert compress(mul(a, B)) == bytes(key.verify_key)
    sig, M, A = craft(a, 12345, b"crafted")
    assert bytes(key.verify_key) == A and _agree(sig, M, A)


def test_small_order_blocklist_is_the_torsion_subgroup():
    encodings = {compress(mul(k, torsion_point(8))) for k in range(8)}
    assert len(encodings) == 8
    listed = {e[:31] + bytes([e[31] & 0x7F]) for e in ed25519._SMALL_ORDER}
    assert {e[:31] + bytes([e[31] & 0x7F]) for e in encodings} <= listed


def test_spec_vectors_verify():
    keys = {s["id"]: base64.b64decode(s["public_key"]) for s in json.loads((SPEC / "examples_sensors.json").read_text())}
    lines = [json.loads(line) for line in (SPEC / "examples_reports.jsonl").read_text().splitlines() if line.strip()]
    assert lines
    for report in lines:
        sig = base64.b64decode(report.pop("sig"))
        message = rfc8785.dumps(report)
        assert _agree(sig, message, keys[report["sensor"]])
        assert not _agree(sig, message + b" ", keys[report["sensor"]])


def test_random_and_mutated_signatures_agree():
    rng = random.Random(8032)
    for i in range(150):
        key = SigningKey(rng.randbytes(32))
        pk = bytes(key.verify_key)
        message = rng.randbytes(rng.randrange(0, 400))
        sig = key.sign(message).signature
        assert _agree(sig, message, pk)
        bad = bytearray(sig)
        bad[rng.randrange(64)] ^= 1 << rng.randrange(8)
        assert not _agree(bytes(bad), message, pk)
        if message:
            m2 = bytearray(message)
            m2[rng.randrange(len(m2))] ^= 1 << rng.randrange(8)
            assert not _agree(sig, bytes(m2), pk)
        other = bytes(SigningKey(rng.randbytes(32)).verify_key)
        assert not _agree(sig, message, other)
        assert not _agree(rng.randbytes(64), message, pk)
        if i % 10 == 0:  # top bits of R and S set: the prechecks' slow branches
            for idx in (31, 63):
                b2 = bytearray(sig)
                b2[idx] |= 0xF0
                assert not _agree(bytes(b2), message, pk)


A_SCALAR = 0x1234567890ABCDEF1234567890ABCDEF1234567890ABCDEF1234567890ABCDE


def test_non_canonical_s_rejected():
    sig, M, A = craft(A_SCALAR, 99, b"s + L", s_add=q)
    assert not _agree(sig, M, A)
    valid = craft(A_SCALAR, 99, b"s + L")
    assert _agree(*valid)


@pytest.mark.parametrize("R_bytes", [
    b"\x01" + bytes(31),  # identity: S = h*a satisfies the cofactorless equation
    b"\x01" + bytes(30) + b"\x80",  # identity, sign bit set
    bytes.fromhex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),  # identity, y = p + 1
    bytes.fromhex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),  # same, sign bit set
])
def test_identity_r_rejected_like_libsodium(R_bytes: bytes):
    A = compress(mul(A_SCALAR, B))
    for M in (b"m1", b"m2", b"m3"):
        s = challenge(R_bytes, A, M) * A_SCALAR % q  # [s]B - [h]A = identity
        assert not _agree(R_bytes + s.to_bytes(32, "little"), M, A)


@pytest.mark.parametrize("order", [2, 4, 8])
def test_mixed_order_r_cofactored_only_signature_rejected(order: int):
    """R = rB + T passes the cofactored equation (RFC 8032 allows it) but not
    libsodium's cofactorless one; we must reject it too."""
    T = torsion_point(order)
    for M in (b"a", b"b", b"c", b"d"):
        assert not _agree(*craft(A_SCALAR, 777, M, R_torsion=T))


@pytest.mark.parametrize("order", [1, 2, 4, 8])
def test_small_order_r_any_encoding(order: int):
    """Every small-order R in both sign-bit forms, with S from a plausible equation."""
    T = torsion_point(order)
    A = compress(mul(A_SCALAR, B))
    for R_bytes in (compress(T), compress(T)[:31] + bytes([compress(T)[31] ^ 0x80])):
        s = challenge(R_bytes, A, b"x") * A_SCALAR % q
        assert not _agree(R_bytes + s.to_bytes(32, "little"), b"x", A)


@pytest.mark.parametrize("order", [2, 4, 8])
def test_mixed_order_key(order: int):
    """A = aB + T: libsodium's cofactorless check accepts exactly when [h]T = 0; the key
    is not in the prime-order subgroup, so our path must defer to libsodium and agree."""
    T = torsion_point(order)
    accepted = rejected = 0
    for i in range(40):
        ok = _agree(*craft(A_SCALAR, 1000 + i, f"m{i}".encode(), A_torsion=T))
        accepted += ok
        rejected += not ok
    assert accepted and rejected  # both outcomes occur (h divisible by the order or not)


def test_small_order_and_non_canonical_keys():
    for order in (1, 2, 4, 8):
        T = torsion_point(order)
        A = compress(T)
        R = compress(mul(5, B))
        s = 5  # [5]B - [h]T = R whenever [h]T = 0
        for M in (b"p", b"q", b"r", b"s"):
            assert not _agree(R + s.to_bytes(32, "little"), M, A)
    # A non-canonical key encoding (y + p) of a curve point with small y.
    for y in range(2, 19):
        x = recover_x(y, 0)
        if x is None:
            continue
        A_nc = (y + p).to_bytes(32, "little")
        sig, M, _ = craft(A_SCALAR, 3, b"nc")
        assert not _agree(sig, M, A_nc)
        assert not _agree(*craft(1, 3, b"nc", A_bytes=A_nc))
        break
    assert not _agree(bytes(64), b"", bytes(31))  # wrong key length


def test_non_canonical_r_encoding_rejected():
    """R given as y + p (only possible for y < 19) never matches libsodium's byte compare."""
    A = compress(mul(A_SCALAR, B))
    for y in range(0, 19):
        if recover_x(y, 0) is None:
            continue
        R_bytes = (y + p).to_bytes(32, "little")
        s = challenge(R_bytes, A, b"nc") * A_SCALAR % q
        assert not _agree(R_bytes + s.to_bytes(32, "little"), b"nc", A)
