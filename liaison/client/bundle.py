"""Audit bundles: export a period of the log with its proofs, and verify one offline."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from crypto.checkpoint import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    Checkpoint,
    note_key_id,
    parse_note,
    verify_checkpoint,
    verify_cosignature,
)
from crypto.encoding import b64d, b64e, canonical_json, parse_canonical_json
from crypto.errors import CryptoError, MalformedError
from crypto.log_entries import (
    AckEntry,
    EnvelopeEntry,
    ForwardedInEntry,
    ForwardedOutEntry,
    LogEntry,
    PeerAckEntry,
    log_entry_from_json,
)
from crypto.merkle import MerkleTree, leaf_hash, verify_consistency, verify_inclusion
from liaison.client import transparency
from liaison.client.errors import ClientError, VerificationError
from liaison.client.home import Home
from liaison.client.transport import ApiClient
from liaison.i18n import _

BUNDLE_FORMAT = "liaison-audit-bundle/1"
PAGE = 1000
DAY = 86400

Progress = Callable[[int, int], None]
"""progress(done, total): called while an export fetches the log."""


class BundleError(VerificationError):
    """An audit bundle failed verification; the message names the part that broke."""

    code = "bundle_invalid"


def key_fingerprint(public_key: bytes) -> str:
    """SHA-256 of a log or witness public key in hex groups, to compare out of band."""
    digest = hashlib.sha256(public_key).hexdigest()
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


# Entries about a message that are shown with it (an acknowledgement, federation's hops).
FOLLOWS_MESSAGE = (AckEntry, ForwardedOutEntry, ForwardedInEntry, PeerAckEntry)


def concerns(entry: LogEntry, agency: str) -> bool:
    """Whether a log entry names the agency or one of its devices (any field, any kind)."""
    return any(
        name == agency or name.startswith(agency + ":") for name in entry.named_identifiers()
    )


def select_entries(
    entries: Iterable[tuple[int, LogEntry]], *, start: int, end: int, agency: str | None
) -> list[tuple[int, LogEntry]]:
    """Entries with start <= at <= end that the agency may see (all of them if agency is None).

    An acknowledgement of a message the agency sent or received is shown with that message.
    """
    chosen: list[tuple[int, LogEntry]] = []
    messages: set[str] = set()
    for index, entry in entries:
        visible = agency is None or concerns(entry, agency)
        if agency is not None and isinstance(entry, EnvelopeEntry) and visible:
            messages.add(entry.message_id)
        if not visible and isinstance(entry, FOLLOWS_MESSAGE) and entry.message_id in messages:
            visible = True
        if visible and start <= entry.at <= end:
            chosen.append((index, entry))
    return chosen


async def export_bundle(
    home: Home,
    api: ApiClient,
    *,
    start: int,
    end: int,
    agency: str | None,
    progress: Progress | None = None,
) -> bytes:
    """The canonical bytes of an audit bundle of the entries at times [start, end].

    The whole log is read and its tree rebuilt here, so the exporter checks the server's
    checkpoint root itself and computes every proof locally (no request per entry).
    """
    identity = await transparency.pin_server(home, api)
    stored = transparency.stored_record(home)
    note = (await api.checkpoint()).get("checkpoint")
    latest = await transparency.advance(home, api, note, latest=True)
    tree = MerkleTree()
    entries: list[tuple[int, LogEntry]] = []
    for page_start in range(0, latest.size, PAGE):
        page_end = min(page_start + PAGE, latest.size)
        answer = await api.entries(page_start, page_end)
        items = answer.get("entries", [])
        for offset, item in enumerate(items):
            if item.get("index") != page_start + offset or not isinstance(item.get("entry"), dict):
                raise VerificationError(_("The server returned log entries out of order."))
            try:
                entry = log_entry_from_json(item["entry"])
            except MalformedError as exc:
                raise VerificationError(_("The server sent a malformed value.")) from exc
            tree.append(entry.encode())
            entries.append((item["index"], entry))
        if len(items) != page_end - page_start:
            raise VerificationError(_("The server did not return every log entry asked for."))
        if progress is not None:
            progress(page_end, latest.size)
    if tree.root() != latest.root_hash:
        raise VerificationError(_("The server's log entries do not hash to its signed checkpoint."))
    notes = [note]
    consistency: list[dict[str, Any]] = []
    if stored is not None and 0 < stored.size < latest.size:
        old = transparency.parse_note(identity, stored.note)
        notes.insert(0, stored.note)
        proof = tree.consistency_proof(old.size, latest.size)
        consistency.append({"from": old.size, "to": latest.size, "proof": [b64e(h) for h in proof]})
    chosen = select_entries(entries, start=start, end=end, agency=agency)
    witnesses = home.config().get("witnesses") or []
    # Cosignatures of witnesses this client does not know cannot be vouched for: left out.
    notes = [_keep_lines(n, {identity.key_name, *(w["name"] for w in witnesses)}) for n in notes]
    document = {
        "format": BUNDLE_FORMAT,
        "origin": identity.origin,
        "log_key_name": identity.key_name,
        "log_public_key": b64e(identity.public_key),
        "witnesses": [
            {"name": w["name"], "public_key": w["public_key"]}
            for w in witnesses
            if any(line_names_witness(n, w["name"]) for n in notes)
        ],
        "scope": {"agency": agency, "from": start, "to": end},
        "checkpoints": notes,
        "consistency": consistency,
        "entries": [
            {
                "index": index,
                "entry": entry.to_json(),
                "inclusion_proof": [b64e(h) for h in tree.inclusion_proof(index, latest.size)],
            }
            for index, entry in chosen
        ],
    }
    return canonical_json(document)


def _keep_lines(note: str, names: set[str]) -> str:
    parsed = parse_note(note)
    return parsed.text + "\n" + "".join(s.line() for s in parsed.signatures if s.key_name in names)


def line_names_witness(note: str, name: str) -> bool:
    try:
        return any(s.key_name == name for s in parse_note(note).signatures)
    except CryptoError:
        return False


@dataclass
class BundleReport:
    origin: str = ""
    log_key_fingerprint: str = ""
    agency: str | None = None
    period: tuple[int, int] = (0, 0)
    checkpoint_sizes: list[int] = field(default_factory=list)
    cosigned_by: list[str] = field(default_factory=list)
    entries: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "origin": self.origin,
            "log_key_fingerprint": self.log_key_fingerprint,
            "agency": self.agency,
            "from": self.period[0],
            "to": self.period[1],
            "checkpoint_sizes": self.checkpoint_sizes,
            "cosigned_by": self.cosigned_by,
            "entries": self.entries,
        }


def _fail(message: str) -> BundleError:
    return BundleError(message)


def _field(obj: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict) or name not in obj or not isinstance(obj[name], kind):
        raise _fail(
            _("{where}: field {name} is missing or malformed.").format(where=where, name=name)
        )
    value = obj[name]
    if kind is int and isinstance(value, bool):
        raise _fail(
            _("{where}: field {name} is missing or malformed.").format(where=where, name=name)
        )
    return value


def _hashes(values: Any, where: str) -> list[bytes]:
    if not isinstance(values, list):
        raise _fail(_("{where}: the proof is not a list of hashes.").format(where=where))
    try:
        return [b64d(v) for v in values]
    except CryptoError as exc:
        raise _fail(_("{where}: the proof is not a list of hashes.").format(where=where)) from exc


_TOP_FIELDS = {
    "format", "origin", "log_key_name", "log_public_key", "witnesses", "scope", "checkpoints",
    "consistency", "entries",
}  # fmt: skip


def verify_bundle(
    data: bytes, *, log_public_key: bytes | None = None, now: int | None = None
) -> BundleReport:
    """Verify an audit bundle with no server: every signature, proof, entry and field.

    With `log_public_key` the bundle's key must be that one (the inspector's pin); without,
    the key in the bundle is used and its fingerprint must be compared out of band.
    Raises BundleError naming what broke.
    """
    now = int(time.time()) if now is None else now
    try:
        doc = parse_canonical_json(data)
    except CryptoError as exc:
        raise _fail(
            _("The bundle is not canonical JSON (it was edited or damaged): {reason}").format(
                reason=exc
            )
        ) from exc
    if set(doc) != _TOP_FIELDS:
        raise _fail(_("The bundle has missing or unexpected fields."))
    if doc["format"] != BUNDLE_FORMAT:
        raise _fail(_("The bundle format is not {format}.").format(format=BUNDLE_FORMAT))
    origin = _field(doc, "origin", str, "bundle")
    key_name = _field(doc, "log_key_name", str, "bundle")
    try:
        public_key = b64d(_field(doc, "log_public_key", str, "bundle"))
        note_key_id(key_name, public_key)
    except CryptoError as exc:
        raise _fail(_("The bundle's log public key is malformed.")) from exc
    if log_public_key is not None and public_key != log_public_key:
        raise _fail(_("The bundle is signed by another log key than the one given."))
    report = BundleReport(origin=origin, log_key_fingerprint=key_fingerprint(public_key))

    witnesses: dict[tuple[str, bytes], bytes] = {}
    for number, witness in enumerate(_field(doc, "witnesses", list, "bundle")):
        where = _("witness {n}").format(n=number)
        name = _field(witness, "name", str, where)
        if set(witness) != {"name", "public_key"}:
            raise _fail(_("{where}: unexpected fields.").format(where=where))
        try:
            key = b64d(_field(witness, "public_key", str, where))
            witnesses[(name, note_key_id(name, key, ALG_COSIGNATURE_V1))] = key
        except CryptoError as exc:
            raise _fail(_("{where}: malformed key.").format(where=where)) from exc

    scope = _field(doc, "scope", dict, "bundle")
    if set(scope) != {"agency", "from", "to"}:
        raise _fail(_("The bundle's scope has missing or unexpected fields."))
    agency = scope["agency"]
    if agency is not None and not isinstance(agency, str):
        raise _fail(_("The bundle's scope names no valid agency."))
    start = _field(scope, "from", int, "scope")
    end = _field(scope, "to", int, "scope")
    if start % DAY or (end + 1) % DAY or end < start:
        # The scope is the exporter's claim, not signed by the log: whole UTC days make any
        # one-digit edit of it detectable (a digit's change is never a multiple of a day).
        raise _fail(_("The bundle's period is not a run of whole UTC days."))
    report.agency, report.period = agency, (start, end)

    checkpoints: list[Checkpoint] = []
    log_id = note_key_id(key_name, public_key, ALG_ED25519)
    for number, note in enumerate(_field(doc, "checkpoints", list, "bundle")):
        where = _("checkpoint {n}").format(n=number)
        if not isinstance(note, str):
            raise _fail(_("{where} is not a signed note.").format(where=where))
        try:
            cp = verify_checkpoint(note, key_name=key_name, public_key=public_key, origin=origin)
            for line in parse_note(note).signatures:
                if (line.key_name, line.key_id) == (key_name, log_id):
                    continue
                cosigner = witnesses.get((line.key_name, line.key_id))
                if cosigner is None:
                    raise _fail(
                        _("{where} carries a signature by a key the bundle does not list.").format(
                            where=where
                        )
                    )
                verify_cosignature(
                    note, witness_name=line.key_name, witness_public=cosigner, now=now
                )
                if line.key_name not in report.cosigned_by:
                    report.cosigned_by.append(line.key_name)
        except CryptoError as exc:
            raise _fail(
                _("{where}: signature or body does not verify ({reason}).").format(
                    where=where, reason=exc
                )
            ) from exc
        if checkpoints and cp.size <= checkpoints[-1].size:
            raise _fail(_("{where} is not larger than the one before it.").format(where=where))
        checkpoints.append(cp)
    if not checkpoints:
        raise _fail(_("The bundle holds no signed checkpoint."))
    if len(report.cosigned_by) != len(witnesses):
        raise _fail(_("The bundle lists a witness that cosigned none of its checkpoints."))
    report.checkpoint_sizes = [cp.size for cp in checkpoints]

    links = _field(doc, "consistency", list, "bundle")
    if len(links) != len(checkpoints) - 1:
        raise _fail(_("The bundle does not link every checkpoint by a consistency proof."))
    for number, (link, old, new) in enumerate(
        zip(links, checkpoints, checkpoints[1:], strict=False)
    ):
        where = _("consistency proof {n}").format(n=number)
        if set(link) != {"from", "to", "proof"} or (link["from"], link["to"]) != (
            old.size,
            new.size,
        ):
            raise _fail(_("{where} names other sizes than its checkpoints.").format(where=where))
        try:
            verify_consistency(
                old.size, new.size, old.root_hash, new.root_hash, _hashes(link["proof"], where)
            )
        except CryptoError as exc:
            raise _fail(
                _("{where}: the log at size {new} does not extend size {old}.").format(
                    where=where, new=new.size, old=old.size
                )
            ) from exc

    latest = checkpoints[-1]
    previous = -1
    for item in _field(doc, "entries", list, "bundle"):
        index = _field(item, "index", int, _("an entry"))
        where = _("log entry {index}").format(index=index)
        if set(item) != {"index", "entry", "inclusion_proof"}:
            raise _fail(_("{where}: unexpected fields.").format(where=where))
        if index <= previous:
            raise _fail(_("{where} is out of order or repeated.").format(where=where))
        previous = index
        try:
            entry = log_entry_from_json(_field(item, "entry", dict, where))
        except MalformedError as exc:
            # A verifier refuses a kind it does not know rather than skip it (section 10).
            raise _fail(
                _("{where}: field {name} is missing or malformed.").format(
                    where=where, name="entry"
                )
            ) from exc
        try:
            leaf = leaf_hash(entry.encode())
            verify_inclusion(
                leaf, index, latest.size, _hashes(item["inclusion_proof"], where), latest.root_hash
            )
        except CryptoError as exc:
            raise _fail(
                _("{where} is not in the signed log (its data or proof was changed).").format(
                    where=where
                )
            ) from exc
        if not start <= entry.at <= end:
            raise _fail(_("{where} lies outside the bundle's period.").format(where=where))
        if agency is not None and not (
            concerns(entry, agency) or isinstance(entry, FOLLOWS_MESSAGE)
        ):
            raise _fail(
                _("{where} does not concern agency {agency}.").format(where=where, agency=agency)
            )
        report.entries += 1
    return report


def parse_date_bound(text: str, *, end_of_day: bool) -> int:
    """A YYYY-MM-DD date (UTC) as Unix seconds; an end bound takes the last second of the day."""
    import datetime as dt

    try:
        day = dt.date.fromisoformat(text)
    except ValueError as exc:
        raise ClientError(
            _("Give a date as YYYY-MM-DD, not {text}.").format(text=text),
            code="bad_date",
        ) from exc
    moment = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    seconds = int(moment.timestamp())
    return seconds + 86399 if end_of_day else seconds
