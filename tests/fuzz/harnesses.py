"""What each fuzzed parser must do with any input: parse it, or raise the package's typed error.

Used by the atheris runner (tests/fuzz/run_fuzzer.py) and by the corpus regression test: any
other exception escaping a harness is a crash (issue 14, section 4).
"""

from __future__ import annotations

from collections.abc import Callable

from crypto.certs import DeviceCertificate, ReviewKeyStatement, Revocation
from crypto.checkpoint import Checkpoint, parse_note
from crypto.envelope import Envelope
from crypto.errors import CryptoError
from crypto.review_keys import ReviewKeyWrap
from liaison.domain.fields import NoticeError
from liaison.domain.notices import notice_to_bytes, parse_notice


def envelope(data: bytes) -> None:
    try:
        parsed = Envelope.from_bytes(data)
    except CryptoError:
        return
    # What parses is what was sent: the relay stores and forwards these exact bytes.
    assert parsed.to_bytes() == data
    parsed.envelope_hash()


def certificate(data: bytes) -> None:
    # The root-signed structures share one parser (parse_root_signed): each is tried.
    for structure in (DeviceCertificate, ReviewKeyStatement, Revocation, ReviewKeyWrap):
        try:
            parsed = structure.from_bytes(data)
        except CryptoError:
            continue
        assert parsed.to_bytes() == data  # only canonical bytes parse


def checkpoint(data: bytes) -> None:
    try:
        parsed = Checkpoint.from_body(data)
    except CryptoError:
        pass
    else:
        assert parsed.body() == data
    try:
        parse_note(data)
    except CryptoError:
        pass


def notice(data: bytes) -> None:
    try:
        parsed = parse_notice(data)
    except NoticeError:
        return
    # A valid notice survives its own encoding: what a client seals, a recipient reads back.
    assert parse_notice(notice_to_bytes(parsed)) == parsed


HARNESSES: dict[str, Callable[[bytes], None]] = {
    "envelope": envelope,
    "certificate": certificate,
    "checkpoint": checkpoint,
    "notice": notice,
}
