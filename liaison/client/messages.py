"""Messages on an officer's device: send, sync into the encrypted cache, inbox, read, ack, watch."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from crypto.certs import DeviceCertificate
from crypto.encoding import b64e
from crypto.envelope import (
    Envelope,
    RecipientDevice,
    ReviewRecipient,
    open_envelope,
    required_review_agencies,
    seal,
)
from crypto.errors import CryptoError, ReplayError
from crypto.keys import DeviceKeys, Rng, validate_agency_code, validate_officer_id
from crypto.replay import ReplayGuard
from crypto.review_keys import review_statements_valid_at
from liaison.client import directory, holds, officer, transparency
from liaison.client.errors import (
    BadInput,
    ClientError,
    RefusedEnvelope,
    ServerError,
    TransportError,
    VerificationError,
)
from liaison.client.home import Home
from liaison.client.payload import NOTICE, Payload
from liaison.client.transparency import b64decode
from liaison.client.transport import ApiClient
from liaison.i18n import N_, _

COUNTER_FILE = "counter.json"
REPLAY_FILE = "replay.json"
SYNC_FILE = "sync.json"
PAGE = 100


# --- Addresses --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Address:
    """`CODE` (every officer of an agency) or `CODE/OFFICER` (one officer, all their devices)."""

    agency: str
    officer_id: str | None = None

    @classmethod
    def parse(cls, text: str) -> Address:
        agency, _sep, officer_id = text.strip().partition("/")
        try:
            validate_agency_code(agency)
            if officer_id:
                validate_officer_id(officer_id)
        except CryptoError as exc:
            raise BadInput(
                _("{value} is not an address: give CODE or CODE/OFFICER.").format(value=text)
            ) from exc
        return cls(agency, officer_id or None)

    def __str__(self) -> str:
        return f"{self.agency}/{self.officer_id}" if self.officer_id else self.agency


# --- Authentication wrapper ---------------------------------------------------------------------
async def authenticated(home: Home, api: ApiClient, call: Callable[[], Awaitable[Any]]) -> Any:
    """Run `call` with a token; a token the server no longer accepts is renewed once."""
    await officer.authenticate(home, api)
    try:
        return await call()
    except ServerError as exc:
        if exc.status != 401:
            raise
    officer.forget_token(home)
    await officer.authenticate(home, api)
    return await call()


def _case_ref(payload: Payload) -> str | None:
    """The case reference of a notice payload (for its legal-hold case tag), else None."""
    if payload.content_type != NOTICE:
        return None
    try:
        ref = json.loads(payload.body).get("header", {}).get("case_ref")
    except (ValueError, AttributeError):
        return None
    return ref if isinstance(ref, str) and ref else None


# --- Send -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SentMessage:
    message_id: str
    log_index: int
    recipients: tuple[str, ...]
    review_agencies: tuple[str, ...]


def _next_counter(home: Home) -> int:
    # Persisted before the envelope leaves, so that a crash can never reuse a counter.
    value = home.read_json(COUNTER_FILE, {}) or {}
    counter = int(value.get("counter", 0)) + 1
    home.write_json(COUNTER_FILE, {"counter": counter})
    return counter


async def send(
    home: Home,
    api: ApiClient,
    addresses: Sequence[str],
    payload: Payload,
    *,
    now: int | None = None,
    rng: Rng | None = None,
) -> SentMessage:
    """Encrypt `payload` to every active device of the addressed officers (certificates checked
    against pinned roots and the log) and to this officer's other devices, with review wraps for
    the sender's agency and every recipient agency; upload it."""
    if not addresses:
        raise BadInput(_("Give at least one recipient with --to."))
    parsed = [Address.parse(text) for text in addresses]
    now = int(time.time()) if now is None else now
    own_cert = officer.own_certificate(home)
    own_id = own_cert.device_id
    agencies = sorted({a.agency for a in parsed})
    for code in agencies:
        directory.require_pin(home, code)
    await transparency.advance(home, api)
    devices_by_agency = {
        code: await directory.agency_devices(home, api, code, now=now)
        for code in sorted({*agencies, own_cert.agency})
    }
    for d in devices_by_agency[own_cert.agency]:
        if d.device_id == own_id and d.revoked:
            raise ClientError(
                _("This device was revoked by its agency: it can no longer send."),
                code="device_revoked",
            )
    recipients: dict[str, DeviceCertificate] = {}
    for address in parsed:
        found = [
            d
            for d in devices_by_agency[address.agency]
            if d.active
            and d.device_id != own_id
            and (address.officer_id is None or d.certificate.officer_id == address.officer_id)
        ]
        if not found:
            raise BadInput(
                _("No active device for {address} on the server.").format(address=str(address))
            )
        for d in found:
            recipients[d.device_id] = d.certificate
    for d in devices_by_agency[own_cert.agency]:
        if d.active and d.certificate.officer_id == own_cert.officer_id and d.device_id != own_id:
            recipients[d.device_id] = d.certificate
    review_agencies = sorted({own_cert.agency, *agencies})
    review = [
        await directory.current_review_key(home, api, code, now=now) for code in review_agencies
    ]
    checked = transparency.stored_checkpoint(home)
    keys = officer.device_keys(home)
    envelope = seal(
        sender=keys,
        sender_cert=own_cert,
        recipients=[
            RecipientDevice(device_id, cert.encryption_key)
            for device_id, cert in sorted(recipients.items())
        ],
        review=review,
        plaintext=payload.to_bytes(),
        counter=_next_counter(home),
        sent_at=now,
        log_size=checked.size if checked else 0,
        rng=rng,
    )
    raw = envelope.to_bytes()
    tags = holds.send_tags(home, _case_ref(payload))
    answer = await authenticated(home, api, lambda: api.send_envelope(raw, tags))
    if answer.get("envelope_hash") not in (None, b64e(envelope.envelope_hash())):
        raise VerificationError(_("The server acknowledged another envelope than the one sent."))
    record: dict[str, Any] = {
        "message_id": envelope.header.message_id,
        "direction": "sent",
        "envelope": b64e(raw),
        "envelope_hash": b64e(envelope.envelope_hash()),
        "log_index": answer["log_index"],
        "received_at": answer.get("received_at"),
        "sender_device": own_id,
        "sent_at": now,
        "recipients": sorted(recipients),
        "addresses": [str(a) for a in parsed],
        "content_type": payload.content_type,
        "status": "sent",
    }
    home.save_message(record)
    # The sent envelope is held like a received one: its log entry checked and included (a
    # failure here leaves the record without a leaf hash, for `audit verify` to report).
    index = int(answer["log_index"])
    cp = await transparency.advance(home, api)
    entry = await transparency.fetch_entry(api, index)
    if (
        entry.get("kind") != "envelope"
        or entry.get("message_id") != envelope.header.message_id
        or entry.get("envelope_hash") != record["envelope_hash"]
    ):
        raise VerificationError(
            _("The log entry of message {id} does not match its envelope.").format(
                id=envelope.header.message_id
            )
        )
    inclusion = await transparency.verify_entry_included(api, cp, index, entry)
    record.update(
        leaf_hash=b64e(inclusion.leaf_hash),
        tree_size=inclusion.size,
        inclusion_proof=inclusion.to_dict()["inclusion_proof"],
        logged_at=entry.get("at"),
    )
    home.save_message(record)
    sent = SentMessage(
        envelope.header.message_id,
        int(answer["log_index"]),
        tuple(sorted(recipients)),
        tuple(review_agencies),
    )
    if payload.content_type == NOTICE:
        # The sender is no recipient of its own envelope: its cases need a local sealed copy.
        from liaison.client.cases import remember_sent

        remember_sent(home, keys, sent, payload, now)
    return sent


