"""Supervisor review on the client: review keys (wrap, rotate, unwrap), logged review, audit log.

The administrator's side seals every agency review key to every supervisor device and rotates
keys; the supervisor's side fetches and unwraps them, lists the agency's traffic, and opens a
message only after checking that the relay logged its review record (crypto/PROTOCOL.md §12).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from crypto.certs import ReviewKeyStatement, issue_review_key_statement
from crypto.encoding import b64e
from crypto.envelope import Envelope, open_as_reviewer
from crypto.errors import CryptoError
from crypto.keys import DeviceKeys, ReviewKeyPair, Rng, RootKey, device_agency
from crypto.review_keys import (
    ReviewKeyWrap,
    new_reason_salt,
    reason_hash,
    review_request_bytes,
    sign_review_request,
    verify_review_request,
)
from liaison.client import directory, officer, transparency
from liaison.client.agency import (
    AGENCY_FILE,
    ROOT_KEY_FILE,
    load_agency,
    review_key_entries,
    wrap_missing,
)
from liaison.client.errors import (
    BadInput,
    ClientError,
    HomeError,
    ServerError,
    VerificationError,
)
from liaison.client.home import Home
from liaison.client.officer import authenticated
from liaison.client.payload import Payload
from liaison.client.records import ReviewKeyWraps, ReviewNote
from liaison.client.transport import ApiClient
from liaison.client.wire import decode_b64
from liaison.i18n import _

REVIEW_WRAPS_FILE = "device/review-keys.json"
REVIEWS_FILE = "device/reviews.json"


def _now(now: int | None) -> int:
    return int(time.time()) if now is None else now


# --- Administrator: the agency's review keys and their wraps -------------------------------------


async def publish_wraps(home: Home, api: ApiClient, *, now: int | None = None) -> dict[str, Any]:
    """Wrap what is missing, then upload every unpublished wrap (the relay logs each one).

    A supervisor device the relay reports revoked gets nothing more and is marked revoked.
    """
    record = load_agency(home)
    for device_id, item in record.get("issued", {}).items():
        if item.get("role") != "supervisor" or item.get("revoked"):
            continue
        try:
            answer = await api.get_device(device_id)
        except ServerError as exc:
            if exc.code != "unknown_device":
                raise
            continue  # not activated yet: the wrap waits for no one, the relay accepts it
        if answer.get("revoked"):
            item["revoked"] = True
            record.get("review_wraps", {}).pop(device_id, None)
    home.write_json(AGENCY_FILE, record)
    wrap_missing(home, now=now)
    record = load_agency(home)
    uploaded = 0
    devices: set[str] = set()
    for device_id, by_key in record.get("review_wraps", {}).items():
        for item in by_key.values():
            if item.get("published"):
                continue
            await api.upload_review_key_wrap(item["wrap"])
            item["published"] = True
            uploaded += 1
            devices.add(device_id)
    home.write_json(AGENCY_FILE, record)
    await transparency.advance(home, api)
    return {"uploaded": uploaded, "devices": sorted(devices)}


async def rotate_review_key(
    home: Home, api: ApiClient, *, now: int | None = None, rng: Rng | None = None
) -> dict[str, Any]:
    """A new review key for new messages: register its root-signed statement, wrap it to the
    current supervisors. Old keys stay (and stay wrapped) so old messages remain reviewable."""
    record = load_agency(home)
    now = _now(now)
    keys = review_key_entries(record)
    newest = ReviewKeyStatement.from_bytes(decode_b64(keys[-1]["statement"]))
    # Senders pick the statement with the latest not_before: keep them strictly increasing.
    not_before = max(now, newest.not_before + 1)
    root = RootKey.from_bytes(home.unlock_secret(ROOT_KEY_FILE))
    review = ReviewKeyPair.generate(rng)
    statement = issue_review_key_statement(
        root, agency=record["code"], public_key=review.public, not_before=not_before
    )
    keystore = f"agency/review-{review.key_id}.key"
    home.lock_secret(keystore, review.to_bytes())
    answer = await api.upload_review_statement(record["code"], statement.to_bytes())
    record = load_agency(home)
    record["review_keys"] = [
        *keys,
        {"key_id": review.key_id, "statement": b64e(statement.to_bytes()), "keystore": keystore},
    ]
    home.write_json(AGENCY_FILE, record)
    published = await publish_wraps(home, api, now=now)
    return {
        "agency": record["code"],
        "key_id": review.key_id,
        "log_index": answer.get("log_index"),
        "wrapped_to": published["devices"],
    }


# --- Supervisor: unwrap the agency's review keys ----------------------------------------------


def _own_agency_root(home: Home, agency: str) -> bytes:
    root = directory.pinned_root(home, agency)
    if root is None:
        raise HomeError(_("This device has not pinned its own agency's root."))
    return root


async def review_keys(
    home: Home, api: ApiClient, *, device: DeviceKeys | None = None
) -> dict[str, ReviewKeyPair]:
    """Fetch the review keys wrapped to this device; each must be signed by the own agency's
    root, addressed to this device, and the key its root-signed statement names."""
    own = officer.own_certificate(home)
    if own.role != "supervisor":
        raise BadInput(_("Only a supervisor device holds the agency's review keys."))
    answer = await authenticated(home, api, api.review_key_wraps)
    root = _own_agency_root(home, own.agency)
    vouched = {k.key_id for k in await directory.review_keys(home, api, own.agency)}
    # Unlocking the keystore costs an Argon2id run: callers that hold the keys pass them.
    keys = device if device is not None else officer.device_keys(home)
    stored = home.load_record(REVIEW_WRAPS_FILE, ReviewKeyWraps.from_json)
    for item in answer.get("wraps", []):
        stored[str(item.get("key_id"))] = item.get("wrap")
    pairs: dict[str, ReviewKeyPair] = {}
    for key_id, text in sorted(stored.items()):
        try:
            wrap = ReviewKeyWrap.from_bytes(decode_b64(text))
            wrap.verify(root)
            if wrap.device_id != own.device_id or wrap.key_id != key_id:
                raise VerificationError(_("A review-key wrap is addressed to another device."))
            if wrap.key_id not in vouched:
                raise VerificationError(_("A review-key wrap names a key its root never vouched."))
            pairs[key_id] = wrap.open(keys)
        except (CryptoError, VerificationError) as exc:
            raise VerificationError(
                _("The review key {key_id} handed to this device does not verify.").format(
                    key_id=key_id
                )
            ) from exc
    # Only the sealed wraps are kept: the private review keys never touch the disk in clear.
    home.write_json(REVIEW_WRAPS_FILE, ReviewKeyWraps.to_json(stored))
    return pairs


# --- Supervisor: list and read -------------------------------------------------------------------


async def list_traffic(
    home: Home,
    api: ApiClient,
    *,
    officer_id: str | None = None,
    start: int | None = None,
    end: int | None = None,
) -> list[dict[str, Any]]:
    answer = await authenticated(
        home, api, lambda: api.review_traffic(officer_id=officer_id, start=start, end=end)
    )
    return [message.to_dict() for message in answer.messages]


@dataclass(frozen=True)
class ReviewedMessage:
    message_id: str
    sender_device: str
    sender_names: dict[str, str]
    sent_at: int
    recipients: tuple[str, ...]
    review_log_index: int
    payload: Payload


def _resolve(message_id: str) -> str:
    text = message_id.strip().lower()
    if len(text) != 32 or any(c not in "0123456789abcdef" for c in text):
        raise BadInput(_("Give the full message id (32 hexadecimal digits)."))
    return text


def check_review_release(
    answer: dict[str, Any], *, message_id: str, device_id: str, agency: str, request: dict[str, Any]
) -> dict[str, Any]:
    """The review record the relay returned names this message, this device, this reason hash
    and this request's signature; anything else is refused before any decryption."""
    entry = answer.get("review")
    expected = {
        "kind": "review",
        "message_id": message_id,
        "device_id": device_id,
        "agency": agency,
        "reason_hash": request["reason_hash"],
        "requested_at": request["requested_at"],
        "signature": request["signature"],
    }
    if not isinstance(entry, dict) or any(entry.get(k) != v for k, v in expected.items()):
        raise VerificationError(
            _("The server's review record does not record this review; nothing was decrypted.")
        )
    if set(entry) != {*expected, "at"} or not isinstance(entry.get("at"), int):
        raise VerificationError(
            _("The server's review record does not record this review; nothing was decrypted.")
        )
    return entry


