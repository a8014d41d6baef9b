"""The Merkle log against transparency-dev's published RFC 6962/9162 vectors (../shared/vectors)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from crypto.errors import ProofError
from crypto.merkle import EMPTY_ROOT, MerkleTree, verify_consistency, verify_inclusion

# Only used to name the test cases at collection; the files are read through `vectors_dir`.
_MERKLE = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "rfc9162-merkle"


def _case_ids(kind: str) -> list[Any]:
    root = _MERKLE / kind
    if not root.is_dir():
        # One placeholder so the test exists and skips through the fixture, saying why.
        return [pytest.param(f"{kind}/absent", id=f"{kind}-vectors-absent")]
    files = sorted(p.relative_to(_MERKLE).as_posix() for p in root.rglob("*.json"))
    return [pytest.param(name, id=name) for name in files]


def _load(vectors_dir: Path, name: str) -> dict[str, Any]:
    return json.loads((vectors_dir / "rfc9162-merkle" / name).read_text())


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _proof(case: dict[str, Any]) -> list[bytes]:
    return [_b64(p) for p in case["proof"] or []]


def _reference_tree(vectors_dir: Path) -> tuple[MerkleTree, list[bytes]]:
    roots = json.loads((vectors_dir / "rfc9162-merkle" / "roots.json").read_text())
    tree = MerkleTree()
    for leaf in roots["leaf_inputs_hex"]:
        tree.append(bytes.fromhex(leaf))
    return tree, [bytes.fromhex(r) for r in roots["root_hashes_hex_by_size_from_1"]]


@pytest.mark.vectors
@pytest.mark.parametrize("name", _case_ids("inclusion"))
def test_inclusion_vector(vectors_dir: Path, name: str) -> None:
    case = _load(vectors_dir, name)
    args = (_b64(case["leafHash"]), case["leafIdx"], case["treeSize"], _proof(case))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args, _b64(case["root"]))
    else:
        verify_inclusion(*args, _b64(case["root"]))


@pytest.mark.vectors
@pytest.mark.parametrize("name", _case_ids("consistency"))
def test_consistency_vector(vectors_dir: Path, name: str) -> None:
    case = _load(vectors_dir, name)
    args = (case["size1"], case["size2"], _b64(case["root1"]), _b64(case["root2"]), _proof(case))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


@pytest.mark.vectors
def test_roots_of_sizes_one_to_eight_match_published_roots(vectors_dir: Path) -> None:
    tree, roots = _reference_tree(vectors_dir)
    assert tree.size == 8
    assert [tree.root(n) for n in range(1, 9)] == roots
    assert tree.root(0) == EMPTY_ROOT
    # Built in one pass from leaf hashes, the tree gives the same roots.
    bulk = MerkleTree(tree.leaf_hash_at(i) for i in range(8))
    assert [bulk.root(n) for n in range(1, 9)] == roots


def _happy_paths(kind: str) -> list[Any]:
    """The happy-path cases of the numbered folders, all built on the eight leaves of roots.json."""
    cases = _case_ids(kind)
    if cases[0].values[0].endswith("/absent"):
        return cases
    return [
        p
        for p in cases
        if p.values[0].split("/")[1].isdigit() and p.values[0].endswith("/happy-path.json")
    ]


@pytest.mark.vectors
@pytest.mark.parametrize("name", _happy_paths("inclusion"))
def test_generated_inclusion_proof_equals_published_proof(vectors_dir: Path, name: str) -> None:
    case = _load(vectors_dir, name)
    tree, _ = _reference_tree(vectors_dir)
    assert tree.leaf_hash_at(case["leafIdx"]) == _b64(case["leafHash"])
    assert tree.root(case["treeSize"]) == _b64(case["root"])
    assert tree.inclusion_proof(case["leafIdx"], case["treeSize"]) == _proof(case)


@pytest.mark.vectors
@pytest.mark.parametrize("name", _happy_paths("consistency"))
def test_generated_consistency_proof_equals_published_proof(vectors_dir: Path, name: str) -> None:
    case = _load(vectors_dir, name)
    tree, _ = _reference_tree(vectors_dir)
    assert tree.root(case["size1"]) == _b64(case["root1"])
    assert tree.root(case["size2"]) == _b64(case["root2"])
    assert tree.consistency_proof(case["size1"], case["size2"]) == _proof(case)
