"""The append-only Merkle log of RFC 9162: hashing, proofs and their verification."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from crypto.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "MerkleTree",
    "NodeHash",
    "TileEdge",
    "consistency_path",
    "inclusion_path",
    "leaf_hash",
    "node_hash",
    "nodes_needed",
    "tile_of",
    "tile_root",
    "tree_root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) of RFC 9162 §2.1.1: the root hash of the empty tree."""


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return hashlib.sha256(_LEAF_PREFIX + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right), the hash of an interior node."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _check_hash(value: object, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ProofError(f"{what} must be bytes")
    out = bytes(value)
    if len(out) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes, got {len(out)}")
    return out


def _check_size(value: object, what: str) -> int:
    # bool is an int subclass; a True tree size is a caller bug, not size 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProofError(f"{what} must be an int")
    if value < 0 or value >= 1 << 64:
        raise ProofError(f"{what} out of range")
    return value


def _largest_power_of_two_below(n: int) -> int:
    """k with k < n <= 2k, for n > 1 (the split point of RFC 9162 §2.1.1)."""
    return 1 << ((n - 1).bit_length() - 1)


NodeHash = Callable[[int, int], bytes]
"""`node(level, index)`: the hash of the complete, aligned subtree of 2**level leaves that
starts at leaf `index << level` (level 0: a leaf hash). Appending never changes one, so any
store of them (memory, database tiles) can answer for every tree size that contains it."""


def _subtree(node: NodeHash, lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) for a subtree of the RFC 9162 shape (lo aligned, 0 < hi - lo)."""
    n = hi - lo
    # The subtree splits into complete aligned peaks following the binary digits of n,
    # largest first; fold them from the right as the RFC recursion would.
    peaks: list[bytes] = []
    start = lo
    for level in range(n.bit_length() - 1, -1, -1):
        if n >> level & 1:
            peaks.append(node(level, start >> level))
            start += 1 << level
    acc = peaks[-1]
    for peak in reversed(peaks[:-1]):
        acc = hashlib.sha256(_NODE_PREFIX + peak + acc).digest()
    return acc


def tree_root(size: int, node: NodeHash) -> bytes:
    """MTH(D[0:size]) of RFC 9162 §2.1.1 from the complete subtrees `node` answers."""
    size = _check_size(size, "tree size")
    if size == 0:
        return EMPTY_ROOT
    return _subtree(node, 0, size)


def inclusion_path(index: int, size: int, node: NodeHash) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaf-side first."""
    size = _check_size(size, "tree size")
    index = _check_size(index, "leaf index")
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    proof: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        mid = lo + k
        if index < mid:
            proof.append(_subtree(node, mid, hi))
            hi = mid
        else:
            # The left half is complete and aligned: one node.
            proof.append(node(k.bit_length() - 1, lo >> (k.bit_length() - 1)))
            lo = mid
    proof.reverse()
    return proof


