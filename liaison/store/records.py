"""Domain records the store returns: plain frozen values, no SQLAlchemy rows leak out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AgencyRecord:
    code: str
    country: str
    name_vi: str
    name_zh: str
    root_key: bytes
    log_index: int
    review_statements: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class ReviewStatementRecord:
    agency: str
    key_id: str
    statement: bytes
    statement_hash: bytes
    log_index: int


@dataclass(frozen=True)
class DeviceRecord:
    device_id: str
    agency: str
    certificate: bytes
    cert_hash: bytes
    signing_key: bytes
    encryption_key: bytes
    not_before: int
    not_after: int
    log_index: int
    revocation: bytes | None = None
    revocation_log_index: int | None = None

    @property
    def revoked(self) -> bool:
        return self.revocation is not None


@dataclass(frozen=True)
class EnvelopeRecord:
    message_id: str
    envelope_hash: bytes
    sender_device: str
    counter: int
    size: int
    log_index: int
    received_at: int


@dataclass(frozen=True)
class DeliveryRecord:
    cursor: int
    message_id: str
    device_id: str
    envelope: bytes
    log_index: int
    received_at: int
    acknowledged: bool
    ack_log_index: int | None


@dataclass(frozen=True)
class LogEntryRecord:
    index: int
    data: bytes
    leaf_hash: bytes


@dataclass(frozen=True)
class TokenRecord:
    device_id: str
    expires_at: int
    device_revoked: bool


@dataclass(frozen=True)
class ChallengeRecord:
    challenge: bytes
    device_id: str
    expires_at: int
    used: bool
