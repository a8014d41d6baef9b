"""Generates local_seal.json: local seals of the outbox and the drafts (PROTOCOL.md §7.2).

Run from the project root: `.venv/bin/python -m tests.crypto.vectors.local_seal_generate`.
Signing seeds and nonces come from the pinned stream of tests/crypto/crypto_world.py (PinnedRng:
BLAKE2b-512(seed || u64 big-endian counter) blocks, drawn in the order signing seed 32, nonce
24). tests/crypto/test_local_seal.py regenerates the file and compares it with the checked-in
one, and recomputes every sealed file from the spec with raw libsodium calls.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from crypto.labels import LABEL_LOCAL_DRAFT, LABEL_LOCAL_OUTBOX
from crypto.local_seal import local_seal_key, seal_local
from tests.crypto.crypto_world import pinned_rng

HERE = Path(__file__).resolve().parent
KAT_PATH = HERE / "local_seal.json"
CASES = (
    ("an outbox item", LABEL_LOCAL_OUTBOX, "000001-3f2a", b'{"state":"composed"}'),
    ("an empty outbox item", LABEL_LOCAL_OUTBOX, "000002-77c0", b""),
    ("a draft with a non-ASCII name", LABEL_LOCAL_DRAFT, "Nguyễn-草稿", "Xin chào 你好".encode()),
)


def _case(
    index: int, description: str, label: bytes, name: str, plaintext: bytes
) -> dict[str, Any]:
    seed = f"liaison-kat-local-seal-{index}".encode()
    rng = pinned_rng(seed)
    signing_seed = rng(32)
    key = local_seal_key(signing_seed, label)
    sealed = seal_local(key, label, name, plaintext, rng=rng)
    return {
        "description": description,
        "rng_seed": seed.decode(),
        "signing_seed_hex": signing_seed.hex(),
        "label": label.decode(),
        "name": name,
        "plaintext_hex": plaintext.hex(),
        "key_hex": key.hex(),
        "sealed_hex": sealed.hex(),
    }


def render() -> str:
    cases = [_case(i, *case) for i, case in enumerate(CASES)]
    return json.dumps({"cases": cases}, ensure_ascii=False, indent=2) + "\n"


def main() -> int:
    KAT_PATH.write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
