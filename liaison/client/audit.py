"""`audit verify`: the server's log extends the stored checkpoint and still holds every message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crypto.encoding import b64e
from crypto.errors import MalformedError
from crypto.log_entries import EnvelopeEntry, log_entry_from_json
from liaison.client import transparency
from liaison.client.errors import ClientError, LogInconsistent
from liaison.client.home import Home
from liaison.client.transport import ApiClient
from liaison.i18n import _


@dataclass
class AuditReport:
    checkpoint_size: int = 0
    previous_size: int = 0
    messages_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checkpoint_size": self.checkpoint_size,
            "previous_size": self.previous_size,
            "messages_checked": self.messages_checked,
            "problems": list(self.problems),
        }


async def verify(home: Home, api: ApiClient) -> AuditReport:
    """Check the server's latest checkpoint against the stored one (consistency proof), then
    every held message's log entry (same envelope hash, same leaf as when first seen) and its
    inclusion proof. Every problem found is reported; nothing stops at the first."""
    report = AuditReport()
    identity = await transparency.pin_server(home, api)
    previous = transparency.stored_checkpoint(home)
    report.previous_size = previous.size if previous else 0
    note = (await api.checkpoint()).get("checkpoint")
    latest = transparency.parse_note(identity, note)
    report.checkpoint_size = latest.size
    try:
        await transparency.advance(home, api, note, latest=True)
    except LogInconsistent as exc:
        report.problems.append(str(exc))
    except ClientError as exc:
        report.problems.append(str(exc))
    from liaison.client.witness import check_cosigned

    report.problems += await check_cosigned(home, api)
    for record in home.messages():
        report.messages_checked += 1
        problem = await _check_message(api, latest, record)
        if problem is not None:
            report.problems.append(
                _("Message {id} (log entry {index}): {problem}").format(
                    id=record["message_id"], index=record.get("log_index"), problem=problem
                )
            )
    return report


async def _check_message(api: ApiClient, cp: Any, record: dict[str, Any]) -> str | None:
    index = record.get("log_index")
    if not isinstance(index, int):
        return _("no log position is recorded for it.")
    if index >= cp.size:
        return _("the server's log no longer reaches this entry (it was dropped).")
    try:
        answered = await transparency.fetch_entry(api, index)
    except ClientError:
        return _("the server no longer returns this log entry.")
    try:
        entry = log_entry_from_json(answered)
    except MalformedError:
        entry = None
    if not isinstance(entry, EnvelopeEntry) or entry.message_id != record["message_id"]:
        return _("the log entry now records something else (entries were dropped or reordered).")
    if b64e(entry.envelope_hash) != record.get("envelope_hash"):
        return _("the log entry's envelope hash differs from the envelope held (it was changed).")
    try:
        leaf = (await transparency.verify_entry_included(api, cp, index, entry)).leaf_hash
    except ClientError:
        return _("its inclusion proof does not verify against the server's checkpoint.")
    if record.get("leaf_hash") and b64e(leaf) != record["leaf_hash"]:
        return _(
            "the log entry differs from the one seen when the message arrived (it was changed)."
        )
    return None