def consistency_path(old_size: int, new_size: int, node: NodeHash) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 §2.1.4.1, for 0 < old_size <= new_size.

    An empty tree has nothing to be consistent with: old_size 0 is refused, as the verifier
    refuses it.
    """
    new_size = _check_size(new_size, "new size")
    old_size = _check_size(old_size, "old size")
    if old_size == 0:
        raise ProofError("no consistency proof from the empty tree")
    if old_size > new_size:
        raise ProofError(f"old size {old_size} exceeds new size {new_size}")
    if old_size == new_size:
        return []
    proof: list[bytes] = []
    lo, hi = 0, new_size
    m = old_size
    whole = True  # RFC 9162's b: the old tree is exactly this subtree so far
    while True:
        n = hi - lo
        if m == n:
            if not whole:
                proof.append(_subtree(node, lo, hi))
            break
        k = _largest_power_of_two_below(n)
        if m <= k:
            proof.append(_subtree(node, lo + k, hi))
            hi = lo + k
        else:
            level = k.bit_length() - 1
            proof.append(node(level, lo >> level))
            lo += k
            m -= k
            whole = False
    proof.reverse()
    return proof


def nodes_needed(compute: Callable[[NodeHash], object]) -> list[tuple[int, int]]:
    """The (level, index) of every node `compute(node)` asks for, in the order asked.

    The proofs' shape depends on sizes and indexes only, never on hash values: running one
    over placeholder hashes names the nodes to fetch (from a database, say) before the real
    run, e.g. `nodes_needed(lambda node: inclusion_path(i, n, node))`.
    """
    asked: dict[tuple[int, int], None] = {}

    def record(level: int, index: int) -> bytes:
        asked[(level, index)] = None
        return bytes(HASH_SIZE)

    compute(record)
    return list(asked)


# --- tiles (C2SP tlog-tiles layout) ----------------------------------------------------------

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
"""A tile of tile level L holds 256 consecutive nodes of tree level 8L (level 0: leaf hashes),
as in C2SP tlog-tiles; the nodes of tree levels 8L+1 .. 8L+7 above them are hashed from it,
and the tile's root (tree level 8L+8) is one node of the tile of level L+1."""


def tile_of(level: int, index: int) -> tuple[int, int, int, int]:
    """Where node (level, index) lies: (tile level, tile index, row in the tile, offset in row).

    Row r of a tile holds its nodes of tree level 8L+r (row 0 is what the tile stores)."""
    tile_level, row = divmod(level, TILE_HEIGHT)
    tile_index = (index << row) >> TILE_HEIGHT
    return tile_level, tile_index, row, index - (tile_index << (TILE_HEIGHT - row))


def tile_root(hashes: bytes) -> bytes:
    """The root of a full tile given as its 256 concatenated hashes."""
    if len(hashes) != TILE_WIDTH * HASH_SIZE:
        raise ProofError(f"a full tile holds {TILE_WIDTH * HASH_SIZE} bytes, got {len(hashes)}")
    row = bytes(hashes)
    sha256 = hashlib.sha256
    while len(row) > HASH_SIZE:
        row = b"".join(
            sha256(_NODE_PREFIX + row[i : i + 2 * HASH_SIZE]).digest()
            for i in range(0, len(row), 2 * HASH_SIZE)
        )
    return row