# --- Sync ---------------------------------------------------------------------------------------
def _replay_guard(home: Home) -> ReplayGuard:
    value = home.read_json(REPLAY_FILE)
    return ReplayGuard.from_dict(value) if isinstance(value, dict) else ReplayGuard()


@dataclass
class _SyncContext:
    api: ApiClient
    own_id: str
    guard: ReplayGuard
    lookups: directory.Lookups


async def sync(
    home: Home,
    api: ApiClient,
    *,
    now: int | None = None,
    lookups: directory.Lookups | None = None,
) -> list[dict[str, Any]]:
    """Fetch new envelopes, check each against the log, store them (still encrypted) in the
    cache; returns the new records. The replay guard runs here, in server order. Pass the
    operation's `lookups` to share its sender verifications with the reads that follow."""
    now = (lookups.now if lookups else int(time.time())) if now is None else now
    lookups = lookups or directory.Lookups(home, api, now)
    own_id = officer.own_certificate(home).device_id
    state = home.read_json(SYNC_FILE, {}) or {}
    cursor = state.get("cursor")
    context = _SyncContext(api, own_id, _replay_guard(home), lookups)
    new: list[dict[str, Any]] = []
    while True:
        fetch_page = functools.partial(api.fetch_messages, after=cursor, limit=PAGE)
        page = await authenticated(home, api, fetch_page)
        items = page.get("messages", [])
        # Every sync checks the page's checkpoint, even an empty page: a split view is caught
        # (and recorded by transparency.advance) at the first contact after it happens.
        cp = await transparency.advance(home, api, page.get("checkpoint"))
        if items:
            for item in items:
                if home.load_message(str(item.get("message_id", ""))) is None:
                    record = await _accept(context, cp, item)
                    home.save_message(record)
                    new.append(record)
                cursor = item.get("cursor", cursor)
        home.write_json(REPLAY_FILE, context.guard.to_dict())
        home.write_json(SYNC_FILE, {"cursor": cursor})
        next_cursor = page.get("next_cursor")
        if next_cursor is None or not items:
            break
        cursor = next_cursor
    return new


