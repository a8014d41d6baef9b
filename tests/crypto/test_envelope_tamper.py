"""Flipping any single byte of a sealed envelope makes every recipient and reviewer refuse it."""

from __future__ import annotations

import pytest

from crypto.envelope import Envelope, open_as_reviewer
from crypto.errors import CryptoError
from tests.crypto.crypto_world import CN, NOW, VN, World, pinned_rng


@pytest.fixture(scope="module")
def sealed():
    world = World(rng=pinned_rng(b"tamper"))
    alice, bao, chen = world.device("alice", VN), world.device("bao", VN), world.device("chen", CN)
    env = world.seal(alice, [bao, chen], b"short notice")
    return world, alice, [bao, chen], env


def regions(env: Envelope) -> dict[str, range]:
    """Byte ranges of each part in the wire form (PROTOCOL.md 5.6)."""
    out, pos = {}, 0

    def take(name: str, n: int) -> None:
        nonlocal pos
        out[name] = range(pos, pos + n)
        pos += n

    take("magic+header length", 8)
    take("header", len(env.header_bytes))
    take("body length", 4)
    take("body", len(env.body))
    take("wrap count", 2)
    for i, wrap in enumerate(env.wraps):
        take(f"wrap {i}", len(wrap))
    take("review wrap count", 2)
    for i, wrap in enumerate(env.review_wraps):
        take(f"review wrap {i}", len(wrap))
    take("signature", 64)
    assert pos == len(env.to_bytes())
    return out


def attempts(world, alice, recipients, data: bytes):
    for party in recipients:
        yield lambda p=party: world.open(data, p, alice)
    for agency in (VN, CN):
        yield lambda a=agency: open_as_reviewer(
            data,
            review=world.review_keys[a],
            agency=a,
            sender_cert=alice.cert,
            trust=world.trust,
            now=NOW,
        )


def test_untampered_envelope_opens_for_everyone(sealed):
    world, alice, recipients, env = sealed
    for attempt in attempts(world, alice, recipients, env.to_bytes()):
        assert attempt().plaintext == b"short notice"


@pytest.mark.parametrize(
    "part",
    [
        "magic+header length",
        "header",
        "body length",
        "body",
        "wrap count",
        "wrap 0",
        "wrap 1",
        "review wrap count",
        "review wrap 0",
        "review wrap 1",
        "signature",
    ],
)
def test_flipping_any_byte_makes_open_fail_for_everyone(sealed, part):
    world, alice, recipients, env = sealed
    data = env.to_bytes()
    span = regions(env)[part]
    assert len(span) > 0
    for index in span:
        tampered = bytearray(data)
        tampered[index] ^= 0x01
        for attempt in attempts(world, alice, recipients, bytes(tampered)):
            with pytest.raises(CryptoError):
                attempt()
