"""Crypto benchmark: seal/open of a 2 KiB notice to 1, 10, 50 devices + 2 review keys; keystore.

Run: `.venv/bin/python bench/crypto.py [--runs N]`. Prints, per operation, the median over
several runs of the per-operation time and the matching ops/s, then runs bench/merkle.py's
`main()` when it is importable. Keys are throw-away; no plaintext or key is printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Run as a script, bench/ is first on the path and this file would hide the crypto package:
# the project root goes first, and bench/ (for merkle.py) after everything else.
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.append(str(HERE))

from crypto import keystore  # noqa: E402
from crypto.certs import TrustStore, issue_certificate  # noqa: E402
from crypto.envelope import (  # noqa: E402
    RecipientDevice,
    ReviewRecipient,
    open_as_reviewer,
    open_envelope,
    seal,
)
from crypto.keys import DeviceKeys, ReviewKeyPair, RootKey  # noqa: E402
from crypto.replay import ReplayGuard  # noqa: E402

NOW = 1_780_000_000
VN, CN = "VN-QN-CA", "CN-GX-FCG"


def measure(fn: Callable[[], object], *, runs: int, per_run: int) -> tuple[float, float, float]:
    """Per-operation seconds over `runs` batches of `per_run` calls: wall-clock median and best,
    and median process CPU time (less disturbed when other work shares the two cores)."""
    fn()  # warm up (caches, first-call costs)
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(per_run):
            fn()
        wall.append((time.perf_counter() - start) / per_run)
        cpu.append((time.process_time() - start_cpu) / per_run)
    return statistics.median(wall), min(wall), statistics.median(cpu)


def report(name: str, median: float, best: float, cpu: float) -> None:
    print(
        f"{name:<48} {median * 1e3:9.3f} ms median {best * 1e3:9.3f} ms best "
        f"{cpu * 1e3:9.3f} ms cpu {1 / median:8.0f} ops/s"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--per-run", type=int, default=50)
    parser.add_argument("--keystore-runs", type=int, default=5)
    args = parser.parse_args(argv)

    roots = {VN: RootKey.generate(), CN: RootKey.generate()}
    trust = TrustStore.with_pins((code, root.public) for code, root in roots.items())
    reviews = {code: ReviewKeyPair.generate() for code in roots}
    review = [ReviewRecipient(code, pair.key_id, pair.public) for code, pair in reviews.items()]

    def device(i: int, agency: str) -> tuple[DeviceKeys, object]:
        keys = DeviceKeys.generate()
        cert = issue_certificate(
            roots[agency],
            agency=agency,
            officer_id=f"officer{i}",
            device_id=f"{agency}:officer{i}:laptop",
            role="officer",
            signing_key=keys.signing_public,
            encryption_key=keys.encryption_public,
            display_names={"vi": f"Cán bộ {i}", "zh": f"警官 {i}"},
            serial=i,
            not_before=NOW - 86400,
            not_after=NOW + 86400 * 365,
        )
        return keys, cert

    sender_keys, sender_cert = device(0, VN)
    devices = [device(i, VN if i % 2 else CN) for i in range(1, 51)]
    notice = bytes(range(256)) * 8  # 2 KiB
    print(f"crypto bench: 2 KiB notice, 2 review keys, {args.runs} runs x {args.per_run} ops")
    for n in (1, 10, 50):
        chosen = devices[:n]
        recipients = [RecipientDevice(c.device_id, k.encryption_public) for k, c in chosen]

        def do_seal(recipients: list[RecipientDevice] = recipients) -> object:
            return seal(
                sender=sender_keys,
                sender_cert=sender_cert,
                recipients=recipients,
                review=review,
                plaintext=notice,
                counter=1,
                sent_at=NOW,
                log_size=0,
            )

        report(
            f"seal to {n} device(s) + 2 review keys",
            *measure(do_seal, runs=args.runs, per_run=args.per_run),
        )
        data = do_seal().to_bytes()  # type: ignore[attr-defined]
        keys, cert = chosen[-1]

        def do_open(data: bytes = data, keys: DeviceKeys = keys, cert: object = cert) -> object:
            return open_envelope(
                data,
                recipient_device_id=cert.device_id,
                recipient=keys,
                sender_cert=sender_cert,
                trust=trust,
                expected_review=review,
                replay=ReplayGuard(),
                now=NOW,
            )

        report(
            f"open (parse+verify+unwrap+review check), {n} dev",
            *measure(do_open, runs=args.runs, per_run=args.per_run),
        )

        def do_review(data: bytes = data) -> object:
            return open_as_reviewer(
                data, review=reviews[VN], agency=VN, sender_cert=sender_cert, trust=trust, now=NOW
            )

        if n == 10:
            report(
                "open as reviewer, 10 dev",
                *measure(do_review, runs=args.runs, per_run=args.per_run),
            )

    cold_trust = lambda: TrustStore.with_pins((c, r.public) for c, r in roots.items())  # noqa: E731
    keys, cert = devices[9]
    data10 = seal(
        sender=sender_keys,
        sender_cert=sender_cert,
        recipients=[RecipientDevice(c.device_id, k.encryption_public) for k, c in devices[:10]],
        review=review,
        plaintext=notice,
        counter=1,
        sent_at=NOW,
        log_size=0,
    ).to_bytes()
    report(
        "open, 10 dev, certificate not yet memoised",
        *measure(
            lambda: open_envelope(
                data10,
                recipient_device_id=cert.device_id,
                recipient=keys,
                sender_cert=sender_cert,
                trust=cold_trust(),
                expected_review=review,
                replay=ReplayGuard(),
                now=NOW,
            ),
            runs=args.runs,
            per_run=args.per_run,
        ),
    )

    locked = keystore.lock(b"k" * 64, "a long passphrase")
    report(
        f"keystore unlock (Argon2id ops={keystore.DEFAULT_OPSLIMIT}, "
        f"mem={keystore.DEFAULT_MEMLIMIT >> 20} MiB)",
        *measure(
            lambda: keystore.unlock(locked, "a long passphrase"), runs=args.keystore_runs, per_run=1
        ),
    )

    try:
        import merkle as merkle_bench  # bench/merkle.py
    except ImportError as exc:
        print(f"bench/merkle.py not importable ({exc}); Merkle figures skipped")
        return
    merkle_main = getattr(merkle_bench, "main", None)
    if callable(merkle_main):
        print()
        merkle_main([])  # its own defaults; our command-line flags are not its flags


if __name__ == "__main__":
    main()
