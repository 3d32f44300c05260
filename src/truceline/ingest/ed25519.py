"""Ed25519 verification for ingest: libsodium's exact acceptance rule, less CPU.

Verifying report signatures is most of ingest's CPU. libsodium (PyNaCl,
`crypto_sign_verify_detached`) costs ~56 us per signature here; `ed25519-dalek` (the
Rust crate, through the `solders` wheel) ~43 us. This module uses dalek where it provably
accepts exactly what libsodium accepts, and libsodium itself everywhere else.

libsodium (>= 1.0.16, the default non-compat build PyNaCl ships) accepts a signature
(R, S) by key A on message M iff

1. S < L (canonical scalar);
2. R is not on its list of small-order encodings (7 entries, top bit ignored);
3. A is canonical, not small order, and decodes to a curve point;
4. the encoding of [S]B - [H(R || A || M)]A equals the 32 bytes R (cofactorless).

dalek's `verify` / `verify_strict` computes the same point by the same cofactorless
equation and compares it with R (bytes, or the point R decodes to), and rejects S >= L.
It differs only where R or A are odd encodings, so:

* keys: a key is sent to dalek only if libsodium's `crypto_core_ed25519_is_valid_point`
  accepts it (canonical, on the curve, not small order, prime-order subgroup); every
  other key is verified by libsodium itself (exact by construction);
* signatures: before dalek, reject (as libsodium does) S >= L, a non-canonical R
  (y >= p: dalek may decode it to the same point, libsodium compares bytes), and the
  small-order encodings of (2). With A in the prime-order subgroup, [S]B - [h]A is too,
  so R passing dalek is then canonical and of prime order: the two rules coincide.

Equivalence with PyNaCl is tested on the spec vectors, random and mutated signatures,
and crafted edge cases (small-order and mixed-order R and A, non-canonical R and S);
see tests/test_ingest_ed25519.py. If `solders` is not importable, everything goes
through libsodium.
"""

from __future__ import annotations

from collections.abc import Callable

from nacl.bindings import crypto_core_ed25519_is_valid_point, crypto_sign_open

try:  # the fast path is optional: same answers without it, only slower
    from solders.pubkey import Pubkey as _Pubkey
    from solders.signature import Signature as _Signature
except ImportError:  # pragma: no cover - exercised only where the wheel is missing
    _Pubkey = None  # type: ignore[assignment,misc]
    _Signature = None  # type: ignore[assignment,misc]

L = 2**252 + 27742317777372353535851937790883648493  # order of the base point
P = 2**255 - 19

# libsodium's ge25519_has_small_order blocklist (ed25519_ref10.c): 31-byte prefix ->
# last byte (compared with the top bit of the input cleared).
_SMALL_ORDER = [
    bytes(32),  # 0 (order 4)
    b"\x01" + bytes(31),  # 1 (order 1)
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),  # order 8
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),  # order 8
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),  # p - 1 (order 2)
    bytes.fromhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),  # p (= 0, order 4)
    bytes.fromhex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),  # p + 1 (= 1, order 1)
]
_SMALL_ORDER_PREFIX = {e[:31]: e[31] for e in _SMALL_ORDER}
_Y_MASK = (1 << 255) - 1

FAST = _Signature is not None


def sodium_verify(sig: bytes, message: bytes, public_key: bytes) -> bool:
    """The reference: libsodium's verification (PyNaCl)."""
    try:
        crypto_sign_open(sig + message, public_key)
    except Exception:  # noqa: BLE001  (BadSignatureError, or a malformed key/sig)
        return False
    return True


def precheck(sig: bytes) -> bool:
    """libsodium's checks on (R, S) that dalek makes differently: S < L, R canonical
    (y < p), R not a small-order encoding. False means libsodium rejects."""
    if len(sig) != 64:
        return False
    if sig[63] & 0xF0 and int.from_bytes(sig[32:], "little") >= L:
        return False
    last = sig[31] & 0x7F
    if last == 0x7F and int.from_bytes(sig[:32], "little") & _Y_MASK >= P:
        return False
    small = _SMALL_ORDER_PREFIX.get(sig[:31])
    return small is None or small != last


def _fast_key(public_key: bytes):  # type: ignore[no-untyped-def]
    """A dalek key object when the key qualifies for the fast path, else None."""
    if _Pubkey is None or len(public_key) != 32:
        return None
    try:
        if not crypto_core_ed25519_is_valid_point(public_key):
            return None
    except Exception:  # noqa: BLE001
        return None
    return _Pubkey(public_key)


def verifier(public_key: bytes) -> Callable[[bytes, bytes], bool]:
    """`verify(sig, message) -> bool` for one key, with libsodium's acceptance rule."""
    fast = _fast_key(public_key)
    if fast is None:
        return lambda sig, message: sodium_verify(sig, message, public_key)
    from_bytes = _Signature.from_bytes  # type: ignore[union-attr]

    def verify(sig: bytes, message: bytes) -> bool:
        if not precheck(sig):
            return False
        try:
            return from_bytes(sig).verify(fast, message)
        except Exception:  # noqa: BLE001  (cannot happen for 64 bytes; be safe)
            return sodium_verify(sig, message, public_key)

    return verify


_CACHE: dict[bytes, Callable[[bytes, bytes], bool]] = {}


def verify(sig: bytes, message: bytes, public_key: bytes) -> bool:
    """Verify with libsodium's acceptance rule (per-key set-up cached)."""
    fn = _CACHE.get(public_key)
    if fn is None:
        if len(_CACHE) > 100_000:
            _CACHE.clear()
        fn = _CACHE[public_key] = verifier(public_key)
    return fn(sig, message)
