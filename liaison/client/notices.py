"""Notices in the officer's mailbox: sealing checked notices, opening, search, forward, export."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crypto.errors import CryptoError
from crypto.keys import parse_device_id
from liaison.client import directory, officer
from liaison.client.addresses import Address
from liaison.client.errors import BadInput, ClientError, RefusedEnvelope
from liaison.client.home import Home
from liaison.client.notice_cache import NoticePayload, is_notice
from liaison.client.payload import Payload
from liaison.client.read import OpenedMessage, inbox, read
from liaison.client.records import MessageRecord
from liaison.client.send import SentMessage, send
from liaison.client.sync import sync
from liaison.client.transport import ApiClient
from liaison.domain.notices import (
    Notice,
    ensure_may_export,
    ensure_may_forward,
    matches,
    notice_search_text,
    notice_to_bytes,
    parse_notice,
)
from liaison.i18n import _, current_language, translate
from liaison.i18n.render import render_html, render_text

EXPORT_FORMATS = ("json", "text", "html")


class NoticeAddressError(BadInput):
    """A notice whose sender or recipient unit does not fit the sending officer and the --to."""

    code = "notice_address"


def notice_payload(notice: Notice) -> Payload:
    """The payload that gets sealed: the notice's canonical bytes under the notice type."""
    return NoticePayload.of(notice)


def check_addressing(notice: Notice, own_agency: str, addresses: Sequence[str]) -> None:
    """A notice is sent by its sender unit to (at least) its recipient unit: refuse otherwise,
    before anything is sealed, so that no notice names another unit than the one that sent it."""
    if notice.header["sender_unit"] != own_agency:
        raise NoticeAddressError(
            _("header.sender_unit is {unit}, but this device belongs to {agency}.").format(
                unit=notice.header["sender_unit"], agency=own_agency
            )
        )
    agencies = {Address.parse(text).agency for text in addresses}
    if notice.header["recipient_unit"] not in agencies:
        raise NoticeAddressError(
            _("header.recipient_unit {unit} is not among the recipients (--to).").format(
                unit=notice.header["recipient_unit"]
            )
        )


def ensure_sender_unit(sender_unit: str, sender_device: str, message_id: str) -> None:
    """A notice's sender unit is the sender's own words, its device certificate is the agency's:
    a notice naming another unit than the agency that certified its sender is refused."""
    certified = parse_device_id(sender_device)[0]
    if sender_unit != certified:
        raise RefusedEnvelope(
            _(
                "Message {id} names {unit} as its sender unit, but it was signed by a device "
                "of {agency}: refused."
            ).format(id=message_id, unit=sender_unit, agency=certified),
            code="sender_unit_mismatch",
        )


def open_notice(message: OpenedMessage) -> Notice:
    """The notice a verified, decrypted message carries, checked once when it was opened (a
    sender's client may be older or newer than this one: nothing unchecked is rendered)."""
    notice, exc = message.notice, message.notice_error
    if exc is not None:
        raise RefusedEnvelope(
            _("Message {id} carries a notice this client cannot accept: {reason}").format(
                id=message.message_id, reason=translate(exc.message, current_language())
            ),
            code=exc.code,
        ) from exc
    if notice is None:
        raise BadInput(
            _("Message {id} is not a notice ({type}).").format(
                id=message.message_id, type=message.payload.content_type
            )
        )
    ensure_sender_unit(notice.header["sender_unit"], message.sender_device, message.message_id)
    return notice