async def read(
    home: Home,
    api: ApiClient,
    message_id: str,
    reason: str,
    *,
    now: int | None = None,
    rng: Rng | None = None,
) -> ReviewedMessage:
    """Ask the relay to log a review of `message_id`, verify the logged record (inclusion in a
    checkpoint consistent with the stored one), and only then decrypt with the review key."""
    message_id = _resolve(message_id)
    own = officer.own_certificate(home)
    if own.role != "supervisor":
        raise BadInput(_("Only a supervisor device may review messages."))
    now = _now(now)
    salt = new_reason_salt(rng)
    try:
        commitment = reason_hash(reason, salt)
    except CryptoError as exc:
        raise BadInput(_("Give a reason of 1 to 1000 characters.")) from exc
    keys = officer.device_keys(home)
    request_bytes = review_request_bytes(
        message_id=message_id, device_id=own.device_id, reason_hash=commitment, requested_at=now
    )
    request = {
        "reason_hash": b64e(commitment),
        "requested_at": now,
        "signature": b64e(sign_review_request(keys, request_bytes)),
    }
    pairs = await review_keys(home, api, device=keys)
    answer = await authenticated(
        home,
        api,
        lambda: api.review_message(message_id, request),
    )
    # Keep the reason and its salt before anything else can fail: the review is logged now.
    reviews = ReviewNote.list_from_json(home.read_json(REVIEWS_FILE))
    reviews.append(
        ReviewNote(
            message_id=message_id,
            reason=reason,
            salt=b64e(salt),
            reason_hash=str(request["reason_hash"]),
            requested_at=now,
            log_index=answer.log_index,
        )
    )
    home.write_json(REVIEWS_FILE, [note.to_json() for note in reviews])
    entry = check_review_release(
        answer, message_id=message_id, device_id=own.device_id, agency=own.agency, request=request
    )
    cp = await transparency.advance(home, api, answer.get("checkpoint"))
    index = answer.get("log_index")
    if not isinstance(index, int):
        raise VerificationError(_("The server gave no log position for the review record."))
    await transparency.verify_entry_included(
        api,
        cp,
        index,
        entry,
        proof=answer.get("inclusion_proof"),
        proof_size=answer.get("tree_size"),
    )
    envelope = Envelope.from_bytes(decode_b64(answer.get("envelope")))
    header = envelope.header
    if header.message_id != message_id:
        raise VerificationError(_("The server released another message than the one reviewed."))
    env_index = answer.get("envelope_log_index")
    if not isinstance(env_index, int):
        raise VerificationError(_("The server gave no log position for the envelope."))
    env_entry = await transparency.fetch_entry(api, env_index)
    if (
        env_entry.get("kind") != "envelope"
        or env_entry.get("message_id") != message_id
        or env_entry.get("envelope_hash") != b64e(envelope.envelope_hash())
    ):
        raise VerificationError(_("The released envelope is not the one the log recorded."))
    await transparency.verify_entry_included(
        api,
        cp,
        env_index,
        env_entry,
        proof=answer.get("envelope_inclusion_proof"),
        proof_size=answer.get("tree_size"),
    )
    listed = dict(header.review_recipients)
    key_id = listed.get(own.agency)
    if key_id is None or key_id not in pairs:
        raise VerificationError(
            _("This device holds no review key for the wrap the message carries.")
        )
    sender = await directory.device(home, api, header.sender_device, now=now)
    # Revocations count from their log position, as for recipients (docs/cli.md).
    trust = directory.trust_store(home, revocations_before=env_index)
    try:
        opened = open_as_reviewer(
            envelope,
            review=pairs[key_id],
            agency=own.agency,
            sender_cert=sender.certificate,
            trust=trust,
            now=now,
        )
    except CryptoError as exc:
        raise VerificationError(
            _("Message {id} does not open with the review key: {code}.").format(
                id=message_id, code=exc.code
            )
        ) from exc
    return ReviewedMessage(
        message_id=message_id,
        sender_device=header.sender_device,
        sender_names=dict(sender.certificate.display_names),
        sent_at=header.sent_at,
        recipients=tuple(header.recipients),
        review_log_index=index,
        payload=Payload.from_bytes(opened.plaintext),
    )


