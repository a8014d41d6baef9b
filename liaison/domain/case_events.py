"""What case derivation reads and writes: logged notices, slots, sides, timeline entries."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from liaison.domain.messages import N_, Message

VIETNAM_ZONE = "Asia/Ho_Chi_Minh"
CHINA_ZONE = "Asia/Shanghai"
# Every time shown on the agenda and in calendar descriptions is given in both border zones.
BORDER_ZONES = (VIETNAM_ZONE, CHINA_ZONE)

SideOf = Callable[[str], str]


class CaseError(Exception):
    """Base of the errors of case derivation; `code` is stable and safe to show or log."""

    code = "case_error"


class MalformedValue(CaseError, ValueError):
    """A time or place value inside a notice that does not parse."""

    code = "malformed_value"


class ConflictingLogOrder(CaseError, ValueError):
    """Two different notices claim the same log index: the order every party shares is broken."""

    code = "conflicting_log_order"


def country_side(agency_code: str) -> str:
    """The side of an agency in a cross-border handover: its country (`VN-QN-CA` -> `VN`)."""
    return agency_code.split("-", 1)[0].upper()


@dataclass(frozen=True, slots=True)
class LoggedNotice:
    """A decrypted, verified notice with its log position and its authenticated sender.

    `sender_*` come from the envelope and the sender's certificate, never from the notice's
    own header, so a notice cannot claim to come from another agency. `sent_at` is the
    envelope's send time in unix seconds.
    """

    log_index: int
    message_id: str
    sender_device: str
    sender_agency: str
    sender_officer: str
    sent_at: int
    notice: Mapping[str, Any]

    @property
    def type(self) -> str:
        return str(self.notice.get("type", ""))

    @property
    def header(self) -> Mapping[str, Any]:
        header = self.notice.get("header")
        return header if isinstance(header, Mapping) else {}

    @property
    def fields(self) -> Mapping[str, Any]:
        fields = self.notice.get("fields")
        return fields if isinstance(fields, Mapping) else {}

    @property
    def case_ref(self) -> str | None:
        value = self.header.get("case_ref")
        return value if isinstance(value, str) and value else None

    @property
    def in_reply_to(self) -> str | None:
        value = self.fields.get("in_reply_to")
        return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class Slot:
    """A moment as notices carry it: the instant in UTC and the zone it was entered in."""

    utc: datetime
    tz: str

    @classmethod
    def from_notice(cls, value: object) -> Slot:
        """Parse a notice DATETIME `{"utc": "2026-12-03T02:00:00Z", "tz": "Asia/..."}`."""
        if not isinstance(value, Mapping):
            raise MalformedValue("a DATETIME must be an object")
        raw_utc, tz = value.get("utc"), value.get("tz")
        if not isinstance(raw_utc, str) or not raw_utc.endswith("Z"):
            raise MalformedValue("DATETIME.utc must be an ISO 8601 UTC time ending in Z")
        if not isinstance(tz, str):
            raise MalformedValue("DATETIME.tz must be a zone name")
        try:
            instant = datetime.fromisoformat(raw_utc)
            ZoneInfo(tz)
        except (ValueError, ZoneInfoNotFoundError) as exc:
            raise MalformedValue("DATETIME does not parse") from exc
        return cls(instant.astimezone(UTC), tz)

    @classmethod
    def from_timestamp(cls, seconds: int, tz: str = "UTC") -> Slot:
        return cls(datetime.fromtimestamp(seconds, UTC), tz)

    @property
    def timestamp(self) -> int:
        return int(self.utc.timestamp())

    def local(self, zone: str | None = None) -> datetime:
        """The same instant on the wall clock of `zone` (default: the zone it was entered in)."""
        return self.utc.astimezone(ZoneInfo(zone or self.tz))

    def to_notice(self) -> dict[str, str]:
        return {"utc": self.utc.strftime("%Y-%m-%dT%H:%M:%SZ"), "tz": self.tz}


class SupersededReason(enum.Enum):
    """Why a notice did not change a handover or verification; the value is the stable code."""

    OWN_OFFER = "own_offer"
    OFFER_ALREADY_ACCEPTED = "offer_already_accepted"
    OFFER_REPLACED = "offer_replaced"
    REPLIES_TO_SUPERSEDED = "replies_to_superseded"
    OFFER_AWAITS_ANSWER = "offer_awaits_answer"
    UNKNOWN_REFERENCE = "unknown_reference"
    HANDOVER_CANCELLED = "handover_cancelled"
    HANDOVER_COMPLETED = "handover_completed"
    NOT_CONFIRMED = "not_confirmed"
    ALREADY_RECORDED = "already_recorded"
    OWN_RECORD = "own_record"
    RECORD_REPLACED = "record_replaced"
    COUNTERSIGNATURE_INVALID = "countersignature_invalid"
    NOT_A_PARTY = "not_a_party"
    OWN_REQUEST = "own_request"
    MALFORMED = "malformed"

    def msgid(self) -> str:
        return _SUPERSEDED_MESSAGES[self]

    @property
    def message(self) -> Message:
        """The reason for the officer (`liaison.i18n.translate` puts it in a language)."""
        return Message(self.msgid())


_SUPERSEDED_MESSAGES = {
    SupersededReason.OWN_OFFER: N_("A side cannot accept or counter its own offer."),
    SupersededReason.OFFER_ALREADY_ACCEPTED: N_(
        "The offer it answers had already been accepted by an earlier notice."
    ),
    SupersededReason.OFFER_REPLACED: N_(
        "The offer it answers had already been replaced by a later offer."
    ),
    SupersededReason.REPLIES_TO_SUPERSEDED: N_("It answers a notice that was itself superseded."),
    SupersededReason.OFFER_AWAITS_ANSWER: N_(
        "An offer from the other side was waiting for an answer: accept it or counter it."
    ),
    SupersededReason.UNKNOWN_REFERENCE: N_("It refers to a notice that is not part of this case."),
    SupersededReason.HANDOVER_CANCELLED: N_("The handover had already been cancelled."),
    SupersededReason.HANDOVER_COMPLETED: N_("The handover had already been completed."),
    SupersededReason.NOT_CONFIRMED: N_("The handover had no agreed time and place yet."),
    SupersededReason.ALREADY_RECORDED: N_("A handover record had already been signed."),
    SupersededReason.OWN_RECORD: N_("A side cannot countersign its own handover record."),
    SupersededReason.RECORD_REPLACED: N_(
        "The handover record it countersigns had been replaced by a corrected record."
    ),
    SupersededReason.COUNTERSIGNATURE_INVALID: N_(
        "The countersignature does not verify against the handover record."
    ),
    SupersededReason.NOT_A_PARTY: N_("The sender's side is not a party to this handover."),
    SupersededReason.OWN_REQUEST: N_(
        "A verification result must come from the side that was asked, not the side that asked."
    ),
    SupersededReason.MALFORMED: N_("The notice lacks a value this step needs."),
}


class Action(enum.Enum):
    """What a notice did in a case, as the timeline shows it; the value is the stable code."""

    PROPOSE = "propose"
    COUNTER = "counter"
    ACCEPT = "accept"
    RESCHEDULE = "reschedule"
    CANCEL = "cancel"
    RECORD = "record"
    COUNTERSIGN = "countersign"
    REQUEST_VERIFICATION = "request_verification"
    REPORT_VERIFICATION = "report_verification"
    NOTICE = "notice"

    def msgid(self) -> str:
        return _ACTION_MESSAGES[self]

    @property
    def message(self) -> Message:
        return Message(self.msgid())


_ACTION_MESSAGES = {
    Action.PROPOSE: N_("proposed a handover"),
    Action.COUNTER: N_("made a counter-proposal"),
    Action.ACCEPT: N_("accepted"),
    Action.RESCHEDULE: N_("rescheduled"),
    Action.CANCEL: N_("cancelled"),
    Action.RECORD: N_("signed the handover record"),
    Action.COUNTERSIGN: N_("countersigned the handover record"),
    Action.REQUEST_VERIFICATION: N_("requested verification"),
    Action.REPORT_VERIFICATION: N_("sent a verification result"),
    Action.NOTICE: N_("sent a notice"),
}


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """Who did what and when, in log order; a superseded entry is kept with its reason."""

    log_index: int
    message_id: str
    sent_at: int
    notice_type: str
    action: Action
    sender_agency: str
    sender_officer: str
    sender_device: str
    side: str
    handover_id: str | None = None
    slot: Slot | None = None
    place: Mapping[str, Any] | None = None
    reason_code: str | None = None
    superseded: SupersededReason | None = None
    state_after: str | None = None

    @classmethod
    def of(cls, event: LoggedNotice, action: Action, side: str, **kwargs: Any) -> TimelineEntry:
        return cls(
            log_index=event.log_index,
            message_id=event.message_id,
            sent_at=event.sent_at,
            notice_type=event.type,
            action=action,
            sender_agency=event.sender_agency,
            sender_officer=event.sender_officer,
            sender_device=event.sender_device,
            side=side,
            **kwargs,
        )

    @property
    def effective(self) -> bool:
        return self.superseded is None
