"""Builders for case-derivation tests: officers with real keys, notices in log order, and the
reference countersignature check the client is to implement (BLAKE2b record hash, Ed25519)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import nacl.exceptions
import nacl.signing

from crypto.encoding import b64d, b64e, canonical_json, frame, labelled_hash, signed_message
from liaison.domain.case_events import LoggedNotice

# Proposed for crypto/labels.py; kept here until the lead adds them.
LABEL_HANDOVER_RECORD_HASH = b"liaison/v1/handover-record-hash"
LABEL_HANDOVER_COUNTERSIGNATURE = b"liaison/v1/handover-countersignature"

VN = "Asia/Ho_Chi_Minh"
CN = "Asia/Shanghai"
T0 = int(datetime(2026, 11, 20, 1, 0, tzinfo=ZoneInfo("UTC")).timestamp())
GATE_MONG_CAI = {"kind": "gate", "gate": "mong-cai--dongxing"}
MARKER_450 = {"kind": "marker", "number": "450"}


@dataclass(frozen=True)
class Officer:
    agency: str
    officer: str
    device: str

    @property
    def signing_key(self) -> nacl.signing.SigningKey:
        return nacl.signing.SigningKey(labelled_hash(b"test/officer-seed", self.device.encode()))


VN_POLICE = Officer("VN-QN-CA", "vn-ca-nguyen-van-an", "dev-vn-ca-01")
VN_POLICE_2 = Officer("VN-QN-CA", "vn-ca-tran-thi-binh", "dev-vn-ca-02")
VN_BORDER_GUARD = Officer("VN-QN-BP-MC", "vn-bp-le-van-cuong", "dev-vn-bp-01")
CN_PSB = Officer("CN-GX-DXGA", "cn-dx-wang-wei", "dev-cn-dx-01")
CN_PSB_2 = Officer("CN-GX-DXGA", "cn-dx-li-na", "dev-cn-dx-02")
OFFICERS = (VN_POLICE, VN_POLICE_2, VN_BORDER_GUARD, CN_PSB, CN_PSB_2)
DEVICE_KEYS = {o.device: o.signing_key.verify_key for o in OFFICERS}


def at(local: str, tz: str) -> dict[str, str]:
    """A notice DATETIME for wall-clock `local` ("2026-12-03 09:00") entered in `tz`."""
    moment = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(tz))
    utc = moment.astimezone(ZoneInfo("UTC"))
    return {"utc": utc.strftime("%Y-%m-%dT%H:%M:%SZ"), "tz": tz}


def record_hash(record: LoggedNotice) -> bytes:
    return labelled_hash(
        LABEL_HANDOVER_RECORD_HASH, record.message_id.encode(), canonical_json(record.notice)
    )


def countersignature(signer: Officer, record: LoggedNotice) -> str:
    message = signed_message(
        LABEL_HANDOVER_COUNTERSIGNATURE, frame(record.message_id.encode(), record_hash(record))
    )
    return b64e(signer.signing_key.sign(message).signature)


def verify_countersignature(record: LoggedNotice, ack: LoggedNotice) -> bool:
    """What the client does: the ack's hash is this record's, signed by the ack's device."""
    try:
        claimed = b64d(ack.fields["record_hash"])
        signature = b64d(ack.fields["countersignature"])
        if claimed != record_hash(record):
            return False
        message = signed_message(
            LABEL_HANDOVER_COUNTERSIGNATURE, frame(record.message_id.encode(), claimed)
        )
        DEVICE_KEYS[ack.sender_device].verify(message, signature)
    except (KeyError, ValueError, nacl.exceptions.BadSignatureError):
        return False
    return True


def _person(n: int) -> dict[str, Any]:
    return {"name": f"Person {n}", "sex": "female"}


