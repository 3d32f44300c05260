"""Offline verification of spec section 5 files, with nothing but the files.

This is what an outside observer runs (`truceline verify`): a signed tree head, the log's
public key (`truceline log key` output) and either an inclusion proof (optionally with
the logged object, to check its leaf hash) or a consistency proof with the older head.
Every check is RFC 9162 (2.1.3.2 / 2.1.4.2) plus the Ed25519 head signatures; nothing
here reads a database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from truceline import formats
from truceline.errors import InputError
from truceline.evidence import merkle


@dataclass
class Verdict:
    ok: bool = True
    checks: list[tuple[bool, str]] = field(default_factory=list)

    def check(self, passed: bool, what: str) -> bool:
        self.checks.append((passed, what))
        self.ok = self.ok and passed
        return passed


def load_json(path: str | Path, what: str) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: {what} is not JSON: {exc}") from None


def _b64(value: Any, length: int | None = None) -> bytes | None:
    try:
        return formats.b64decode(value, length)
    except ValueError:
        return None


def _size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def check_head(v: Verdict, head: Any, public_key: Any, label: str) -> bytes | None:
    """Head well-formed and signed by the log key; returns its root hash or None."""
    if not v.check(isinstance(head, dict) and _size(head.get("tree_size")) is not None
                   and isinstance(head.get("timestamp"), str), f"{label}: has tree_size, root_hash, timestamp"):
        return None
    root = _b64(head.get("root_hash"), 32)
    v.check(root is not None, f"{label}: root_hash is base64 of 32 bytes")
    sig = _b64(head.get("signature"), 64)
    key_raw = _b64(public_key.get("public_key") if isinstance(public_key, dict) else None, 32)
    ok = False
    if sig is not None and key_raw is not None:
        try:
            key = formats.public_key_from_b64(public_key["public_key"])
            key.verify(sig, formats.canonical_bytes({k: val for k, val in head.items() if k != "signature"}))
            ok = True
        except Exception:  # noqa: BLE001
            ok = False
    v.check(ok, f"{label}: signature verifies with the log key")
    return root


def verify_inclusion_files(proof: Any, head: Any, public_key: Any, entry: Any = None,
                           entry_given: bool = False) -> Verdict:
    v = Verdict()
    root = check_head(v, head, public_key, "head")
    if not v.check(isinstance(proof, dict) and _size(proof.get("leaf_index")) is not None
                   and _size(proof.get("tree_size")) is not None
                   and isinstance(proof.get("inclusion_path"), list), "proof: has leaf_index, tree_size, inclusion_path"):
        return v
    if isinstance(head, dict):
        v.check(proof["tree_size"] == head.get("tree_size"), "proof: tree_size equals the head's tree_size")
    leaf = _b64(proof.get("leaf_hash"), 32)
    path = [_b64(p, 32) for p in proof["inclusion_path"]]
    if not v.check(leaf is not None and all(p is not None for p in path), "proof: hashes are base64 of 32 bytes"):
        return v
    if entry_given:
        try:
            computed = merkle.leaf_hash(formats.canonical_bytes(entry))
        except Exception:  # noqa: BLE001
            computed = None
        v.check(computed == leaf, "entry: SHA-256(0x00 || JCS(entry)) equals leaf_hash")
        if isinstance(entry, dict) and "id" in proof:
            v.check(entry.get("id") == proof["id"], "entry: id equals the proof's id")
    if root is not None:
        v.check(merkle.verify_inclusion(leaf, proof["leaf_index"], proof["tree_size"], path, root),
                "inclusion path leads to the head's root hash (RFC 9162 2.1.3.2)")
    return v


def verify_consistency_files(proof: Any, old_head: Any, head: Any, public_key: Any) -> Verdict:
    v = Verdict()
    old_root = check_head(v, old_head, public_key, "old head")
    new_root = check_head(v, head, public_key, "head")
    if not v.check(isinstance(proof, dict) and _size(proof.get("first")) is not None
                   and _size(proof.get("second")) is not None
                   and isinstance(proof.get("consistency_path"), list), "proof: has first, second, consistency_path"):
        return v
    if isinstance(old_head, dict) and isinstance(head, dict):
        v.check(proof["first"] == old_head.get("tree_size") and proof["second"] == head.get("tree_size"),
                "proof: first/second equal the old and new heads' tree sizes")
    path = [_b64(p, 32) for p in proof["consistency_path"]]
    if not v.check(all(p is not None for p in path), "proof: hashes are base64 of 32 bytes"):
        return v
    if old_root is not None and new_root is not None:
        v.check(merkle.verify_consistency(proof["first"], proof["second"], old_root, new_root, path),
                "old tree is a prefix of the new tree (RFC 9162 2.1.4.2)")
    return v
