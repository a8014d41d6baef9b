"""Merkle log benchmark: build, append, and proof generation and verification at 1M leaves.

Run from the project root: `.venv/bin/python -m bench.merkle [--leaves N] [--runs R]` (or
`bench/merkle.py`). Prints the median of R runs of each operation in µs/op (targets:
inclusion proof generation and verification <= 1 ms each). `run()` returns the figures.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run as a file, bench/ is sys.path[0] and bench/crypto.py would shadow the crypto package.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from crypto.merkle import (  # noqa: E402
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

DEFAULT_LEAVES = 1_000_000
DEFAULT_RUNS = 7
OPS_PER_RUN = 200


def _median_us(runs: int, ops: int, batch: Callable[[int], None]) -> float:
    """Median over `runs` of the mean µs/op of `batch(ops)`."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        batch(ops)
        samples.append((time.perf_counter() - start) / ops * 1e6)
    return statistics.median(samples)


def run(leaves: int = DEFAULT_LEAVES, runs: int = DEFAULT_RUNS) -> dict[str, float]:
    """Measure; returns build seconds and median µs/op per operation."""
    rng = random.Random(9162)  # fixed so runs pick comparable indices
    figures: dict[str, float] = {}

    start = time.perf_counter()
    tree = MerkleTree()
    for i in range(leaves):
        tree.append(i.to_bytes(8, "big"))
    figures["build_append_s"] = time.perf_counter() - start

    hashes = [tree.leaf_hash_at(i) for i in range(leaves)]
    start = time.perf_counter()
    MerkleTree(hashes)
    figures["build_bulk_s"] = time.perf_counter() - start
    del hashes

    size = tree.size
    root = tree.root()
    indices = [rng.randrange(size) for _ in range(OPS_PER_RUN)]
    old_sizes = [rng.randrange(1, size) for _ in range(OPS_PER_RUN)]

    def gen_inclusion(n: int) -> None:
        for i in indices[:n]:
            tree.inclusion_proof(i, size)

    proofs = [(tree.leaf_hash_at(i), i, tree.inclusion_proof(i, size)) for i in indices]

    def check_inclusion(n: int) -> None:
        for leaf, i, proof in proofs[:n]:
            verify_inclusion(leaf, i, size, proof, root)

    def gen_consistency(n: int) -> None:
        for m in old_sizes[:n]:
            tree.consistency_proof(m, size)

    cproofs = [(m, tree.root(m), tree.consistency_proof(m, size)) for m in old_sizes]

    def check_consistency(n: int) -> None:
        for m, old_root, proof in cproofs[:n]:
            verify_consistency(m, size, old_root, root, proof)

    def gen_root_of_earlier_size(n: int) -> None:
        for m in old_sizes[:n]:
            tree.root(m)

    figures["inclusion_proof_us"] = _median_us(runs, OPS_PER_RUN, gen_inclusion)
    figures["inclusion_verify_us"] = _median_us(runs, OPS_PER_RUN, check_inclusion)
    figures["consistency_proof_us"] = _median_us(runs, OPS_PER_RUN, gen_consistency)
    figures["consistency_verify_us"] = _median_us(runs, OPS_PER_RUN, check_consistency)
    figures["root_earlier_size_us"] = _median_us(runs, OPS_PER_RUN, gen_root_of_earlier_size)

    # Appends last: they grow the tree past `size`, which the figures above do not need.
    counter = [leaves]

    def append(n: int) -> None:
        for _ in range(n):
            tree.append_hash(leaf_hash(counter[0].to_bytes(8, "big")))
            counter[0] += 1

    figures["append_us"] = _median_us(runs, 10_000, append)
    figures["leaves"] = float(leaves)
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leaves", type=int, default=DEFAULT_LEAVES)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    args = parser.parse_args(argv)
    figures = run(args.leaves, args.runs)
    print(f"Merkle log, {args.leaves:,} leaves, median of {args.runs} runs")
    print(f"  build by append         {figures['build_append_s']:8.2f} s")
    print(f"  build in bulk (hashes)  {figures['build_bulk_s']:8.2f} s")
    rows = [
        ("append (leaf hash incl.)", "append_us"),
        ("inclusion proof", "inclusion_proof_us"),
        ("inclusion verify", "inclusion_verify_us"),
        ("consistency proof", "consistency_proof_us"),
        ("consistency verify", "consistency_verify_us"),
        ("root of earlier size", "root_earlier_size_us"),
    ]
    for label, key in rows:
        us = figures[key]
        print(f"  {label:<24}{us:8.1f} µs/op  ({1e6 / us:,.0f} ops/s)")


if __name__ == "__main__":
    main()