class MerkleTree:
    """An in-memory RFC 9162 tree that can answer for its current size and every earlier one.

    `_levels[k]` is the concatenation of the hashes of every complete, aligned subtree of
    2**k leaves, left to right. Appending never changes a stored hash, so a complete subtree of
    an earlier tree size is read, not recomputed; only the right edge of a tree whose size is
    not a power of two is hashed on demand (O(log n) hashes per root or proof).
    """

    __slots__ = ("_levels", "_size")

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        level0 = self._levels[0]
        for h in leaf_hashes:
            level0 += _check_hash(h, "leaf hash")
        self._size = len(level0) // HASH_SIZE
        # Bulk build: hash each level in one pass instead of appending leaf by leaf.
        lower = level0
        sha256 = hashlib.sha256
        while len(lower) >= 2 * HASH_SIZE:
            upper = bytearray()
            pairs = len(lower) // (2 * HASH_SIZE)
            for i in range(pairs):
                start = i * 2 * HASH_SIZE
                upper += sha256(_NODE_PREFIX + lower[start : start + 2 * HASH_SIZE]).digest()
            self._levels.append(upper)
            lower = upper

    @property
    def size(self) -> int:
        """The number of leaves."""
        return self._size

    def append(self, data: bytes) -> int:
        """Append a leaf with entry bytes `data`; returns the new leaf's index."""
        return self.append_hash(leaf_hash(data))

    def append_hash(self, h: bytes) -> int:
        """Append a leaf by its leaf hash; returns the new leaf's index."""
        levels = self._levels
        levels[0] += _check_hash(h, "leaf hash")
        index = self._size
        self._size = index + 1
        # Each trailing 1 bit of the index closes one more complete subtree on the right edge.
        level = 0
        n = index
        while n & 1:
            lower = levels[level]
            if level + 1 == len(levels):
                levels.append(bytearray())
            levels[level + 1] += hashlib.sha256(_NODE_PREFIX + lower[-2 * HASH_SIZE :]).digest()
            n >>= 1
            level += 1
        return index

    def leaf_hash_at(self, index: int) -> bytes:
        """The leaf hash at `index` (IndexError when out of range)."""
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError("index must be an int")
        if not 0 <= index < self._size:
            raise IndexError(f"leaf index {index} out of range for size {self._size}")
        return bytes(self._levels[0][index * HASH_SIZE : (index + 1) * HASH_SIZE])

    def _stored(self, level: int, index: int) -> bytes:
        start = index * HASH_SIZE
        return bytes(self._levels[level][start : start + HASH_SIZE])

    def node(self, level: int, index: int) -> bytes:
        """The complete subtree of 2**level leaves from leaf `index << level` (a `NodeHash`)."""
        if level < 0 or index < 0 or (index + 1) << level > self._size:
            raise ProofError(f"no complete node ({level}, {index}) in a tree of {self._size}")
        return self._stored(level, index)

    def _resolve_size(self, size: int | None, what: str = "tree size") -> int:
        if size is None:
            return self._size
        size = _check_size(size, what)
        if size > self._size:
            raise ProofError(f"{what} {size} exceeds the log size {self._size}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """The root hash of the tree of the first `size` leaves (default: all of them)."""
        return tree_root(self._resolve_size(size), self._stored)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaf-side first."""
        return inclusion_path(index, self._resolve_size(size), self._stored)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]) of RFC 9162 §2.1.4.1, for 0 < old_size <= new_size.

        An empty tree has nothing to be consistent with: old_size 0 is refused, as the
        verifier refuses it.
        """
        return consistency_path(old_size, self._resolve_size(new_size, "new size"), self._stored)


class TileEdge:
    """The right edge of a tree kept as tiles: every node not yet in a full tile.

    Per tile level L, the nodes of tree level 8L after the last full tile of that level (fewer
    than 256), as a small MerkleTree each: at most 255 hashes a level, whatever the size of
    the log. `append` answers the tiles a leaf completes, bottom-up, for the caller to store;
    `node` answers every node of the edge. Full tiles never change, so a `snapshot` taken at
    one size keeps answering for it while the edge grows.
    """

    __slots__ = ("_partial", "_size")

    def __init__(self, size: int = 0, partial: Sequence[Sequence[bytes]] = ()) -> None:
        """The edge of a tree of `size` leaves from its partial tiles' hashes, level 0 up."""
        self._size = _check_size(size, "tree size")
        self._partial = [MerkleTree(hashes) for hashes in partial]
        level = 0
        while size >> (TILE_HEIGHT * level):
            width = (size >> (TILE_HEIGHT * level)) % TILE_WIDTH
            have = self._partial[level].size if level < len(self._partial) else 0
            if have != width:
                raise ProofError(f"tile level {level} holds {have} hashes, expected {width}")
            level += 1
        del self._partial[max(level, 1) :]
        if not self._partial:
            self._partial.append(MerkleTree())

    @property
    def size(self) -> int:
        return self._size

    def full_tiles(self, tile_level: int) -> int:
        """How many full tiles tile level `tile_level` has."""
        return self._size >> (TILE_HEIGHT * (tile_level + 1))

    def append(self, h: bytes) -> list[tuple[int, int, bytes]]:
        """Append a leaf hash; answer the tiles it completes: (tile level, index, 256 hashes)."""
        done: list[tuple[int, int, bytes]] = []
        level = 0
        size = self._size + 1
        while True:
            if level == len(self._partial):
                self._partial.append(MerkleTree())
            part = self._partial[level]
            part.append_hash(h)
            if part.size < TILE_WIDTH:
                break
            index = (size >> (TILE_HEIGHT * (level + 1))) - 1
            done.append((level, index, bytes(part._levels[0])))
            h = part._stored(TILE_HEIGHT, 0)
            self._partial[level] = MerkleTree()
            level += 1
        self._size = size
        return done

    def node(self, level: int, index: int) -> bytes:
        """A complete node of the edge (a `NodeHash` for the nodes outside full tiles)."""
        tile_level, tile_index, row, offset = tile_of(level, index)
        if tile_level >= len(self._partial) or tile_index != self.full_tiles(tile_level):
            raise ProofError(f"node ({level}, {index}) is not on the right edge")
        return self._partial[tile_level].node(row, offset)

    def snapshot(self) -> TileEdge:
        """The edge as it is now, unaffected by later appends."""
        copy = TileEdge.__new__(TileEdge)
        copy._size = self._size
        copy._partial = list(self._partial)
        return copy


