"""The tree as tiles (C2SP tlog-tiles layout): full tiles plus the right edge answer every root
and proof exactly as the in-memory MerkleTree does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.errors import ProofError
from crypto.merkle import (
    TILE_HEIGHT,
    TILE_WIDTH,
    MerkleTree,
    TileEdge,
    consistency_path,
    inclusion_path,
    leaf_hash,
    nodes_needed,
    tile_of,
    tile_root,
    tree_root,
    verify_consistency,
    verify_inclusion,
)


class Tiled:
    """Full tiles in a dict (as a database would hold them) and the edge in memory."""

    def __init__(self) -> None:
        self.tiles: dict[tuple[int, int], bytes] = {}
        self.edge = TileEdge()

    def append(self, h: bytes) -> None:
        for level, index, hashes in self.edge.append(h):
            assert (level, index) not in self.tiles
            self.tiles[(level, index)] = hashes

    def node(self, level: int, index: int) -> bytes:
        tile_level, tile_index, row, offset = tile_of(level, index)
        if tile_index < self.edge.full_tiles(tile_level):
            hashes = self.tiles[(tile_level, tile_index)]
            tile = MerkleTree(hashes[i : i + 32] for i in range(0, len(hashes), 32))
            return tile.node(row, offset)
        return self.edge.node(level, index)


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


# Sizes around the tile boundaries of levels 0 and 1 (256 and 65536 leaves).
SIZES = [1, 2, 3, 255, 256, 257, 511, 512, 513, 65535, 65536, 65537, 65536 + 256 * 3 + 7]


@pytest.fixture(scope="module")
def big() -> tuple[MerkleTree, Tiled]:
    hashes = _leaves(max(SIZES))
    tree = MerkleTree()
    tiled = Tiled()
    for h in hashes:
        tree.append_hash(h)
        tiled.append(h)
    return tree, tiled


def test_tiles_are_full_and_their_roots_are_the_level_above(big: tuple[MerkleTree, Tiled]) -> None:
    tree, tiled = big
    size = tree.size
    assert sorted(k for k in tiled.tiles if k[0] == 0) == [(0, t) for t in range(size // 256)]
    assert (1, 0) in tiled.tiles and (1, 1) not in tiled.tiles
    for (level, index), hashes in tiled.tiles.items():
        assert len(hashes) == TILE_WIDTH * 32
        assert tile_root(hashes) == tree.node(TILE_HEIGHT * (level + 1), index)
    with pytest.raises(ProofError):
        tile_root(b"\x00" * 32)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_proofs_from_tiles_equal_the_in_memory_tree(
    big: tuple[MerkleTree, Tiled], data: st.DataObject
) -> None:
    tree, tiled = big
    size = data.draw(st.one_of(st.sampled_from(SIZES), st.integers(1, tree.size)))
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(1, size))
    assert tree_root(size, tiled.node) == tree.root(size)
    path = inclusion_path(index, size, tiled.node)
    assert path == tree.inclusion_proof(index, size)
    verify_inclusion(tree.node(0, index), index, size, path, tree.root(size))
    proof = consistency_path(old, size, tiled.node)
    assert proof == tree.consistency_proof(old, size)
    verify_consistency(old, size, tree.root(old), tree.root(size), proof)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 3000), data=st.data())
def test_edge_rebuilt_from_partial_tiles_answers_like_the_grown_one(
    size: int, data: st.DataObject
) -> None:
    hashes = _leaves(size)
    grown = Tiled()
    for h in hashes:
        grown.append(h)
    tree = MerkleTree(hashes)
    # What a relay reads at start: the tail leaves, and the roots of the full tiles below each
    # partial tile of the levels above.
    partial = [hashes[size - size % 256 :]]
    n1 = size >> 8
    partial.append([tree.node(8, j) for j in range(n1 - n1 % 256, n1)])
    rebuilt = Tiled()
    rebuilt.tiles = grown.tiles
    rebuilt.edge = TileEdge(size, partial)
    index = data.draw(st.integers(0, size - 1))
    assert inclusion_path(index, size, rebuilt.node) == tree.inclusion_proof(index)
    assert tree_root(size, rebuilt.node) == tree.root()
    with pytest.raises(ProofError):
        TileEdge(size, [hashes[:1] * (size % 256 + 1)])


def test_snapshot_keeps_answering_while_the_edge_grows() -> None:
    tiled = Tiled()
    hashes = _leaves(600)
    for h in hashes[:300]:
        tiled.append(h)
    snap = tiled.edge.snapshot()
    for h in hashes[300:]:
        tiled.append(h)
    tree = MerkleTree(hashes[:300])
    assert snap.size == 300
    assert snap.node(5, 8) == tree.node(5, 8)  # leaves 256..287: on the snapshot's edge
    assert snap.node(0, 299) == hashes[299]
    with pytest.raises(ProofError):
        snap.node(0, 12)  # in a full tile, not on the edge


def test_nodes_needed_names_exactly_what_the_proof_reads() -> None:
    tree = MerkleTree(_leaves(1000))
    asked = nodes_needed(lambda node: inclusion_path(700, 1000, node))
    got = {key: tree.node(*key) for key in asked}
    assert inclusion_path(700, 1000, lambda lv, i: got[(lv, i)]) == tree.inclusion_proof(700)
    assert nodes_needed(lambda node: tree_root(0, node)) == []
    with pytest.raises(ProofError):
        inclusion_path(5, 5, tree.node)
    with pytest.raises(ProofError):
        consistency_path(0, 5, tree.node)
    with pytest.raises(ProofError):
        tree.node(3, 125)  # leaves 1000..1007: not in the tree