# --- Everyone: the audit log records this device may see ---------------------------------------


async def _review_signed(home: Home, api: ApiClient, entry: dict[str, Any]) -> bool | None:
    """Whether a review record carries a valid signature of the named supervisor device
    (None when its agency's root is not pinned here, so the device cannot be checked)."""
    device_id = entry.get("device_id")
    if not isinstance(device_id, str):
        return False
    try:
        if directory.pinned_root(home, device_agency(device_id)) is None:
            return None
        supervisor = await directory.device(home, api, device_id, now=int(entry.get("at", 0)))
        request = review_request_bytes(
            message_id=str(entry["message_id"]),
            device_id=device_id,
            reason_hash=decode_b64(entry["reason_hash"]),
            requested_at=int(entry["requested_at"]),
        )
        verify_review_request(
            supervisor.certificate.signing_key, request, decode_b64(entry["signature"])
        )
    except (ClientError, CryptoError, KeyError, ValueError):
        return False
    return supervisor.certificate.role == "supervisor"


async def audit_log(home: Home, api: ApiClient) -> list[dict[str, Any]]:
    """Every log record the relay shows this device (its agency's for a supervisor, its own
    messages' for an officer), each checked to be included in a signed checkpoint that is
    consistent with the stored one; review records also have their signature checked."""
    out: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        start = after
        answer = await authenticated(
            home,
            api,
            lambda start=start: api.audit_records(start),
        )
        cp = await transparency.advance(home, api, answer.get("checkpoint"))
        for item in answer.get("records", []):
            index, entry = item.get("index"), item.get("entry")
            if not isinstance(index, int) or not isinstance(entry, dict):
                raise VerificationError(_("The server sent a malformed audit record."))
            await transparency.verify_entry_included(
                api,
                cp,
                index,
                entry,
                proof=item.get("inclusion_proof"),
                proof_size=answer.get("tree_size"),
            )
            row: dict[str, Any] = {"index": index, "verified": True, "entry": entry}
            if entry.get("kind") == "review":
                row["signed"] = await _review_signed(home, api, entry)
            out.append(row)
        following = answer.get("next")
        after = following if isinstance(following, int) and following > start else None
    return out
