"""The Merkle log's own behaviour: hashing, historical sizes, proof round trips, malformed input."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.errors import ProofError
from crypto.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)


def _reference_root(hashes: list[bytes]) -> bytes:
    """MTH of RFC 9162 §2.1.1, written as the recursion, independently of MerkleTree."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(
        b"\x01" + _reference_root(hashes[:k]) + _reference_root(hashes[k:])
    ).digest()


def _tree(n: int, salt: int = 0) -> tuple[MerkleTree, list[bytes]]:
    hashes = [leaf_hash(f"{salt}:{i}".encode()) for i in range(n)]
    tree = MerkleTree()
    for h in hashes:
        tree.append_hash(h)
    return tree, hashes


def _flip_bit(proof: list[bytes], index: int, bit: int) -> list[bytes]:
    out = list(proof)
    damaged = bytearray(out[index])
    damaged[bit // 8] ^= 1 << (bit % 8)
    out[index] = bytes(damaged)
    return out


def test_hashes_use_rfc9162_domain_prefixes() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert (
        node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    )
    assert EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert MerkleTree().root() == EMPTY_ROOT


def test_append_returns_the_new_leaf_index() -> None:
    tree = MerkleTree()
    assert [tree.append(bytes([i])) for i in range(5)] == [0, 1, 2, 3, 4]
    assert tree.size == 5
    assert tree.leaf_hash_at(3) == leaf_hash(b"\x03")


def test_every_earlier_root_is_still_answered_after_appends() -> None:
    tree, hashes = _tree(70)
    for n in range(71):
        assert tree.root(n) == _reference_root(hashes[:n])


def test_bulk_construction_equals_appending() -> None:
    appended, hashes = _tree(37)
    bulk = MerkleTree(hashes)
    assert bulk.size == 37
    assert bulk.root() == appended.root()
    bulk.append(b"more")
    appended.append(b"more")
    assert bulk.root() == appended.root()
    assert bulk.inclusion_proof(5, 30) == appended.inclusion_proof(5, 30)


def test_inclusion_proof_of_an_earlier_size_verifies_against_that_root() -> None:
    tree, hashes = _tree(100)
    proof = tree.inclusion_proof(41, 57)
    verify_inclusion(hashes[41], 41, 57, proof, tree.root(57))
    with pytest.raises(ProofError):
        verify_inclusion(hashes[41], 41, 57, proof, tree.root())


def test_consistency_proof_between_two_earlier_sizes_verifies() -> None:
    tree, _ = _tree(100)
    proof = tree.consistency_proof(13, 77)
    verify_consistency(13, 77, tree.root(13), tree.root(77), proof)
    assert tree.consistency_proof(77, 77) == []
    verify_consistency(77, 77, tree.root(77), tree.root(77), [])


def test_a_different_log_history_is_not_consistent() -> None:
    tree, _ = _tree(20)
    forked, _ = _tree(20, salt=1)
    proof = tree.consistency_proof(8, 20)
    with pytest.raises(ProofError):
        verify_consistency(8, 20, forked.root(8), tree.root(20), proof)


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda t: t.root(11), "size beyond the log"),
        (lambda t: t.root(-1), "negative size"),
        (lambda t: t.inclusion_proof(10), "index equal to size"),
        (lambda t: t.inclusion_proof(3, 3), "index equal to an earlier size"),
        (lambda t: t.inclusion_proof(0, 0), "empty tree"),
        (lambda t: t.consistency_proof(0, 5), "from the empty tree"),
        (lambda t: t.consistency_proof(6, 5), "old size above new size"),
        (lambda t: t.consistency_proof(5, 11), "new size beyond the log"),
        (lambda t: t.append_hash(b"short"), "leaf hash of the wrong length"),
    ],
)
def test_impossible_requests_raise_proof_error(call, reason: str) -> None:
    tree, _ = _tree(10)
    with pytest.raises(ProofError):
        call(tree)
    assert tree.size == 10, reason


