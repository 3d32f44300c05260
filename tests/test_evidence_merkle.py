"""RFC 9162 Merkle core: known-answer vectors (RFC 6962 test data as used by
transparency-dev/merkle and Trillian) and a reference-tree check in the style of
Trillian's integration test."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truceline.evidence import merkle

LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                      "606162636465666768696a6b6c6d6e6f")]
ROOTS = [bytes.fromhex(h) for h in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]
H = {k: bytes.fromhex(v) for k, v in {
    "l1": "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "n1_1": "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "n2_1": "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    "l4": "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "n1_3": "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "n2_0": "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "n1_0": "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "l0": "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "n1_2": "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "l6": "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
}.items()}
# (leaf index 0-based, tree size, path) from transparency-dev/merkle proof/verify_test.go
INCLUSION = [(0, 8, ["l1", "n1_1", "n2_1"]), (5, 8, ["l4", "n1_3", "n2_0"]), (2, 3, ["n1_0"]),
             (1, 5, ["l0", "n1_1", "l4"])]
CONSISTENCY = [(1, 8, ["l1", "n1_1", "n2_1"]), (6, 8, ["n1_2", "n1_3", "n2_0"]), (2, 5, ["n1_1", "l4"]),
               (6, 7, ["n1_2", "l6", "n2_0"])]
LEAF_HASHES = [merkle.leaf_hash(x) for x in LEAVES]


def test_roots_known_answers():
    for n in range(9):
        assert merkle.root_of_leaves(LEAF_HASHES[:n]) == ROOTS[n]
    compact = merkle.CompactRange()
    for n, leaf in enumerate(LEAF_HASHES, start=1):
        compact.append(leaf)
        assert compact.root() == ROOTS[n]


@pytest.mark.parametrize("index,size,path", INCLUSION)
def test_inclusion_known_answers(index, size, path):
    expected = [H[p] for p in path]
    assert merkle.inclusion_path(index, size, merkle.leaves_block(LEAF_HASHES[:size])) == expected
    assert merkle.verify_inclusion(LEAF_HASHES[index], index, size, expected, ROOTS[size])
    for probe in _corrupt_inclusion(index, size, expected):
        assert not merkle.verify_inclusion(LEAF_HASHES[index] if probe[0] is None else probe[0], probe[1], probe[2],
                                           probe[3], probe[4] or ROOTS[size]), probe[5]


def _corrupt_inclusion(index, size, path):
    some = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    yield None, index - 1, size, path, None, "index - 1"
    yield None, index + 1, size, path, None, "index + 1"
    yield None, index ^ 2, size, path, None, "index ^ 2"
    yield None, index, size * 2, path, None, "size * 2"
    yield None, index, size // 2, path, None, "size / 2"
    yield b"WrongLeaf", index, size, path, None, "wrong leaf"
    yield None, index, size, path, merkle.EMPTY_ROOT, "empty root"
    yield None, index, size, path, some, "random root"
    yield None, index, size, path + [b""], None, "trailing garbage"
    yield None, index, size, path + [ROOTS[size]], None, "trailing root"
    yield None, index, size, [b""] + path, None, "preceding garbage"
    yield None, index, size, [ROOTS[size]] + path, None, "preceding root"
    for i in range(len(path)):
        bad = list(path)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        yield None, index, size, bad, None, f"flipped bit in path[{i}]"
    yield None, index, size, path[:-1], None, "removed component"
    if len(path) > 1:
        yield None, index, size, [path[0], some] + path[1:], None, "inserted component"


@pytest.mark.parametrize("first,second,path", CONSISTENCY)
def test_consistency_known_answers(first, second, path):
    expected = [H[p] for p in path]
    assert merkle.consistency_path(first, second, merkle.leaves_block(LEAF_HASHES[:second])) == expected
    r1, r2 = ROOTS[first], ROOTS[second]
    assert merkle.verify_consistency(first, second, r1, r2, expected)
    probes = [(first - 1, second, r1, r2, expected), (first + 1, second, r1, r2, expected),
              (first ^ 2, second, r1, r2, expected), (first, second * 2, r1, r2, expected),
              (first, second // 2, r1, r2, expected), (first, second, b"WrongRoot", r2, expected),
              (first, second, r1, b"WrongRoot", expected), (first, second, r2, r1, expected),
              (first, second, r1, r2, []), (first, second, r1, r2, expected + [b""]),
              (first, second, r1, r2, expected + [r1]), (first, second, r1, r2, expected + [r2]),
              (first, second, r1, r2, [b""] + expected), (first, second, r1, r2, [r1] + expected),
              (first, second, r1, r2, [r2] + expected), (first, second, r1, r2, [expected[0]] + expected),
              (first, second, r1, r2, expected[:-1])]
    for i in range(len(expected)):
        bad = list(expected)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        probes.append((first, second, r1, r2, bad))
    for probe in probes:
        assert not merkle.verify_consistency(*probe), probe[:2]


def test_consistency_edge_cases():
    r1, r2 = ROOTS[1], ROOTS[2]
    assert merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, ROOTS[5], [])
    assert not merkle.verify_consistency(0, 5, r1, ROOTS[5], [])  # size 0 must be the empty root
    assert merkle.verify_consistency(3, 3, ROOTS[3], ROOTS[3], [])
    assert not merkle.verify_consistency(3, 3, ROOTS[3], ROOTS[3], [merkle.EMPTY_ROOT])
    assert not merkle.verify_consistency(1, 1, r1, r2, [])
    assert not merkle.verify_consistency(2, 1, r2, r1, [])  # time travel
    assert not merkle.verify_consistency(1, 2, r1, r2, [])  # empty proof


def test_out_of_range_requests_refused():
    block = merkle.leaves_block(LEAF_HASHES)
    for index, size in [(0, 0), (8, 8), (-1, 8), (9, 8)]:
        with pytest.raises(ValueError):
            merkle.inclusion_path(index, size, block)
    for first, second in [(5, 4), (-1, 3)]:
        with pytest.raises(ValueError):
            merkle.consistency_path(first, second, block)
    with pytest.raises(ValueError):
        merkle.inclusion_path(0, 9, block)  # more leaves than exist
    with pytest.raises(ValueError):
        merkle.complete_blocks(3, 7)  # misaligned range
    assert not merkle.verify_inclusion(LEAF_HASHES[0], 0, 0, [], ROOTS[0])
    assert not merkle.verify_inclusion(LEAF_HASHES[0], 1, 1, [], LEAF_HASHES[0])


def test_reference_tree_all_indices_and_pairs():
    """Every inclusion proof and every consistency proof for trees of 1..64 leaves."""
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(64)]
    roots = [merkle.root_of_leaves(leaves[:n]) for n in range(65)]
    block = merkle.leaves_block(leaves)
    for size in range(1, 65):
        for index in range(size):
            path = merkle.inclusion_path(index, size, block)
            assert merkle.verify_inclusion(leaves[index], index, size, path, roots[size])
            assert not merkle.verify_inclusion(leaves[(index + 1) % size], index, size, path, roots[size]) or size == 1
        for first in range(1, size + 1):
            path = merkle.consistency_path(first, size, block)
            assert merkle.verify_consistency(first, size, roots[first], roots[size], path)
            if first < size:
                assert not merkle.verify_consistency(first, size, roots[first - 1] if first > 1 else roots[2],
                                                     roots[size], path)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3000), st.data())
def test_compact_range_and_proofs_match_reference(size, data):
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    compact = merkle.CompactRange()
    created = {}
    for leaf in leaves:
        for level, index, h in compact.append(leaf):
            created[(level, index)] = h
    root = merkle.root_of_leaves(leaves)
    assert compact.root() == root
    # every created node is the root of its aligned block
    for (level, index), h in list(created.items())[:50]:
        assert h == merkle.root_of_leaves(leaves[index << level:(index + 1) << level])
    # reload from the right-edge blocks
    blocks = merkle.CompactRange.blocks_for(size)
    reloaded = merkle.CompactRange(size, [created.get(b) or leaves[b[1]] for b in blocks])
    assert reloaded.root() == root
    index = data.draw(st.integers(0, size - 1))
    first = data.draw(st.integers(1, size))
    block = merkle.leaves_block(leaves)
    assert merkle.verify_inclusion(leaves[index], index, size, merkle.inclusion_path(index, size, block), root)
    assert merkle.verify_consistency(first, size, merkle.root_of_leaves(leaves[:first]), root,
                                     merkle.consistency_path(first, size, block))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 300), st.lists(st.integers(0, 70), min_size=1, max_size=6), st.sampled_from([1, 2, 4]))
def test_extend_equals_appending_one_by_one(initial: int, batches: list[int], keep: int):
    """`extend` (level-wise batch hashing) leaves the same right edge, root and created
    nodes as `append` leaf by leaf, from any starting size."""
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(initial + sum(batches))]
    one = merkle.CompactRange()
    for h in leaves[:initial]:
        one.append(h)
    many = merkle.CompactRange(one.size, [h for _, h in one.stack])
    at = initial
    for n in batches:
        expected = set()
        for h in leaves[at:at + n]:
            expected.update(node for node in one.append(h) if node[0] % keep == 0)
        got = many.extend(leaves[at:at + n], keep=keep)
        assert len(got) == len(set(got)) and set(got) == expected
        at += n
        assert many.size == one.size == at and many.stack == one.stack
        assert many.root() == one.root() == merkle.root_of_leaves(leaves[:at])
