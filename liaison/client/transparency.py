"""Checks on the server's Merkle log: signed checkpoints, consistency, inclusion of entries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crypto.checkpoint import Checkpoint, verify_checkpoint
from crypto.encoding import b64d, b64e, canonical_json
from crypto.errors import CryptoError, MalformedError, ProofError
from crypto.log_entries import LogEntry
from crypto.merkle import leaf_hash, verify_consistency, verify_inclusion
from liaison.client.errors import ClientError, LogInconsistent, VerificationError
from liaison.client.home import Home
from liaison.client.records import CheckpointRecord
from liaison.client.transport import ApiClient
from liaison.i18n import _

CHECKPOINT_FILE = "checkpoint.json"


@dataclass(frozen=True)
class ServerIdentity:
    """The relay's log identity, pinned in the home folder at first contact."""

    origin: str
    key_name: str
    public_key: bytes

    def to_dict(self) -> dict[str, str]:
        return {
            "origin": self.origin,
            "log_key_name": self.key_name,
            "log_public_key": b64e(self.public_key),
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> ServerIdentity:
        try:
            public_key = b64d(value["log_public_key"])
        except MalformedError as exc:
            raise VerificationError(_("The server sent a malformed value.")) from exc
        return cls(
            origin=str(value["origin"]), key_name=str(value["log_key_name"]), public_key=public_key
        )


DeviceLogin = Callable[[Home, ApiClient], Awaitable[object]]
_device_login: list[DeviceLogin] = []


def set_device_login(login: DeviceLogin) -> None:
    """How a home's device logs in (liaison/client/officer.py registers `authenticate`; it
    imports this module, so it cannot be imported from here)."""
    _device_login[:] = [login]


async def pin_server(home: Home, api: ApiClient) -> ServerIdentity:
    """The stored server identity; at first contact, fetch and store it (trust on first use).

    Also tells `api` how this home's device logs in, for the directory and log reads that need
    an enrolled device (issue 14, section 2)."""
    from liaison.client.misbehaviour import refuse_if_recorded

    refuse_if_recorded(home)
    # (A test's stand-in for the API may have no such attribute: it then needs no login.)
    if _device_login and getattr(api, "device_login", False) is None and home.settings().device_id:
        login = _device_login[0]
        api.device_login = lambda: login(home, api)
    stored = home.config().get("server_identity")
    if isinstance(stored, dict):
        return ServerIdentity.from_dict(stored)
    identity = ServerIdentity.from_dict(await api.server_info())
    home.update_config(server_identity=identity.to_dict())
    return identity


def stored_record(home: Home) -> CheckpointRecord | None:
    """checkpoint.json as stored: the signed note and its fields."""
    return home.load_record(CHECKPOINT_FILE, CheckpointRecord.from_json)


def stored_checkpoint(home: Home) -> Checkpoint | None:
    record = stored_record(home)
    if record is None:
        return None
    return Checkpoint(origin=record.origin, size=record.size, root_hash=b64d(record.root_hash))


def _store(home: Home, note: str, cp: Checkpoint) -> None:
    record = CheckpointRecord(note, cp.origin, cp.size, b64e(cp.root_hash))
    home.write_json(CHECKPOINT_FILE, record.to_json())


def parse_note(identity: ServerIdentity, note: Any) -> Checkpoint:
    if not isinstance(note, str):
        raise VerificationError(_("The server sent no signed checkpoint."))
    try:
        cp = verify_checkpoint(note, key_name=identity.key_name, public_key=identity.public_key)
    except CryptoError as exc:
        raise VerificationError(
            _("The server's checkpoint is not signed by the server key this client pinned.")
        ) from exc
    if cp.origin != identity.origin:
        raise VerificationError(_("The server's checkpoint names another log."))
    return cp


async def advance(
    home: Home, api: ApiClient, note: Any = None, *, latest: bool = False
) -> Checkpoint:
    """Verify a checkpoint (the server's latest when `note` is None) against the stored one.

    The new checkpoint must be an append-only extension of the stored one (consistency proof);
    it then becomes the stored one. A smaller or diverging log raises LogInconsistent.
    """
    identity = await pin_server(home, api)
    latest = latest or note is None
    if note is None:
        note = (await api.checkpoint()).get("checkpoint")
    cp = parse_note(identity, note)
    old = stored_checkpoint(home)
    if old is not None:
        if cp.size < old.size and latest:
            raise LogInconsistent(
                _(
                    "The server's log shrank to {new} entries below the checkpoint this client "
                    "stored ({old}): entries were dropped."
                ).format(new=cp.size, old=old.size)
            )
        stored = stored_record(home)
        stored_note = stored.note if stored is not None else None
        if cp.size < old.size:
            # An older (but consistent) view is acceptable for the data it came with; the
            # stored checkpoint stays the newest one seen.
            await _check_consistent(api, cp, old, home=home, notes=(note, stored_note))
            return cp
        await _check_consistent(api, old, cp, home=home, notes=(stored_note, note))
        if cp.size == old.size:
            return cp
    _store(home, note, cp)
    return cp


async def _check_consistent(
    api: ApiClient,
    old: Checkpoint,
    new: Checkpoint,
    *,
    home: Home | None = None,
    notes: tuple[Any, Any] = (None, None),
) -> None:
    """Raise LogInconsistent unless `new` extends `old`; with `home` and both signed notes, a
    conflict the signatures prove (same size and other root, or a failing proof) is recorded
    as a proof of misbehaviour (liaison/client/misbehaviour.py) and refused from then on."""
    from liaison.client import misbehaviour

    provable = home is not None and all(isinstance(n, str) for n in notes)
    if old.size == new.size:
        if old.root_hash != new.root_hash:
            detail = _(
                "The server's log of size {size} has a different root than the checkpoint "
                "this client stored: its history was rewritten."
            ).format(size=new.size)
            if provable:
                assert home is not None
                raise misbehaviour.record(
                    home,
                    reason="same_size_different_root",
                    detail=detail,
                    first_note=notes[0],
                    second_note=notes[1],
                )
            raise LogInconsistent(detail)
        return
    if old.size == 0:
        return
    answer: Any = None
    try:
        answer = await api.consistency(old.size, new.size)
        proof = [b64d(item) for item in answer.get("proof", [])]
        verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
    except (CryptoError, ClientError) as exc:
        detail = _(
            "The server's log (size {new}) is not consistent with the checkpoint this client "
            "stored (size {old}): entries were dropped, changed or reordered."
        ).format(new=new.size, old=old.size)
        # Only a proof that decodes and fails is evidence; a malformed answer is not.
        if provable and isinstance(exc, ProofError):
            assert home is not None
            raise misbehaviour.record(
                home,
                reason="not_consistent",
                detail=detail,
                first_note=notes[0],
                second_note=notes[1],
                proof=list(answer.get("proof", [])) if answer is not None else None,
            ) from exc
        raise LogInconsistent(detail) from exc


async def fetch_entry(api: ApiClient, index: int) -> dict[str, Any]:
    answer = await api.entries(index, index + 1)
    for item in answer.get("entries", []):
        if item.get("index") == index and isinstance(item.get("entry"), dict):
            return dict(item["entry"])
    raise VerificationError(_("The server did not return log entry {index}.").format(index=index))


@dataclass(frozen=True)
class Inclusion:
    """A log entry shown to be leaf `index` of the tree at `size` by `proof`."""

    index: int
    size: int
    leaf_hash: bytes
    proof: tuple[bytes, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "tree_size": self.size,
            "leaf_hash": b64e(self.leaf_hash),
            "inclusion_proof": [b64e(h) for h in self.proof],
        }


async def verify_entry_included(
    api: ApiClient,
    cp: Checkpoint,
    index: int,
    entry: LogEntry | Mapping[str, Any],
    *,
    proof: list[str] | None = None,
    proof_size: int | None = None,
) -> Inclusion:
    """Check that `entry` (typed, or the object the relay answered) is leaf `index` of the log
    at checkpoint `cp`."""
    leaf = leaf_hash(entry.encode() if isinstance(entry, LogEntry) else canonical_json(entry))
    if index < 0 or index >= cp.size:
        raise VerificationError(
            _("Log entry {index} lies outside the server's checkpoint.").format(index=index)
        )
    if proof is None or proof_size != cp.size:
        answer = await api.inclusion(index, cp.size)
        proof = answer.get("proof", [])
    try:
        hashes = [b64d(item) for item in proof or []]
        verify_inclusion(leaf, index, cp.size, hashes, cp.root_hash)
    except CryptoError as exc:
        raise VerificationError(
            _("Log entry {index} is not included in the server's signed log.").format(index=index)
        ) from exc
    return Inclusion(index, cp.size, leaf, tuple(hashes))