def message_meta(message: OpenedMessage, record: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a rendering shows about the message itself: id, sender, sent and received times."""
    # One meta for every language of a bilingual rendering: both names of the certificate.
    names = [n for n in dict.fromkeys(message.sender_names.get(k) for k in ("vi", "zh")) if n]
    sender = message.sender_device
    if names:
        sender = f"{' / '.join(names)} ({sender})"
    meta: dict[str, Any] = {
        "message_id": message.message_id,
        "sender": sender,
        "sent_at": message.sent_at,
    }
    received = (record or {}).get("received_at")
    if isinstance(received, int):
        meta["received_at"] = received
    # The files an attachment index names (never their keys or blob ids).
    meta["attachments"] = [
        {"name": ref.name, "size": ref.size, "media_type": ref.media_type}
        for ref in message.payload.attachments
    ]
    return meta


# --- Export -------------------------------------------------------------------------------------
def export_format(path: str, requested: str | None) -> str:
    """The export format: as asked, else from the file name (.json, .html/.htm), else text."""
    if requested is not None:
        return requested
    lower = path.lower()
    if lower.endswith(".json"):
        return "json"
    if lower.endswith((".html", ".htm")):
        return "html"
    return "text"


def export_bytes(
    notice: Notice, fmt: str, lang: str, meta: Mapping[str, Any] | None = None
) -> bytes:
    """The notice as it leaves the client: canonical JSON, or a rendering whose banner states
    the handling code (H1: not to be used as evidence): text, html, or pdf (the signable
    document). Raises HandlingRestricted for H2."""
    ensure_may_export(notice)
    if fmt == "json":
        return notice_to_bytes(notice)
    if fmt == "html":
        return render_html(notice, lang, message_meta=meta).encode("utf-8")
    if fmt == "pdf":
        # The signable bilingual document (handover record or letter form) as A4 PDF; raises
        # pdf.PdfUnavailable when WeasyPrint or its fonts are missing. WeasyPrint loads only here.
        from liaison.i18n.documents import notice_pdf

        return notice_pdf(notice, meta)
    return render_text(notice, lang, message_meta=meta).encode("utf-8")


# --- Forward ------------------------------------------------------------------------------------
def forwarded_notice(
    original: Notice, original_message_id: str, own_agency: str, addresses: Sequence[str]
) -> Notice:
    """A new notice from `own_agency` with the original's content, naming what it passes on.

    Raises HandlingRestricted when the original is H2 and a recipient agency is neither its
    recipient unit nor its sender unit (the provider): forwarding within those is allowed.
    """
    agencies = sorted({Address.parse(text).agency for text in addresses})
    if not agencies:
        raise BadInput(_("Give at least one recipient with --to."))
    original_units = (original.header["recipient_unit"], original.header["sender_unit"])
    ensure_may_forward(original, agencies, original_units)
    if len(agencies) != 1:
        raise BadInput(
            _("A forwarded notice names one recipient unit: forward to one agency at a time.")
        )
    header = {
        key: value
        for key, value in original.header.items()
        if key not in ("their_ref", "forwarded_from")
    }
    header.update(
        sender_unit=own_agency,
        recipient_unit=agencies[0],
        forwarded_from={
            "message_id": original_message_id,
            "sender_unit": original.header["sender_unit"],
            "our_ref": original.header["our_ref"],
        },
    )
    return parse_notice({**original.to_dict(), "header": header})


async def read_notice(
    home: Home, api: ApiClient, message_id: str, *, now: int | None = None
) -> tuple[OpenedMessage, Notice]:
    """Open a received message (syncing first if it is not cached yet) and its notice."""
    lookups = directory.Lookups(home, api, int(time.time()) if now is None else now)
    try:
        home.find_message(message_id)
    except ClientError:
        await sync(home, api, lookups=lookups)
    message = await read(home, api, message_id, lookups=lookups)
    if not is_notice(message.payload):
        raise BadInput(
            _("Message {id} is not a notice ({type}).").format(
                id=message.message_id, type=message.payload.content_type
            )
        )
    return message, open_notice(message)


async def forward(
    home: Home,
    api: ApiClient,
    message_id: str,
    addresses: Sequence[str],
    *,
    now: int | None = None,
) -> tuple[Notice, SentMessage]:
    """Re-send a received notice's content to `addresses` as a new notice from this officer.
    H2 is checked before anything is sealed."""
    message, original = await read_notice(home, api, message_id, now=now)
    own_agency = officer.own_certificate(home).agency
    notice = forwarded_notice(original, message.message_id, own_agency, addresses)
    sent = await send(home, api, addresses, notice_payload(notice), now=now)
    return notice, sent


# --- Search -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchResult:
    """Received messages whose decrypted content matched, and those that could not be opened."""

    hits: list[tuple[MessageRecord, Notice | None]]
    unopened: list[tuple[str, str]]


async def search(
    home: Home,
    api: ApiClient,
    query: str,
    *,
    include_acknowledged: bool = True,
    now: int | None = None,
    on_error: Callable[[str, str], None] | None = None,
) -> SearchResult:
    """Decrypt each received message in memory and keep those whose notice content or text
    matches `query`, ignoring case and Vietnamese diacritics. No plaintext index is written:
    every search opens the cached envelopes again (they stay encrypted on disk)."""
    now = int(time.time()) if now is None else now
    hits: list[tuple[MessageRecord, Notice | None]] = []
    unopened: list[tuple[str, str]] = []
    records = inbox(home, include_acknowledged=include_acknowledged)
    keys = officer.device_keys(home) if records else None  # one keystore unlock per search
    lookups = directory.Lookups(home, api, now)  # each sender and agency checked once per search
    for record in records:
        message_id = record.message_id
        try:
            message = await read(home, api, message_id, mark_read=False, keys=keys, lookups=lookups)
            notice = open_notice(message) if is_notice(message.payload) else None
        except (ClientError, CryptoError) as exc:
            unopened.append((message_id, getattr(exc, "code", "error")))
            if on_error is not None:
                on_error(message_id, str(exc))
            continue
        if notice is not None:
            text = notice_search_text(notice)
        elif message.payload.is_text:
            text = message.payload.as_text()
        else:
            text = message.payload.filename or ""
        if matches(query, text):
            hits.append((record, notice))
    return SearchResult(hits, unopened)


__all__ = [
    "EXPORT_FORMATS",
    "NoticeAddressError",
    "SearchResult",
    "check_addressing",
    "export_bytes",
    "export_format",
    "forward",
    "forwarded_notice",
    "is_notice",
    "message_meta",
    "notice_payload",
    "ensure_sender_unit",
    "open_notice",
    "read_notice",
    "search",
]
