"""Test helper: agencies, devices, envelopes and authentication built with the real crypto."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from crypto.certs import (
    DeviceCertificate,
    ReviewKeyStatement,
    Revocation,
    issue_certificate,
    issue_review_key_statement,
    issue_revocation,
)
from crypto.encoding import b64e
from crypto.envelope import Envelope, RecipientDevice, ReviewRecipient, seal
from crypto.keys import DeviceKeys, ReviewKeyPair, RootKey
from crypto.labels import LABEL_AUTH_CHALLENGE

NOW = int(time.time())
DAY = 86400

# Markers a database dump must never contain (the server sees only ciphertext).
MARKERS = (
    "Nguyễn Thị Hồng Nhung — bàn giao tại cửa khẩu Móng Cái",
    "阮氏红绒 在东兴口岸移交",
    "CASE-MARKER-ascii-7f3a9c",
)


@dataclass
class AgencyKit:
    code: str
    name_vi: str
    name_zh: str
    root: RootKey = field(default_factory=RootKey.generate)
    review: ReviewKeyPair = field(default_factory=ReviewKeyPair.generate)
    statement: ReviewKeyStatement | None = None

    def __post_init__(self) -> None:
        if self.statement is None:
            self.statement = issue_review_key_statement(
                self.root, agency=self.code, public_key=self.review.public, not_before=NOW - DAY
            )

    @property
    def country(self) -> str:
        return self.code[:2]

    def registration(self) -> dict[str, str]:
        """The body of POST /v1/agencies."""
        assert self.statement is not None
        return {
            "code": self.code,
            "country": self.country,
            "name_vi": self.name_vi,
            "name_zh": self.name_zh,
            "root_key": b64e(self.root.public),
            "review_statement": b64e(self.statement.to_bytes()),
        }

    def review_recipient(self) -> ReviewRecipient:
        return ReviewRecipient(self.code, self.review.key_id, self.review.public)

    def device(
        self,
        officer_id: str,
        suffix: str = "phone",
        *,
        role: str = "officer",
        not_before: int = NOW - DAY,
        not_after: int = NOW + 365 * DAY,
        root: RootKey | None = None,
    ) -> DeviceKit:
        keys = DeviceKeys.generate()
        cert = issue_certificate(
            root or self.root,
            agency=self.code,
            officer_id=officer_id,
            device_id=f"{self.code}:{officer_id}:{suffix}",
            role=role,
            signing_key=keys.signing_public,
            encryption_key=keys.encryption_public,
            display_names={"vi": f"Cán bộ {officer_id}", "zh": f"警官 {officer_id}"},
            serial=NOW,
            not_before=not_before,
            not_after=not_after,
        )
        return DeviceKit(self, keys, cert)

    def revoke(self, device: DeviceKit, reason: str = "lost") -> Revocation:
        return issue_revocation(
            self.root,
            agency=self.code,
            device_id=device.device_id,
            cert_hash=device.cert.cert_hash(),
            reason=reason,
            revoked_at=NOW,
        )


@dataclass
class DeviceKit:
    agency: AgencyKit
    keys: DeviceKeys
    cert: DeviceCertificate
    counter: int = 0

    @property
    def device_id(self) -> str:
        return self.cert.device_id

    def upload(self) -> dict[str, str]:
        """The body of POST /v1/certificates."""
        return {"certificate": b64e(self.cert.to_bytes())}

    def sign_challenge(self, log_public_key: bytes, challenge: bytes) -> bytes:
        message = LABEL_AUTH_CHALLENGE + log_public_key + challenge
        return bytes(self.keys.signing.sign(message).signature)

    def seal(
        self,
        recipients: list[DeviceKit],
        text: str,
        *,
        counter: int | None = None,
        log_size: int = 0,
        padding: int = 0,
    ) -> Envelope:
        if counter is None:
            self.counter += 1
            counter = self.counter
        agencies = {self.agency.code: self.agency}
        agencies.update({r.agency.code: r.agency for r in recipients})
        return seal(
            sender=self.keys,
            sender_cert=self.cert,
            recipients=[RecipientDevice(r.device_id, r.keys.encryption_public) for r in recipients],
            review=[a.review_recipient() for a in agencies.values()],
            plaintext=text.encode("utf-8") + b"\x00" * padding,
            counter=counter,
            sent_at=NOW,
            log_size=log_size,
        )


def vietnam_agency() -> AgencyKit:
    return AgencyKit("VN-QN-CA", "Công an tỉnh Quảng Ninh", "广宁省公安厅")


def china_agency() -> AgencyKit:
    return AgencyKit("CN-GX-DX", "Công an thành phố Đông Hưng", "东兴市公安局")
