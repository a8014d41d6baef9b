"""Legal holds and case tags on the officer's side: the agency case secret, tags, hold calls.

A case tag is `KDF(case secret, LABEL_CASE_TAG, agency code, NFC(case reference))`
(crypto/PROTOCOL.md section 1 KDF): the relay stores and matches tags, never case references.
The case secret is 32 random bytes the agency administrator creates once and hands to each of
the agency's devices (`liaison hold secret`), kept in the home under the device passphrase.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from typing import Any

import nacl.utils

from crypto.encoding import b64e, derive_key
from crypto.labels import LABEL_CASE_TAG, LABEL_HOLD_REASON
from liaison.client import officer
from liaison.client.errors import BadInput, ClientError, HomeError
from liaison.client.home import Home
from liaison.client.records import HoldNote, MessageRecord
from liaison.client.transport import ApiClient
from liaison.client.wire import decode_b64
from liaison.i18n import _

CASE_SECRET_FILE = "case-tag.secret"  # noqa: S105 (a file name)
CASE_SECRET_FORMAT = "liaison-case-secret/1"  # noqa: S105 (a format name)
HOLDS_FILE = "holds.json"


def case_tag(secret: bytes, agency: str, case_ref: str) -> bytes:
    """The keyed hash naming a case of `agency` to the relay."""
    ref = unicodedata.normalize("NFC", case_ref.strip())
    return derive_key(secret, LABEL_CASE_TAG, agency.encode(), ref.encode("utf-8"))


def reason_hash(secret: bytes, reason: str) -> bytes:
    """Keyed too: a short reason would otherwise be guessed from its hash."""
    return derive_key(
        secret, LABEL_HOLD_REASON, unicodedata.normalize("NFC", reason).encode("utf-8")
    )


def has_case_secret(home: Home) -> bool:
    return (home.root / CASE_SECRET_FILE).exists()


def case_secret(home: Home) -> bytes:
    if not has_case_secret(home):
        raise HomeError(
            _(
                "This home holds no agency case secret: import it with "
                "`liaison hold secret --import FILE`."
            )
        )
    return home.unlock_secret(CASE_SECRET_FILE)


def create_case_secret(home: Home, rng: Callable[[int], bytes] | None = None) -> bytes:
    """A new agency case secret (administrator, once per agency); answers the export file."""
    if has_case_secret(home):
        raise BadInput(_("This home already holds a case secret."))
    secret = (rng or nacl.utils.random)(32)
    home.lock_secret(CASE_SECRET_FILE, secret)
    return export_case_secret(home)


def export_case_secret(home: Home) -> bytes:
    agency = home.settings().agency
    document = {"format": CASE_SECRET_FORMAT, "agency": agency, "secret": b64e(case_secret(home))}
    return (json.dumps(document, sort_keys=True) + "\n").encode()


def import_case_secret(home: Home, data: bytes) -> None:
    try:
        document = json.loads(data)
        if document.get("format") != CASE_SECRET_FORMAT:
            raise ValueError
        secret = decode_b64(document["secret"])
        if len(secret) != 32:
            raise ValueError
    except (ValueError, KeyError, AttributeError) as exc:
        raise BadInput(_("The file is not an agency case secret.")) from exc
    own = home.settings().agency
    if own and document.get("agency") not in (None, own):
        raise BadInput(_("The case secret belongs to another agency."))
    home.lock_secret(CASE_SECRET_FILE, secret)


def send_tags(home: Home, case_ref: str | None) -> list[str]:
    """The case tags to attach to an envelope: the sender agency's tag when it can compute it."""
    agency = home.settings().agency
    if not case_ref or not agency or not has_case_secret(home):
        return []
    return [b64e(case_tag(case_secret(home), agency, case_ref))]


async def tag_received(
    home: Home, api: ApiClient, record: MessageRecord, case_ref: str | None
) -> None:
    """After a notice is read: add this agency's case tag to its envelope on the relay, so the
    agency's holds cover what it received too. Once per message; failures wait for next time."""
    if record.case_tagged or not record.received:
        return
    tags = send_tags(home, case_ref)
    if not tags:
        return
    message_id = record.message_id
    try:
        await officer.authenticated(home, api, lambda: api.add_case_tags(message_id, tags))
    except ClientError:
        return
    home.save_message(record.with_changes(case_tagged=True))


def _own_tag(home: Home, case_ref: str) -> bytes:
    agency = home.settings().agency
    if not agency:
        raise HomeError(_("This home folder holds no device: run `liaison officer init` first."))
    return case_tag(case_secret(home), str(agency), case_ref)


async def place(home: Home, api: ApiClient, case_ref: str, reason: str) -> dict[str, Any]:
    """Place the agency's hold on a case; the reason and case reference stay on this device."""
    if not reason.strip():
        raise BadInput(_("Give the reason for the hold with --reason."))
    tag = _own_tag(home, case_ref)
    reason_digest = b64e(reason_hash(case_secret(home), reason))
    answer = await officer.authenticated(
        home, api, lambda: api.place_hold(b64e(tag), reason_digest)
    )
    notes = HoldNote.table_from_json(home.read_json(HOLDS_FILE))
    notes[b64e(tag)] = HoldNote(case_ref, reason, answer.log_index)
    home.write_json(HOLDS_FILE, HoldNote.table_to_json(notes))
    return answer.to_dict()


async def release(home: Home, api: ApiClient, case_ref: str) -> dict[str, Any]:
    tag = _own_tag(home, case_ref)
    answer = await officer.authenticated(home, api, lambda: api.release_hold(b64e(tag)))
    notes = HoldNote.table_from_json(home.read_json(HOLDS_FILE))
    notes.pop(b64e(tag), None)
    home.write_json(HOLDS_FILE, HoldNote.table_to_json(notes))
    return answer.to_dict()


async def active(home: Home, api: ApiClient) -> list[dict[str, Any]]:
    """The agency's active holds; case references are filled in from this device's notes."""
    answer = await officer.authenticated(home, api, api.list_holds)
    notes = HoldNote.table_from_json(home.read_json(HOLDS_FILE))
    return [
        {
            **hold.to_dict(),
            "case_ref": note.case_ref if (note := notes.get(hold.case_tag)) else None,
        }
        for hold in answer.holds
    ]


async def set_retention(api: ApiClient, admin_token: str, agency: str, days: int) -> Any:
    return (await api.set_retention(admin_token, agency, days)).to_dict()
