"""RFC 9162 (Certificate Transparency 2.0) Merkle tree core, section 2.1: pure functions.

Hashing: leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || left || right), the root
of the empty tree is SHA-256(""). A tree of n leaves splits at k, the largest power of
two smaller than n (2.1.1). Proof generation follows 2.1.3.1 (PATH) and 2.1.4.1
(SUBPROOF) and works on *ranges*: every proof element is MTH(D[start:end]) for some
range, and every such range is a right fold of complete, aligned subtrees
(`complete_blocks`), so a store that keeps complete subtree roots answers any proof
with O(log n) reads. Verification follows 2.1.3.2 and 2.1.4.2 literally.

Nothing here touches a database; `truceline.evidence.log` supplies the hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Range = tuple[int, int]  # [start, end)
Block = tuple[int, int]  # (level, index): leaves [index << level, (index + 1) << level)


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """k: the largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of_leaves(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from leaf hashes, by the RFC's recursive definition (reference code)."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = split_point(n)
    return node_hash(root_of_leaves(leaves[:k]), root_of_leaves(leaves[k:]))


def perfect_root(hashes: Sequence[bytes]) -> bytes:
    """Root of a perfect subtree whose 2**r bottom nodes are `hashes` (len a power of two)."""
    level = list(hashes)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


# ---------------------------------------------------------------------------- ranges


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """Ranges whose MTH form PATH(index, D[size]) in RFC 9162 2.1.3.1 order."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside a tree of size {size}")
    out: list[Range] = []

    def path(m: int, start: int, end: int) -> None:
        n = end - start
        if n == 1:
            return
        k = split_point(n)
        if m < k:
            path(m, start, start + k)
            out.append((start + k, end))
        else:
            path(m - k, start + k, end)
            out.append((start, start + k))

    path(index, 0, size)
    return out


def consistency_ranges(first: int, second: int) -> list[Range]:
    """Ranges whose MTH form PROOF(first, D[second]) in RFC 9162 2.1.4.1 order.

    Defined for 0 < first <= second; first == second gives the empty proof, and so does
    first == 0 (the empty tree is consistent with every tree).
    """
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    if first == 0 or first == second:
        return []
    out: list[Range] = []

    def subproof(m: int, start: int, end: int, b: bool) -> None:
        n = end - start
        if m == n:
            if not b:
                out.append((start, end))
            return
        k = split_point(n)
        if m <= k:
            subproof(m, start, start + k, b)
            out.append((start + k, end))
        else:
            subproof(m - k, start + k, end, False)
            out.append((start, start + k))

    subproof(first, 0, second, True)
    return out


def complete_blocks(start: int, end: int) -> list[Block]:
    """Complete aligned subtrees whose right fold is MTH(D[start:end]).

    Valid for the ranges the RFC recursion produces (start aligned to the enclosing
    power of two); raises ValueError for a misaligned range.
    """
    if not 0 <= start < end:
        raise ValueError(f"empty or negative range [{start}, {end})")
    blocks: list[Block] = []
    while start < end:
        n = end - start
        k = n if n & (n - 1) == 0 else split_point(n)
        level = k.bit_length() - 1
        if start % k:
            raise ValueError(f"range [{start}, {end}) is not aligned")
        blocks.append((level, start >> level))
        start += k
    return blocks


def fold_blocks(hashes: Sequence[bytes]) -> bytes:
    """Right fold of the complete-subtree hashes from `complete_blocks` into one MTH."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def range_hash(start: int, end: int, block: Callable[[int, int], bytes]) -> bytes:
    """MTH(D[start:end]) given a callback returning the hash of a complete block."""
    return fold_blocks([block(level, index) for level, index in complete_blocks(start, end)])


def inclusion_path(index: int, size: int, block: Callable[[int, int], bytes]) -> list[bytes]:
    return [range_hash(s, e, block) for s, e in inclusion_ranges(index, size)]


def consistency_path(first: int, second: int, block: Callable[[int, int], bytes]) -> list[bytes]:
    return [range_hash(s, e, block) for s, e in consistency_ranges(first, second)]


def leaves_block(leaves: Sequence[bytes]) -> Callable[[int, int], bytes]:
    """Block callback over an in-memory list of leaf hashes (reference / tests)."""

    def block(level: int, index: int) -> bytes:
        start = index << level
        end = start + (1 << level)
        if end > len(leaves):
            raise ValueError(f"block ({level}, {index}) beyond {len(leaves)} leaves")
        return perfect_root(leaves[start:end])

    return block


# ---------------------------------------------------------------------------- verification


def root_from_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """RFC 9162 2.1.3.2 steps 1-4: the root the path leads to, or None if it cannot."""
    if not 0 <= index < size or len(leaf) != HASH_SIZE:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if len(p) != HASH_SIZE or sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2: does `path` prove `leaf` at `index` in the tree `root`?"""
    got = root_from_inclusion(leaf, index, size, path)
    return got is not None and got == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       path: Sequence[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2: is the tree `first_root` (size first) a prefix of
    `second_root` (size second)? Sizes 0 and first == second need an empty path."""
    if not 0 <= first <= second:
        return False
    if any(len(p) != HASH_SIZE for p in path):
        return False
    if first == 0:
        return not path and first_root == EMPTY_ROOT and len(second_root) == HASH_SIZE
    if first == second:
        return not path and first_root == second_root and len(first_root) == HASH_SIZE
    if not path:
        return False
    nodes = list(path)
    if first & (first - 1) == 0:
        nodes.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


# ---------------------------------------------------------------------------- appending


class CompactRange:
    """The right edge of a tree: complete subtree roots for the binary digits of size.

    `append` adds leaf hashes and returns every complete node (level >= 1) it creates,
    as (level, index, hash), so a store can persist the ones it keeps; `root` is the
    current MTH. O(1) amortized hashing per leaf.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        levels = [b for b in range(size.bit_length() - 1, -1, -1) if size >> b & 1]
        if len(levels) != len(hashes):
            raise ValueError(f"a tree of size {size} has {len(levels)} right-edge subtrees, got {len(hashes)}")
        self.size = size
        self.stack: list[tuple[int, bytes]] = list(zip(levels, hashes, strict=True))

    @staticmethod
    def blocks_for(size: int) -> list[Block]:
        """The complete blocks forming the right edge of a tree of `size` (left to right)."""
        return complete_blocks(0, size) if size else []

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        created: list[tuple[int, int, bytes]] = []
        stack = self.stack
        h, level, index = leaf, 0, self.size
        while stack and stack[-1][0] == level:
            h = node_hash(stack.pop()[1], h)
            level += 1
            index >>= 1
            created.append((level, index, h))
        stack.append((level, h))
        self.size += 1
        return created

    def extend(self, leaves: Sequence[bytes], keep: int = 1) -> list[tuple[int, int, bytes]]:
        """Append many leaf hashes at once; same result as `append` for each in turn.

        Returns the complete nodes created whose level is a positive multiple of `keep`
        (all of them for keep=1), as (level, index, hash), level by level. Hashes level
        by level in list comprehensions (~0.5 us per node instead of a Python loop per
        leaf), which matters at a million leaves.
        """
        created: list[tuple[int, int, bytes]] = []
        stack = self.stack
        leftovers: list[tuple[int, bytes]] = []
        cur = list(leaves)
        start = self.size  # index (at this level) of cur[0]
        level = 0
        sha = hashlib.sha256
        while cur:
            if start & 1:  # cur[0]'s left sibling is the right-edge subtree at this level
                top_level, top = stack.pop()
                assert top_level == level, "compact range out of order"
                cur.insert(0, top)
                start -= 1
            if len(cur) & 1:
                leftovers.append((level, cur.pop()))
            if not cur:
                break
            cur = [sha(b"\x01" + a + b).digest() for a, b in zip(cur[::2], cur[1::2], strict=True)]
            level += 1
            start >>= 1
            if level % keep == 0:
                created.extend(zip([level] * len(cur), range(start, start + len(cur)), cur, strict=True))
        stack.extend(reversed(leftovers))
        self.size += len(leaves)
        return created

    def root(self) -> bytes:
        if not self.stack:
            return EMPTY_ROOT
        return fold_blocks([h for _, h in self.stack])
