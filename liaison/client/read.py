"""Reading the cache: the inbox (metadata only), opening one message with full verification,
acknowledging it. A notice is parsed here, once, where its plaintext enters the client.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from crypto.envelope import Envelope, ReviewRecipient, open_envelope, required_review_agencies
from crypto.errors import CryptoError, ReplayError
from crypto.keys import DeviceKeys
from crypto.replay import ReplayGuard
from crypto.review_keys import review_statements_valid_at
from liaison.client import directory, holds, officer
from liaison.client.errors import BadInput, RefusedEnvelope
from liaison.client.home import Home
from liaison.client.notice_cache import case_reference, notice_of
from liaison.client.payload import Payload
from liaison.client.records import MessageRecord
from liaison.client.sync import REPLAY_FILE, replay_guard, sender_problem
from liaison.client.transport import ApiClient
from liaison.client.wire import decode_b64
from liaison.domain.fields import NoticeError
from liaison.domain.notices import Notice
from liaison.i18n import N_, _


def inbox(home: Home, *, include_acknowledged: bool = True) -> list[MessageRecord]:
    """Received messages in the cache, in log order (nothing is decrypted; `metadata()` is what
    a listing shows)."""
    return [
        record
        for record in home.messages()
        if record.received and (include_acknowledged or not record.acknowledged)
    ]


@dataclass(frozen=True)
class OpenedMessage:
    message_id: str
    sender_device: str
    sender_names: dict[str, str]
    sent_at: int
    log_index: int
    recipients: tuple[str, ...]
    payload: Payload
    # Parsed once from `payload` (the edge): the notice, or why it cannot be accepted.
    notice: Notice | None = field(init=False, default=None)
    notice_error: NoticeError | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "notice", notice_of(self.payload))
        except NoticeError as exc:
            object.__setattr__(self, "notice_error", exc)


_PROBLEM_TEXT = {
    "sender_revoked": N_("The sender's device was revoked before this message was logged."),
    "replay": N_("This envelope replays an earlier one (same id or an old counter)."),
    "bad_signature": N_("The envelope's signature does not verify."),
    "wrong_sender_certificate": N_("The envelope names another certificate than the sender's."),
    "not_a_recipient": N_("This device is not among the envelope's recipients."),
    "malformed": N_("The envelope is malformed."),
}


def _refusal(record: MessageRecord) -> RefusedEnvelope:
    problem = record.problem or "envelope_refused"
    text = _PROBLEM_TEXT.get(problem, N_("The envelope cannot be trusted ({code})."))
    return RefusedEnvelope(
        _("Message {id} refused: {reason}").format(
            id=record.message_id, reason=_(text).format(code=problem)
        ),
        code=problem,
    )


async def _expected_review(lookups: directory.Lookups, header: Any) -> list[ReviewRecipient]:
    """The review keys the envelope must carry wraps for: the sender's agency and every
    recipient agency. For a pinned agency the key must be one its root vouched for and valid
    at the header's send time (PROTOCOL.md section 12: the newest statement by then, within
    the clock skew); for an agency this client has not pinned, the key the signed header names
    (its id is the key's fingerprint) is taken from the server, so the wrap can still be
    recomputed and checked."""
    required = required_review_agencies(header.sender_device, header.recipients)
    listed = dict(header.review_recipients)
    expected: list[ReviewRecipient] = []
    for agency in required:
        if agency not in listed:
            raise RefusedEnvelope(
                _("The envelope carries no review wrap for agency {agency}.").format(agency=agency),
                code="bad_review_wrap",
            )
        statements, verified = await lookups.review_statements(agency)
        by_id = {s.key_id: s for s in statements}
        if listed[agency] not in by_id:
            raise RefusedEnvelope(
                _("The envelope's review key for {agency} is not one its root vouched for.").format(
                    agency=agency
                ),
                code="bad_review_wrap",
            )
        if verified and by_id[listed[agency]] not in review_statements_valid_at(
            statements, header.sent_at
        ):
            raise RefusedEnvelope(
                _(
                    "The envelope's review key for {agency} was not that agency's review key "
                    "at the time the envelope was sent."
                ).format(agency=agency),
                code="bad_review_wrap",
            )
        expected.append(directory.recipient(by_id[listed[agency]]))
    return expected


async def read(
    home: Home,
    api: ApiClient,
    message_id: str,
    *,
    now: int | None = None,
    mark_read: bool = True,
    keys: DeviceKeys | None = None,
    lookups: directory.Lookups | None = None,
) -> OpenedMessage:
    """Open a cached message with full verification; refuse envelopes from revoked devices
    (revocation takes effect from its log position). `mark_read=False` (inbox search) leaves
    the message's status as it was; `keys`, when given, spares unlocking the keystore again
    for each message of a batch, and `lookups` (the batch's, with its time) verifies each
    sender device and each agency's review keys once per batch rather than per message."""
    record = home.find_message(message_id)
    if not record.received:
        raise BadInput(_("Message {id} was sent from this device.").format(id=record.message_id))
    if record.refused:
        raise _refusal(record)
    now = (lookups.now if lookups else int(time.time())) if now is None else now
    lookups = lookups or directory.Lookups(home, api, now)
    envelope = Envelope.from_bytes(decode_b64(record.envelope))
    header = envelope.header
    log_index = int(record.log_index or 0)
    guard: ReplayGuard | None = None
    if record.status == "unverified":
        # Its sender could not be checked at sync (agency not pinned then): the replay check
        # that sync runs in log order happens now instead.
        guard = replay_guard(home)
    sender = await lookups.device(header.sender_device)
    problem = sender_problem(sender, header, envelope, log_index)
    if problem is not None:
        record = record.with_changes(status="refused", problem=problem)
        home.save_message(record)
        raise _refusal(record)
    # Revocations count from their log position: one logged after this envelope does not
    # retract it (open_envelope judges the certificate at the header's send time).
    trust = directory.trust_store(home, revocations_before=log_index)
    expected = await _expected_review(lookups, header)
    own = officer.own_certificate(home)
    try:
        opened = open_envelope(
            envelope,
            recipient_device_id=own.device_id,
            recipient=keys or officer.device_keys(home),
            sender_cert=sender.certificate,
            trust=trust,
            expected_review=expected,
            replay=None,
            now=now,
        )
    except CryptoError as exc:
        raise RefusedEnvelope(
            _("Message {id} refused: {code}.").format(id=record.message_id, code=exc.code),
            code=exc.code,
        ) from exc
    payload = Payload.from_bytes(opened.plaintext)
    if guard is not None:
        try:
            guard.record(header)
        except ReplayError:
            record = record.with_changes(status="refused", problem="replay")
            home.save_message(record)
            raise _refusal(record) from None
        home.write_json(REPLAY_FILE, guard.to_dict())
    if mark_read and record.status != "read":
        record = record.with_changes(status="read")
        home.save_message(record)
    message = OpenedMessage(
        message_id=record.message_id,
        sender_device=header.sender_device,
        sender_names=dict(sender.certificate.display_names),
        sent_at=header.sent_at,
        log_index=log_index,
        recipients=tuple(header.recipients),
        payload=payload,
    )
    if mark_read:
        case_ref = case_reference(payload, message.notice)
        if case_ref is not None:
            await holds.tag_received(home, api, record, case_ref)
    return message


async def ack(home: Home, api: ApiClient, message_id: str) -> dict[str, Any]:
    record = home.find_message(message_id)
    full_id = record.message_id
    answer = await officer.authenticated(home, api, lambda: api.ack(full_id))
    home.save_message(record.with_changes(acknowledged=True, ack_log_index=answer.log_index))
    return {"message_id": full_id, "log_index": answer.log_index}


__all__ = ["OpenedMessage", "ack", "inbox", "read"]
