"""Defect 3 of issue 14: a 5,000-digit integer in any signed structure is MalformedError.

Python refuses to convert integer strings longer than 4,300 digits with a bare ValueError; the
relay answered such input with a 500. Every public parser must say MalformedError instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from crypto.certs import (
    DeviceCertificate,
    ReviewKeyStatement,
    Revocation,
    issue_review_key_statement,
    issue_revocation,
)
from crypto.encoding import parse_canonical_json
from crypto.envelope import Envelope, EnvelopeHeader
from crypto.errors import MalformedError
from crypto.keys import ReviewKeyPair
from crypto.review_keys import ReviewKeyWrap, wrap_review_key
from tests.crypto.crypto_world import NOW, VN, World, pinned_rng

HUGE = "9" * 5000


def _swell(data: bytes, field: str) -> bytes:
    """`data` (canonical JSON) with the integer `field` replaced by a 5,000-digit one."""
    swollen, count = re.subn(
        rb'"%s":\d+' % field.encode(), b'"%s":%s' % (field.encode(), HUGE.encode()), data
    )
    assert count == 1, f"{field} not found once"
    return swollen


def _swell_envelope(envelope: Envelope, field: str) -> bytes:
    header = _swell(envelope.header_bytes, field)
    wire = envelope.to_bytes()
    old = envelope.header_bytes
    start = wire.index(old)
    return wire[:4] + len(header).to_bytes(4, "big") + header + wire[start + len(old) :]


def _cases() -> list[tuple[str, Callable[[World], bytes], Callable[[bytes], object]]]:
    def certificate(field: str) -> Callable[[World], bytes]:
        return lambda world: _swell(world.device("a", VN).cert.to_bytes(), field)

    def statement(world: World) -> bytes:
        root = world.agency(VN)
        pair = ReviewKeyPair.generate(world.rng)
        made = issue_review_key_statement(root, agency=VN, public_key=pair.public, not_before=NOW)
        return _swell(made.to_bytes(), "not_before")

    def revocation(world: World) -> bytes:
        party = world.device("a", VN)
        made = issue_revocation(
            world.agency(VN),
            agency=VN,
            device_id=party.device_id,
            cert_hash=party.cert.cert_hash(),
            reason="lost",
            revoked_at=NOW,
        )
        return _swell(made.to_bytes(), "revoked_at")

    def wrap(world: World) -> bytes:
        supervisor = world.device("s", VN, role="supervisor")
        made = wrap_review_key(
            world.agency(VN),
            world.review_keys[VN],
            device_id=supervisor.device_id,
            encryption_key=supervisor.keys.encryption_public,
            issued_at=NOW,
        )
        return _swell(made.to_bytes(), "issued_at")

    def envelope(field: str) -> Callable[[World], bytes]:
        def build(world: World) -> bytes:
            sender, recipient = world.device("a", VN), world.device("b", VN)
            return _swell_envelope(world.seal(sender, [recipient]), field)

        return build

    return [
        ("certificate serial", certificate("serial"), DeviceCertificate.from_bytes),
        ("certificate not_before", certificate("not_before"), DeviceCertificate.from_bytes),
        ("certificate not_after", certificate("not_after"), DeviceCertificate.from_bytes),
        ("review-key statement", statement, ReviewKeyStatement.from_bytes),
        ("revocation time", revocation, Revocation.from_bytes),
        ("review-key wrap", wrap, ReviewKeyWrap.from_bytes),
        ("envelope counter", envelope("counter"), Envelope.from_bytes),
        ("envelope sent_at", envelope("sent_at"), Envelope.from_bytes),
        ("envelope log_size", envelope("log_size"), Envelope.from_bytes),
    ]


@pytest.mark.parametrize(("structure", "build", "parse"), _cases(), ids=[c[0] for c in _cases()])
def test_a_5000_digit_integer_is_malformed(structure, build, parse):
    data = build(World(rng=pinned_rng(b"huge integers")))
    with pytest.raises(MalformedError):
        parse(data)


@pytest.mark.parametrize("text", [HUGE, "-" + HUGE, "1" + "0" * 4300, "9007199254740992"])
def test_out_of_range_integers_in_canonical_json_are_malformed(text):
    with pytest.raises(MalformedError):
        parse_canonical_json(b'{"n":' + text.encode() + b"}")


def test_an_envelope_header_alone_refuses_a_huge_counter():
    world = World(rng=pinned_rng(b"huge header"))
    envelope = world.seal(world.device("a", VN), [world.device("b", VN)])
    with pytest.raises(MalformedError):
        EnvelopeHeader.from_bytes(_swell(envelope.header_bytes, "counter"))
