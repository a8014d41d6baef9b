"""Checks of a foreign agency's directory as its home relay proves it (PROTOCOL.md §16.5): pure
functions over crypto, used by the officer's client (trusting the agency) and by a receiving
relay (checking that a forwarded sender's agency is homed on the relay that forwards it).

Each refuses with `AgencyProofError`, whose `reason` says which check failed:
`bad_home_statement` (not the root's, or for another agency), `bad_checkpoint` (not signed by
the relay the statement names, or for another log size), `not_consistent` (does not extend the
checkpoint held), `not_included` (an entry whose proof does not lead to the checkpoint),
`wrong_entry` (an object whose log entry is missing or names something else).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crypto.checkpoint import Checkpoint, verify_checkpoint
from crypto.encoding import b64d
from crypto.errors import CryptoError
from crypto.federation import HomeStatement, RelayIdentity
from crypto.log_entries import AgencyEntry, HomeEntry, LogEntry, content_hash, parse_log_entry
from crypto.merkle import leaf_hash, verify_consistency, verify_inclusion

__all__ = [
    "AgencyProofError",
    "ProvedHome",
    "checkpoint_of",
    "home_statement",
    "logged",
    "proved_entries",
    "proved_home",
]

_ANSWER_ERRORS = (CryptoError, KeyError, TypeError, ValueError, AttributeError)


class AgencyProofError(CryptoError, ValueError):
    """A directory answer that does not prove what it claims; `reason` is stable."""

    code = "agency_proof_refused"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def home_statement(
    answer: Mapping[str, Any], agency: str, root: bytes
) -> tuple[HomeStatement, RelayIdentity, bytes]:
    """The answer's home statement, its relay and its bytes, once `root` signed it for
    `agency` (§16.4)."""
    try:
        data = b64d(answer["home"]["statement"])
        statement = HomeStatement.from_bytes(data)
        return statement, statement.verify(agency=agency, root_public=root), data
    except _ANSWER_ERRORS as exc:
        raise AgencyProofError("bad_home_statement", "home statement not the root's") from exc


def checkpoint_of(
    answer: Mapping[str, Any], relay: RelayIdentity, held: Checkpoint | None
) -> Checkpoint:
    """The answer's checkpoint, signed by `relay` (the key a home statement names, never one
    the messenger gives), and an append-only extension of `held` (with the answer's
    consistency proof from `held.size`)."""
    try:
        cp = verify_checkpoint(
            answer["checkpoint"],
            key_name=relay.key_name,
            public_key=relay.public_key,
            origin=relay.origin,
        )
    except _ANSWER_ERRORS as exc:
        raise AgencyProofError("bad_checkpoint", "checkpoint not signed by the relay") from exc
    if answer.get("tree_size") != cp.size:
        raise AgencyProofError("bad_checkpoint", "answer for another log size")
    if held is None or held.size == 0:
        return cp
    if cp.size < held.size or (cp.size == held.size and cp.root_hash != held.root_hash):
        raise AgencyProofError("not_consistent", "the log does not extend the one held")
    if cp.size == held.size:
        return cp
    try:
        if answer.get("consistency_from") != held.size:
            raise AgencyProofError("not_consistent", "no proof from the size held")
        proof = [b64d(h) for h in answer.get("consistency_proof") or []]
        verify_consistency(held.size, cp.size, held.root_hash, cp.root_hash, proof)
    except _ANSWER_ERRORS as exc:
        raise AgencyProofError("not_consistent", "the log does not extend the one held") from exc
    return cp


def proved_entries(answer: Mapping[str, Any], cp: Checkpoint) -> dict[int, LogEntry]:
    """Every leaf of the answer by index, once its inclusion proof leads to `cp`'s root."""
    found: dict[int, LogEntry] = {}
    try:
        for item in answer["entries"]:
            index, data = item["index"], b64d(item["entry"])
            if not isinstance(index, int) or isinstance(index, bool):
                raise AgencyProofError("not_included", "index is not an integer")
            proof = [b64d(h) for h in item["inclusion_proof"]]
            verify_inclusion(leaf_hash(data), index, cp.size, proof, cp.root_hash)
            found[index] = parse_log_entry(data)
    except AgencyProofError:
        raise
    except _ANSWER_ERRORS as exc:
        raise AgencyProofError("not_included", "an entry is not in the checkpoint") from exc
    return found


def logged(entries: Mapping[int, LogEntry], index: Any, kind: type[LogEntry]) -> Any:
    """The entry of `kind` at `index`, else `wrong_entry`."""
    entry = entries.get(index) if isinstance(index, int) else None
    if not isinstance(entry, kind):
        raise AgencyProofError("wrong_entry", "no such entry at that index")
    return entry


@dataclass(frozen=True)
class ProvedHome:
    """An agency's root and home relay, as one relay's log proves them."""

    agency: str
    root: bytes
    relay: RelayIdentity
    issued_at: int
    checkpoint: Checkpoint
    entries: Mapping[int, LogEntry]


def proved_home(
    answer: Mapping[str, Any], agency: str, *, root: bytes, held: Checkpoint | None
) -> ProvedHome:
    """§16.5 steps 2–4 and the root's and statement's own entries: the statement is `root`'s,
    the checkpoint is signed by the relay it names and extends `held`, and the `agency` entry
    registering `root` and the `home` entry of the statement are both included in it."""
    if answer.get("agency") != agency:
        raise AgencyProofError("wrong_entry", "the directory of another agency")
    statement, relay, data = home_statement(answer, agency, root)
    cp = checkpoint_of(answer, relay, held)
    entries = proved_entries(answer, cp)
    registered = logged(entries, answer.get("agency_log_index"), AgencyEntry)
    if registered.code != agency or registered.root_key != root:
        raise AgencyProofError("wrong_entry", "the agency entry names another root")
    homed = logged(entries, answer["home"].get("log_index"), HomeEntry)
    if homed.agency != agency or homed.statement_hash != content_hash(data):
        raise AgencyProofError("wrong_entry", "the home entry names another statement")
    return ProvedHome(agency, root, relay, statement.issued_at, cp, entries)