def test_leaf_index_out_of_range_is_an_index_error() -> None:
    tree, _ = _tree(3)
    with pytest.raises(IndexError):
        tree.leaf_hash_at(3)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda p: p[:-1], id="truncated"),
        pytest.param(lambda p: [*p, p[0]], id="extended"),
        pytest.param(lambda p: [p[0][:31], *p[1:]], id="short-hash"),
        pytest.param(lambda p: [p[0] + b"\x00", *p[1:]], id="long-hash"),
        pytest.param(lambda p: list(reversed(p)), id="reordered"),
    ],
)
def test_malformed_inclusion_proofs_are_refused(mangle) -> None:
    tree, hashes = _tree(21)
    proof = tree.inclusion_proof(6)
    verify_inclusion(hashes[6], 6, 21, proof, tree.root())
    with pytest.raises(ProofError):
        verify_inclusion(hashes[6], 6, 21, mangle(proof), tree.root())


@pytest.mark.parametrize(
    ("index", "size", "leaf_ok", "root_len"),
    [(21, 21, True, 32), (-1, 21, True, 32), (6, 21, False, 32), (6, 21, True, 31)],
    ids=["index-equals-size", "negative-index", "short-leaf", "short-root"],
)
def test_malformed_inclusion_arguments_are_refused(
    index: int, size: int, leaf_ok: bool, root_len: int
) -> None:
    tree, hashes = _tree(21)
    proof = tree.inclusion_proof(6)
    leaf = hashes[6] if leaf_ok else hashes[6][:31]
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof, tree.root()[:root_len])


def test_malformed_consistency_arguments_are_refused() -> None:
    tree, _ = _tree(21)
    proof = tree.consistency_proof(6, 21)
    r6, r21 = tree.root(6), tree.root(21)
    verify_consistency(6, 21, r6, r21, proof)
    for args in [
        (21, 6, r21, r6, proof),  # sizes swapped
        (0, 21, EMPTY_ROOT, r21, []),  # from the empty tree
        (6, 21, r6[:31], r21, proof),  # short root
        (6, 21, r6, r21, proof[:-1]),  # truncated
        (6, 21, r6, r21, [*proof, proof[0]]),  # extended
        (6, 21, r6, r21, []),  # empty
        (21, 21, r21, r21, proof),  # equal sizes with a proof
        (7, 21, r6, r21, proof),  # wrong size1
    ]:
        with pytest.raises(ProofError):
            verify_consistency(*args)


@settings(max_examples=25, deadline=None)
@given(size=st.integers(min_value=1, max_value=300), data=st.data())
def test_every_generated_inclusion_proof_verifies_and_a_flipped_bit_fails(
    size: int, data: st.DataObject
) -> None:
    tree, hashes = _tree(size, salt=size)
    root = tree.root()
    assert root == _reference_root(hashes)
    for index in range(size):
        verify_inclusion(hashes[index], index, size, tree.inclusion_proof(index), root)
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = tree.inclusion_proof(index)
    if proof:
        which = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="hash")
        bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
        with pytest.raises(ProofError):
            verify_inclusion(hashes[index], index, size, _flip_bit(proof, which, bit), root)
    bit = data.draw(st.integers(min_value=0, max_value=255), label="leaf bit")
    with pytest.raises(ProofError):
        verify_inclusion(_flip_bit([hashes[index]], 0, bit)[0], index, size, proof, root)


@settings(max_examples=25, deadline=None)
@given(size=st.integers(min_value=2, max_value=300), data=st.data())
def test_every_generated_consistency_proof_verifies_and_a_flipped_bit_fails(
    size: int, data: st.DataObject
) -> None:
    tree, _ = _tree(size, salt=size)
    new_size = data.draw(st.integers(min_value=2, max_value=size), label="new size")
    new_root = tree.root(new_size)
    for old_size in range(1, new_size + 1):
        proof = tree.consistency_proof(old_size, new_size)
        verify_consistency(old_size, new_size, tree.root(old_size), new_root, proof)
    old_size = data.draw(st.integers(min_value=1, max_value=new_size - 1), label="old size")
    proof = tree.consistency_proof(old_size, new_size)
    which = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="hash")
    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
    with pytest.raises(ProofError):
        verify_consistency(
            old_size, new_size, tree.root(old_size), new_root, _flip_bit(proof, which, bit)
        )