@dataclass
class CaseLog:
    """Appends notices of one case as the server's log would order them."""

    case_ref: str = "QN-2026-0042"
    first_index: int = 1
    clock: int = T0
    events: list[LoggedNotice] = field(default_factory=list)

    def notice(
        self,
        sender: Officer,
        notice_type: str,
        fields: Mapping[str, Any],
        *,
        to: Officer,
        header: Mapping[str, Any] | None = None,
    ) -> LoggedNotice:
        index = self.first_index + len(self.events)
        self.clock += 600
        event = LoggedNotice(
            log_index=index,
            message_id=f"m-{self.case_ref}-{index:05d}",
            sender_device=sender.device,
            sender_agency=sender.agency,
            sender_officer=sender.officer,
            sent_at=self.clock,
            notice={
                "liaison_notice": 1,
                "type": notice_type,
                "header": {
                    "our_ref": f"{sender.agency}/{index}",
                    "sender_unit": sender.agency,
                    "recipient_unit": to.agency,
                    "case_ref": self.case_ref,
                    "handling": "H2",
                    "priority": "normal",
                    **(header or {}),
                },
                "fields": dict(fields),
            },
        )
        self.events.append(event)
        return event

    def request_verification(
        self, sender: Officer, to: Officer, reply_by: Mapping[str, str] | None = None
    ) -> LoggedNotice:
        header = {"reply_by": dict(reply_by)} if reply_by else None
        return self.notice(
            sender, "verification_request", {"persons": [_person(1)]}, to=to, header=header
        )

    def verification_result(
        self, sender: Officer, to: Officer, request: LoggedNotice | None, outcome: str
    ) -> LoggedNotice:
        fields: dict[str, Any] = {"outcome": outcome, "verifying_unit": sender.agency}
        if request is not None:
            fields["in_reply_to"] = request.message_id
        return self.notice(sender, "verification_result", fields, to=to)

    def propose(
        self,
        sender: Officer,
        to: Officer,
        slot: Mapping[str, str],
        *,
        place: Mapping[str, Any] = GATE_MONG_CAI,
        persons: int = 2,
        escorts: Iterable[Mapping[str, str]] = ({"name": "Wang Wei", "officer_id": "cn-dx-7"},),
        header: Mapping[str, Any] | None = None,
    ) -> LoggedNotice:
        fields = {
            "slot": dict(slot),
            "place": dict(place),
            "persons": [_person(n) for n in range(persons)],
            "escorts": [dict(e) for e in escorts],
        }
        return self.notice(sender, "handover_proposal", fields, to=to, header=header)

    def accept(
        self,
        sender: Officer,
        to: Officer,
        offer: LoggedNotice,
        reception_team: Iterable[Mapping[str, str]] = (),
    ) -> LoggedNotice:
        fields: dict[str, Any] = {"in_reply_to": offer.message_id, "decision": "accept"}
        if reception_team:
            fields["reception_team"] = [dict(member) for member in reception_team]
        return self.notice(sender, "handover_response", fields, to=to)

    def counter(
        self,
        sender: Officer,
        to: Officer,
        offer: LoggedNotice,
        slot: Mapping[str, str] | None = None,
        place: Mapping[str, Any] | None = None,
    ) -> LoggedNotice:
        fields: dict[str, Any] = {"in_reply_to": offer.message_id, "decision": "counter"}
        if slot is not None:
            fields["slot"] = dict(slot)
        if place is not None:
            fields["place"] = dict(place)
        return self.notice(sender, "handover_response", fields, to=to)

    def reschedule(
        self,
        sender: Officer,
        to: Officer,
        proposal: LoggedNotice,
        new_slot: Mapping[str, str],
        reason_code: str = "weather",
    ) -> LoggedNotice:
        fields = {
            "in_reply_to": proposal.message_id,
            "action": "reschedule",
            "reason_code": reason_code,
            "new_slot": dict(new_slot),
        }
        return self.notice(sender, "reschedule_cancellation", fields, to=to)

    def cancel(
        self, sender: Officer, to: Officer, proposal: LoggedNotice, reason_code: str = "health"
    ) -> LoggedNotice:
        fields = {
            "in_reply_to": proposal.message_id,
            "action": "cancel",
            "reason_code": reason_code,
        }
        return self.notice(sender, "reschedule_cancellation", fields, to=to)

    def record(
        self, sender: Officer, to: Officer, proposal: LoggedNotice, condition: str = "good"
    ) -> LoggedNotice:
        fields = {
            "in_reply_to": proposal.message_id,
            "completed_at": at("2026-12-05 10:20", VN),
            "place": dict(GATE_MONG_CAI),
            "persons": [_person(0), _person(1)],
            "belongings": [],
            "documents": [],
            "condition": {"text": condition, "lang": "en"},
            "signatories": [
                {"side": "cn", "name": "Wang Wei", "agency": CN_PSB.agency},
                {"side": "vn", "name": "Nguyen Van An", "agency": VN_POLICE.agency},
            ],
        }
        return self.notice(sender, "handover_record", fields, to=to)

    def countersign(
        self,
        sender: Officer,
        to: Officer,
        record: LoggedNotice,
        *,
        signer: Officer | None = None,
    ) -> LoggedNotice:
        fields = {
            "in_reply_to": record.message_id,
            "received": "message",
            "received_at": at("2026-12-05 10:40", VN),
            "record_hash": b64e(record_hash(record)),
            "countersignature": countersignature(signer or sender, record),
        }
        return self.notice(sender, "receipt_ack", fields, to=to)

    def referral_status(
        self,
        sender: Officer,
        to: Officer,
        days_used: int,
        *,
        persons: Iterable[str] = ("Person 0",),
        status: str = "in_shelter",
        **extra: Any,
    ) -> LoggedNotice:
        fields = {
            "persons": [{"name": name, "sex": "female"} for name in persons],
            "receiving_agency": to.agency,
            "status": status,
            "days_used": days_used,
            **extra,
        }
        return self.notice(sender, "referral_status", fields, to=to)
