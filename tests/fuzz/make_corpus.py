"""Write the committed seed corpus: valid examples made by the project's own builders (pinned
randomness, so the files do not change from run to run) and a few hand-made invalid ones.

    python -m tests.fuzz.make_corpus      # rewrites tests/fuzz/corpus/*/seed-*

Crashing inputs found later are added next to them as crash-* files and stay: every file in the
corpus is a regression test (tests/fuzz/test_fuzz.py).
"""

from __future__ import annotations

import nacl.signing

from crypto.certs import issue_review_key_statement, issue_revocation
from crypto.checkpoint import Checkpoint, cosign_checkpoint, sign_checkpoint
from crypto.keys import ReviewKeyPair
from crypto.review_keys import wrap_review_key
from tests.crypto.crypto_world import CN, NOW, VN, World, pinned_rng
from tests.e2e.e2e_relay import PROJECT_ROOT

CORPUS = PROJECT_ROOT / "tests" / "fuzz" / "corpus"
GOLDEN_NOTICES = PROJECT_ROOT / "tests" / "golden" / "notices"
HUGE = b"9" * 5000


def seeds() -> dict[str, dict[str, bytes]]:
    world = World(rng=pinned_rng(b"fuzz corpus"))
    alice, bob, wei = world.device("alice", VN), world.device("bob", VN), world.device("wei", CN)
    supervisor = world.device("sup", VN, role="supervisor")
    one = world.seal(alice, [bob]).to_bytes()
    cross = world.seal(alice, [bob, wei], "Bàn giao 交接".encode(), counter=2).to_bytes()
    certificate = alice.cert.to_bytes()
    statement = issue_review_key_statement(
        world.agency(VN),
        agency=VN,
        public_key=ReviewKeyPair.generate(world.rng).public,
        not_before=NOW,
    ).to_bytes()
    revocation = issue_revocation(
        world.agency(VN),
        agency=VN,
        device_id=bob.device_id,
        cert_hash=bob.cert.cert_hash(),
        reason="lost",
        revoked_at=NOW,
    ).to_bytes()
    wrap = wrap_review_key(
        world.agency(VN),
        world.review_keys[VN],
        device_id=supervisor.device_id,
        encryption_key=supervisor.keys.encryption_public,
        issued_at=NOW,
    ).to_bytes()
    log_key = nacl.signing.SigningKey(world.rng(32))
    witness_key = nacl.signing.SigningKey(world.rng(32))
    head = Checkpoint(origin="liaison.relay/abcd", size=7, root_hash=world.rng(32))
    note = sign_checkpoint(head, key_name="liaison.relay/abcd", signing_key=log_key)
    cosigned = note + cosign_checkpoint(
        note, witness_name="witness.example", witness_key=witness_key, timestamp=NOW
    )
    return {
        "envelope": {
            "seed-one-recipient": one,
            "seed-cross-border": cross,
            "seed-truncated": one[:-1],
            "seed-bad-magic": b"XXXX" + one[4:],
            "seed-huge-header-length": one[:4] + b"\xff\xff\xff\xff" + one[8:],
        },
        "certificate": {
            "seed-device-certificate": certificate,
            "seed-review-key-statement": statement,
            "seed-revocation": revocation,
            "seed-review-key-wrap": wrap,
            "seed-huge-serial": certificate.replace(b'"serial":1', b'"serial":' + HUGE),
            "seed-float": certificate.replace(b'"serial":1', b'"serial":1.0'),
            "seed-duplicate-key": b'{"a":1,"a":1}',
            "seed-deep": b"[" * 5000 + b"]" * 5000,
        },
        "checkpoint": {
            "seed-body": head.body(),
            "seed-signed-note": note.encode(),
            "seed-cosigned-note": cosigned.encode(),
            "seed-leading-zero": head.body().replace(b"\n7\n", b"\n07\n"),
            "seed-huge-size": head.body().replace(b"\n7\n", b"\n" + HUGE + b"\n"),
        },
        "notice": {
            **{
                f"seed-{path.stem}": path.read_bytes()
                for path in sorted(GOLDEN_NOTICES.glob("*.json"))
            },
            "seed-huge-integer": b'{"liaison_notice": ' + HUGE + b"}",
            "seed-deep": b"[" * 5000 + b"]" * 5000,
            "seed-not-utf8": b'{"liaison_notice": "\xff"}',
        },
    }


def main() -> None:
    for parser, files in seeds().items():
        folder = CORPUS / parser
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("seed-*"):
            old.unlink()
        for name, data in files.items():
            (folder / name).write_bytes(data)


if __name__ == "__main__":
    main()