async def _accept(context: _SyncContext, cp: Any, item: dict[str, Any]) -> dict[str, Any]:
    raw = b64decode(item.get("envelope"))
    message_id = str(item.get("message_id"))
    record: dict[str, Any] = {
        "message_id": message_id,
        "direction": "received",
        "envelope": b64e(raw),
        "log_index": item.get("log_index"),
        "received_at": item.get("received_at"),
        "acknowledged": bool(item.get("acknowledged")),
        "cursor": item.get("cursor"),
        "status": "new",
    }
    try:
        envelope = Envelope.from_bytes(raw)
    except CryptoError:
        record.update(status="refused", problem="malformed")
        return record
    header = envelope.header
    record.update(
        envelope_hash=b64e(envelope.envelope_hash()),
        sender_device=header.sender_device,
        sent_at=header.sent_at,
        counter=header.counter,
        recipients=list(header.recipients),
    )
    if header.message_id != message_id:
        raise VerificationError(_("The server delivered an envelope under another message id."))
    index = int(item["log_index"])
    entry = await transparency.fetch_entry(context.api, index)
    if (
        entry.get("kind") != "envelope"
        or entry.get("message_id") != message_id
        or entry.get("envelope_hash") != record["envelope_hash"]
    ):
        raise VerificationError(
            _("The log entry of message {id} does not match its envelope.").format(id=message_id)
        )
    inclusion = await transparency.verify_entry_included(
        context.api,
        cp,
        index,
        entry,
        proof=item.get("inclusion_proof"),
        proof_size=item.get("tree_size"),
    )
    record["leaf_hash"] = b64e(inclusion.leaf_hash)
    record["tree_size"] = inclusion.size
    record["inclusion_proof"] = inclusion.to_dict()["inclusion_proof"]
    record["logged_at"] = entry.get("at")
    if context.own_id not in header.recipients:
        record.update(status="refused", problem="not_a_recipient")
        return record
    try:
        sender = await context.lookups.device(header.sender_device)
    except ClientError as exc:
        record.update(status="unverified", problem=exc.code)
        return record
    problem = _sender_problem(sender, header, envelope, index)
    if problem is not None:
        record.update(status="refused", problem=problem)
        return record
    try:
        context.guard.record(header)
    except ReplayError:
        record.update(status="refused", problem="replay")
    record["sender_names"] = dict(sender.certificate.display_names)
    return record


