"""Evidence log: an append-only RFC 9162 Merkle tree over accepted reports and commission
decisions, with signed tree heads, inclusion/consistency proofs and offline verification.

Public API (other stages)::

    from truceline.evidence import append_entries, sign_head, inclusion_proof, consistency_proof
    idx = append_entries(store, [decision], "decision", [decision["id"]])   # -> [leaf index]
    head = sign_head(store)                                                  # spec section 5 JSON
"""

from __future__ import annotations

from truceline.evidence.log import (
    append_entries,
    consistency_proof,
    inclusion_proof,
    latest_head,
    public_key_json,
    sign_head,
)

__all__ = ["append_entries", "consistency_proof", "inclusion_proof", "latest_head", "public_key_json", "sign_head"]