def _inclusion_shape(index: int, size: int) -> tuple[int, int]:
    """(inner, border) lengths of an inclusion proof, as transparency-dev decomposes it."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _check_proof(proof: object, expected_len: int) -> list[bytes]:
    if not isinstance(proof, Sequence) or isinstance(proof, bytes | bytearray | str):
        raise ProofError("proof must be a sequence of hashes")
    if len(proof) != expected_len:
        raise ProofError(f"proof has {len(proof)} hashes, expected {expected_len}")
    return [_check_hash(p, "proof hash") for p in proof]


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf_hash` is leaf `index` of the tree of `size` leaves with `root`.

    RFC 9162 §2.1.3.2, plus an exact proof-length check. Raises ProofError.
    """
    size = _check_size(size, "tree size")
    index = _check_size(index, "leaf index")
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    leaf = _check_hash(leaf_hash, "leaf hash")
    expected_root = _check_hash(root, "root hash")
    inner, border = _inclusion_shape(index, size)
    path = _check_proof(proof, inner + border)

    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            raise ProofError("inclusion proof too long")
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
        raise ProofError("inclusion proof too short")
    if r != expected_root:
        raise ProofError("inclusion proof does not lead to the root hash")


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of `size2` leaves with `root2` extends the one of `size1` with `root1`.

    RFC 9162 §2.1.4.2, plus an exact proof-length check. Raises ProofError. A consistency
    check from the empty tree is refused (it proves nothing). Equal sizes need an empty proof
    and equal roots.
    """
    size1 = _check_size(size1, "size1")
    size2 = _check_size(size2, "size2")
    if size1 > size2:
        raise ProofError(f"size1 {size1} exceeds size2 {size2}")
    if size1 == 0:
        raise ProofError("no consistency check from the empty tree")
    if not isinstance(root1, bytes | bytearray) or not isinstance(root2, bytes | bytearray):
        raise ProofError("roots must be bytes")
    if size1 == size2:
        _check_proof(proof, 0)
        if bytes(root1) != bytes(root2):
            raise ProofError("equal tree sizes with different roots")
        return
    first = _check_hash(root1, "root1")
    second = _check_hash(root2, "root2")

    # Expected length: the old tree's rightmost complete subtree is the starting node (and
    # is omitted from the proof when it is the whole old tree, i.e. size1 is a power of 2).
    shift = (size1 & -size1).bit_length() - 1
    inner, border = _inclusion_shape((size1 - 1) >> shift, ((size2 - 1) >> shift) + 1)
    seeded = size1 == 1 << shift
    path = _check_proof(proof, inner + border + (0 if seeded else 1))

    if seeded:
        path.insert(0, first)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof too long")
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
    if sn != 0:
        raise ProofError("consistency proof too short")
    if fr != first:
        raise ProofError("consistency proof does not lead to root1")
    if sr != second:
        raise ProofError("consistency proof does not lead to root2")
