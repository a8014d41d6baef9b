"""A small cast for crypto tests: two agencies with roots and review keys, and officer devices."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from crypto.certs import DeviceCertificate, TrustStore, issue_certificate
from crypto.encoding import blake2b
from crypto.envelope import (
    Envelope,
    OpenedEnvelope,
    RecipientDevice,
    ReviewRecipient,
    open_envelope,
    required_review_agencies,
    seal,
)
from crypto.keys import DeviceKeys, ReviewKeyPair, RootKey
from crypto.replay import ReplayGuard

VN = "VN-QN-CA"
CN = "CN-GX-FCG"
NOW = 1_780_000_000
DAY = 86400


class PinnedRng:
    """Deterministic stream: BLAKE2b-512(seed || counter) blocks. For tests and vectors only."""

    def __init__(self, seed: bytes) -> None:
        self.seed = seed
        self.counter = 0
        self.buffer = b""

    def __call__(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self.buffer += blake2b(self.seed + self.counter.to_bytes(8, "big"), size=64)
            self.counter += 1
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out


def pinned_rng(seed: bytes) -> Callable[[int], bytes]:
    return PinnedRng(seed)


@dataclass
class Party:
    keys: DeviceKeys
    cert: DeviceCertificate

    @property
    def device_id(self) -> str:
        return self.cert.device_id

    def as_recipient(self) -> RecipientDevice:
        return RecipientDevice(self.device_id, self.keys.encryption_public)


@dataclass
class World:
    rng: Callable[[int], bytes] | None = None
    roots: dict[str, RootKey] = field(default_factory=dict)
    review_keys: dict[str, ReviewKeyPair] = field(default_factory=dict)
    trust: TrustStore = field(default_factory=TrustStore)
    serial: int = 0

    def agency(self, code: str) -> RootKey:
        if code not in self.roots:
            self.roots[code] = RootKey.generate(self.rng)
            self.review_keys[code] = ReviewKeyPair.generate(self.rng)
            self.trust.pin(code, self.roots[code].public)
        return self.roots[code]

    def device(
        self,
        officer: str,
        agency: str = VN,
        *,
        role: str = "officer",
        not_before: int = NOW - 30 * DAY,
        not_after: int = NOW + 365 * DAY,
        names: dict[str, str] | None = None,
        root: RootKey | None = None,
    ) -> Party:
        signer = root or self.agency(agency)
        keys = DeviceKeys.generate(self.rng)
        self.serial += 1
        cert = issue_certificate(
            signer,
            agency=agency,
            officer_id=officer,
            device_id=f"{agency}:{officer}:laptop",
            role=role,
            signing_key=keys.signing_public,
            encryption_key=keys.encryption_public,
            display_names=names or {"vi": f"Cán bộ {officer}", "zh": f"警官 {officer}"},
            serial=self.serial,
            not_before=not_before,
            not_after=not_after,
        )
        return Party(keys, cert)

    def review(self, *agencies: str) -> list[ReviewRecipient]:
        out = []
        for code in agencies:
            self.agency(code)
            pair = self.review_keys[code]
            out.append(ReviewRecipient(code, pair.key_id, pair.public))
        return out

    def seal(
        self,
        sender: Party,
        recipients: Sequence[Party],
        plaintext: bytes = b"verification request",
        *,
        counter: int = 1,
        sent_at: int = NOW,
        review: Sequence[ReviewRecipient] | None = None,
        rng: Callable[[int], bytes] | None = None,
    ) -> Envelope:
        if review is None:
            review = self.review(
                *sorted({sender.cert.agency, *(r.cert.agency for r in recipients)})
            )
        return seal(
            sender=sender.keys,
            sender_cert=sender.cert,
            recipients=[r.as_recipient() for r in recipients],
            review=review,
            plaintext=plaintext,
            counter=counter,
            sent_at=sent_at,
            log_size=7,
            rng=rng or self.rng,
        )

    def open(
        self,
        envelope: Envelope | bytes,
        recipient: Party,
        sender: Party,
        **overrides: Any,
    ) -> OpenedEnvelope:
        env = envelope if isinstance(envelope, Envelope) else Envelope.from_bytes(envelope)
        args: dict[str, Any] = {
            "recipient_device_id": recipient.device_id,
            "recipient": recipient.keys,
            "sender_cert": sender.cert,
            "trust": self.trust,
            "replay": ReplayGuard(),
            "now": NOW + 60,
        }
        if "expected_review" not in overrides:
            # What a real client expects: the sender's agency and every recipient's agency.
            args["expected_review"] = self.review(
                *required_review_agencies(env.header.sender_device, env.header.recipients)
            )
        args.update(overrides)
        return open_envelope(envelope, **args)