def _sender_problem(
    sender: directory.VerifiedDevice, header: Any, envelope: Envelope, log_index: int
) -> str | None:
    if sender.revoked and (
        sender.revocation_log_index is None or sender.revocation_log_index < log_index
    ):
        return "sender_revoked"
    if sender.certificate.cert_hash() != header.sender_cert_hash:
        return "wrong_sender_certificate"
    try:
        envelope.verify_signature(sender.certificate.signing_key)
    except CryptoError:
        return "bad_signature"
    return None


# --- Inbox, read, ack ---------------------------------------------------------------------------
def inbox(home: Home, *, include_acknowledged: bool = True) -> list[dict[str, Any]]:
    """Received messages in the cache, in log order (metadata only; nothing is decrypted)."""
    return [
        {key: value for key, value in record.items() if key not in ("envelope", "inclusion_proof")}
        for record in home.messages()
        if record.get("direction") == "received"
        and (include_acknowledged or not record.get("acknowledged"))
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


_PROBLEM_TEXT = {
    "sender_revoked": N_("The sender's device was revoked before this message was logged."),
    "replay": N_("This envelope replays an earlier one (same id or an old counter)."),
    "bad_signature": N_("The envelope's signature does not verify."),
    "wrong_sender_certificate": N_("The envelope names another certificate than the sender's."),
    "not_a_recipient": N_("This device is not among the envelope's recipients."),
    "malformed": N_("The envelope is malformed."),
}


def _refusal(record: dict[str, Any]) -> RefusedEnvelope:
    problem = str(record.get("problem", "envelope_refused"))
    text = _PROBLEM_TEXT.get(problem, N_("The envelope cannot be trusted ({code})."))
    return RefusedEnvelope(
        _("Message {id} refused: {reason}").format(
            id=record["message_id"], reason=_(text).format(code=problem)
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
    if record.get("direction") != "received":
        raise BadInput(_("Message {id} was sent from this device.").format(id=record["message_id"]))
    if record.get("status") == "refused":
        raise _refusal(record)
    now = (lookups.now if lookups else int(time.time())) if now is None else now
    lookups = lookups or directory.Lookups(home, api, now)
    envelope = Envelope.from_bytes(b64decode(record["envelope"]))
    header = envelope.header
    log_index = int(record["log_index"])
    guard: ReplayGuard | None = None
    if record.get("status") == "unverified":
        # Its sender could not be checked at sync (agency not pinned then): the replay check
        # that sync runs in log order happens now instead.
        guard = _replay_guard(home)
    sender = await lookups.device(header.sender_device)
    problem = _sender_problem(sender, header, envelope, log_index)
    if problem is not None:
        record.update(status="refused", problem=problem)
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
            _("Message {id} refused: {code}.").format(id=record["message_id"], code=exc.code),
            code=exc.code,
        ) from exc
    payload = Payload.from_bytes(opened.plaintext)
    if guard is not None:
        try:
            guard.record(header)
        except ReplayError:
            record.update(status="refused", problem="replay")
            home.save_message(record)
            raise _refusal(record) from None
        home.write_json(REPLAY_FILE, guard.to_dict())
    if mark_read and record.get("status") != "read":
        record["status"] = "read"
        home.save_message(record)
    if mark_read:
        await holds.tag_received(home, api, record, payload)
    return OpenedMessage(
        message_id=record["message_id"],
        sender_device=header.sender_device,
        sender_names=dict(sender.certificate.display_names),
        sent_at=header.sent_at,
        log_index=log_index,
        recipients=tuple(header.recipients),
        payload=payload,
    )


async def ack(home: Home, api: ApiClient, message_id: str) -> dict[str, Any]:
    record = home.find_message(message_id)
    full_id = record["message_id"]
    answer = await authenticated(home, api, lambda: api.ack(full_id))
    record["acknowledged"] = True
    record["ack_log_index"] = answer.get("log_index")
    home.save_message(record)
    return {"message_id": full_id, "log_index": answer.get("log_index")}


# --- Watch --------------------------------------------------------------------------------------
Deliver = Callable[[dict[str, Any], OpenedMessage | ClientError], Awaitable[None] | None]


# Seconds `watch` waits before each new attempt while the relay cannot be reached; the last
# one repeats. A relay that restarts is back within the first few; a border post whose link is
# down for an hour is tried every minute, not hammered.
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
Retry = Callable[[float, ClientError], None]


async def watch(
    home: Home,
    api: ApiClient,
    deliver: Deliver,
    *,
    count: int | None = None,
    on_ready: Callable[[], None] | None = None,
    on_retry: Retry | None = None,
    on_reconnect: Callable[[], None] | None = None,
) -> int:
    """Push-driven: sync and open each new message as the server announces it. Returns the
    number delivered (stops after `count` when given).

    When the relay cannot be reached (a network drop, a relay restart) it waits and tries
    again (RETRY_DELAYS), calling `on_retry(seconds, error)` before each wait and
    `on_reconnect()` once it is back; whatever arrived meanwhile is fetched then, so nothing is
    missed. A refusal by the relay (a revoked device, say) still ends it with that error.
    """
    delivered = 0
    failures = 0

    async def drain() -> bool:
        nonlocal delivered
        # One batch per push: senders verified at this sync serve its reads, then are dropped.
        lookups = directory.Lookups(home, api, int(time.time()))
        for record in await sync(home, api, lookups=lookups):
            result: OpenedMessage | ClientError
            try:
                result = await read(home, api, record["message_id"], lookups=lookups)
            except ClientError as exc:
                if _transient(exc):
                    raise  # the relay is unreachable: the watch retries it
                result = exc
            except CryptoError as exc:
                result = RefusedEnvelope(str(exc), code=exc.code)
            outcome = deliver(record, result)
            if inspect.isawaitable(outcome):
                await outcome
            delivered += 1
            if count is not None and delivered >= count:
                return True
        return False

    async def wait(error: ClientError) -> None:
        nonlocal failures
        delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
        failures += 1
        if on_retry is not None:
            on_retry(delay, error)
        await asyncio.sleep(delay)

    ready = False
    while True:
        try:
            ws = await _open_push_channel(home, api)
        except ClientError as exc:
            if not _transient(exc):
                raise
            await wait(exc)
            continue
        if failures:
            failures = 0
            if on_reconnect is not None:
                on_reconnect()
        try:
            # Catch up first: whatever arrived while no channel was open.
            if await drain():
                return delivered
            if not ready:
                ready = True
                if on_ready is not None:
                    on_ready()
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    try:
                        event = json.loads(frame.data)
                    except ValueError:
                        continue
                    if isinstance(event, dict) and event.get("type") == "message":
                        if await drain():
                            return delivered
                elif frame.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    break
        except ClientError as exc:
            if not _transient(exc):
                raise
            await wait(exc)
        finally:
            await ws.close()
        # The relay closed the channel (token expiry, restart): sign in again and reconnect.


def _transient(exc: ClientError) -> bool:
    """An error that passes: the relay unreachable, or a proxy's 502/503/504 while it restarts."""
    return isinstance(exc, TransportError) or (
        isinstance(exc, ServerError) and exc.status in (502, 503, 504)
    )


async def _open_push_channel(home: Home, api: ApiClient) -> aiohttp.ClientWebSocketResponse:
    await officer.authenticate(home, api)
    try:
        return await api.websocket()
    except ServerError as exc:
        if exc.status != 401:
            # A refused handshake carries no JSON body to the client; an ordinary request
            # learns the typed reason (e.g. device_revoked).
            await api.fetch_messages(limit=1)
            raise
    officer.forget_token(home)
    await officer.authenticate(home, api)
    return await api.websocket()


__all__ = [
    "Address",
    "OpenedMessage",
    "SentMessage",
    "ack",
    "authenticated",
    "inbox",
    "read",
    "send",
    "sync",
    "watch",
]
