"""Agencies homed on a peer relay (PROTOCOL.md §16.5): their directory as the home relay proved
it, passed on by the officer's own relay, checked here against the pinned root and the peer's
log key named by the root-signed home statement, never against anything the own relay says."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crypto.certs import DeviceCertificate, ReviewKeyStatement, TrustStore
from crypto.checkpoint import Checkpoint
from crypto.encoding import b64d, b64e
from crypto.errors import CryptoError
from crypto.federation import RelayIdentity
from crypto.log_entries import (
    AgencyEntry,
    CertificateEntry,
    LogEntry,
    ReviewKeyEntry,
    RevocationEntry,
    content_hash,
)
from liaison.client.device_checks import certificate_state, root_signed_revocation
from liaison.client.errors import LogInconsistent, VerificationError
from liaison.client.home import Home
from liaison.client.transport import ApiClient
from liaison.federation import agency_proofs
from liaison.federation.agency_proofs import AgencyProofError
from liaison.i18n import _

# The newest checkpoint of each peer's log this client verified, by relay origin.
FOREIGN_CHECKPOINTS_FILE = "foreign_checkpoints.json"


@dataclass(frozen=True)
class ForeignDevice:
    """A certificate of a foreign agency, included in its home relay's log and signed by the
    pinned root; a revocation counts from its position in that log."""

    certificate: DeviceCertificate
    log_index: int
    revoked: bool
    revocation_log_index: int | None
    problem: str | None  # "certificate_expired" / "certificate_not_yet_valid"


@dataclass(frozen=True)
class ForeignDirectory:
    """A foreign agency's directory, every part verified (§16.5 steps 1–5)."""

    agency: str
    root: bytes
    log_index: int  # of the `agency` entry registering the root on its home relay
    relay: RelayIdentity  # from the home statement the pinned root signed
    checkpoint: Checkpoint
    note: str
    review_statements: tuple[ReviewKeyStatement, ...]  # oldest first
    devices: tuple[ForeignDevice, ...]


def _refused(message: str) -> VerificationError:
    return VerificationError(message)


def home_relay(answer: dict[str, Any], agency: str, root: bytes) -> RelayIdentity:
    """The relay the root's home statement names (§16.5 step 2)."""
    try:
        return agency_proofs.home_statement(answer, agency, root)[1]
    except AgencyProofError as exc:
        raise _home_refused(agency) from exc


def _home_refused(agency: str) -> VerificationError:
    return _refused(
        _(
            "The home statement of {agency} is not signed by its pinned root: its directory "
            "is refused."
        ).format(agency=agency)
    )


def _proved_home(
    answer: dict[str, Any], agency: str, root: bytes, stored: Checkpoint | None
) -> agency_proofs.ProvedHome:
    """Steps 2–4, with a sentence for the officer for each way it can fail."""
    try:
        return agency_proofs.proved_home(answer, agency, root=root, held=stored)
    except AgencyProofError as exc:
        relay = answer.get("relay")
        if exc.reason == "bad_home_statement":
            raise _home_refused(agency) from exc
        if exc.reason == "bad_checkpoint":
            raise _refused(
                _(
                    "The checkpoint given for {agency} is not signed by the log key its home "
                    "statement names."
                ).format(agency=agency)
            ) from exc
        if exc.reason == "not_consistent":
            raise LogInconsistent(
                _(
                    "The log of the home relay of {agency} is not consistent with the "
                    "checkpoint this client stored."
                ).format(agency=agency)
            ) from exc
        if exc.reason == "not_included":
            raise _refused(
                _("An entry of the directory is not included in the log of relay {relay}.").format(
                    relay=relay
                )
            ) from exc
        raise _refused(
            _("The log entry registering {agency} does not match its root key.").format(
                agency=agency
            )
        ) from exc


def _logged(entries: Mapping[int, LogEntry], index: Any, kind: type[LogEntry]) -> Any:
    try:
        return agency_proofs.logged(entries, index, kind)
    except AgencyProofError as exc:
        raise _refused(
            _("A directory object of a foreign agency is not in its relay's log.")
        ) from exc


def _review_statements(
    answer: dict[str, Any], entries: Mapping[int, LogEntry], agency: str, trust: TrustStore
) -> tuple[ReviewKeyStatement, ...]:
    statements = []
    for item in answer.get("review_statements") or []:
        try:
            data = b64d(item["statement"])
            statement = ReviewKeyStatement.from_bytes(data)
            trust.verify_review_statement(statement)
        except (CryptoError, KeyError, TypeError, ValueError) as exc:
            raise _refused(
                _("A review key of agency {agency} is not signed by its pinned root.").format(
                    agency=agency
                )
            ) from exc
        entry = entries.get(item.get("log_index"))
        if not isinstance(entry, (AgencyEntry, ReviewKeyEntry)) or entry.statement_hash != (
            content_hash(data)
        ):
            raise _refused(_("A directory object of a foreign agency is not in its relay's log."))
        if statement.agency != agency:
            raise _refused(_("The server sent a review key of another agency."))
        statements.append(statement)
    return tuple(sorted(statements, key=lambda s: s.not_before))


def _device(
    item: Any,
    entries: Mapping[int, LogEntry],
    agency: str,
    root: bytes,
    trust: TrustStore,
    now: int,
) -> ForeignDevice:
    try:
        cert = DeviceCertificate.from_bytes(b64d(item["certificate"]))
        raw_revocation = item.get("revocation")
        revocation = None if raw_revocation is None else b64d(raw_revocation)
    except (CryptoError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _refused(_("The server sent a malformed certificate.")) from exc
    if cert.agency != agency:
        raise _refused(
            _("The server sent a certificate of {other} for agency {agency}.").format(
                other=cert.agency, agency=agency
            )
        )
    entry = _logged(entries, item.get("log_index"), CertificateEntry)
    if entry.device_id != cert.device_id or entry.cert_hash != cert.cert_hash():
        raise _refused(
            _("The log entry of device {device} does not match its certificate.").format(
                device=cert.device_id
            )
        )
    revocation_index: int | None = None
    if revocation is not None:
        trust.add_revocation(root_signed_revocation(cert, revocation, root))
        logged = _logged(entries, item.get("revocation_log_index"), RevocationEntry)
        if logged.device_id != cert.device_id or logged.revocation_hash != content_hash(revocation):
            raise _refused(
                _("The log entry of the revocation of {device} does not match it.").format(
                    device=cert.device_id
                )
            )
        revocation_index = int(item["revocation_log_index"])
    problem, _revoked = certificate_state(trust, cert, now=now)
    return ForeignDevice(
        cert, int(item["log_index"]), revocation is not None, revocation_index, problem
    )


def verify_directory(
    answer: dict[str, Any], *, agency: str, root: bytes, stored: Checkpoint | None, now: int
) -> ForeignDirectory:
    """Check a foreign agency's directory as the own relay passed it on (§16.5): the root is
    the pinned one, the home statement is the root's, the checkpoint is signed by the relay key
    the statement names and extends `stored`, every object is included in it and is the
    root's. Anything else raises VerificationError (or LogInconsistent)."""
    if not isinstance(answer, dict) or answer.get("agency") != agency:
        raise _refused(_("The server sent the directory of another agency."))
    if answer.get("root_key") != b64e(root):
        raise _refused(
            _("The server gives another root key for {agency} than the one pinned.").format(
                agency=agency
            )
        )
    proved = _proved_home(answer, agency, root, stored)
    entries = proved.entries
    trust = TrustStore.with_pins([(agency, root)])
    statements = _review_statements(answer, entries, agency, trust)
    devices = tuple(
        _device(d, entries, agency, root, trust, now) for d in answer.get("devices") or []
    )
    return ForeignDirectory(
        agency,
        root,
        int(answer["agency_log_index"]),
        proved.relay,
        proved.checkpoint,
        str(answer["checkpoint"]),
        statements,
        devices,
    )


# --- The home folder's view of peers' logs ----------------------------------------------------
def stored_checkpoint(home: Home, origin: str) -> Checkpoint | None:
    record = (home.read_json(FOREIGN_CHECKPOINTS_FILE, {}) or {}).get(origin)
    if not isinstance(record, dict):
        return None
    try:
        return Checkpoint(
            origin=origin, size=int(record["size"]), root_hash=b64d(record["root_hash"])
        )
    except (CryptoError, KeyError, TypeError, ValueError):
        return None


def known_relay_key(home: Home, origin: str) -> bytes | None:
    """The log key of peer relay `origin` as a home statement signed by a pinned root named
    it (None: no pinned agency is homed there)."""
    record = (home.read_json(FOREIGN_CHECKPOINTS_FILE, {}) or {}).get(origin)
    try:
        return b64d(record["relay_key"]) if isinstance(record, dict) else None
    except (CryptoError, KeyError, TypeError):
        return None


def _store_checkpoint(home: Home, directory: ForeignDirectory) -> None:
    records = dict(home.read_json(FOREIGN_CHECKPOINTS_FILE, {}) or {})
    held = stored_checkpoint(home, directory.relay.origin)
    known = known_relay_key(home, directory.relay.origin)
    size = directory.checkpoint.size
    if held is not None and (
        held.size > size or (held.size == size and known == directory.relay.public_key)
    ):
        return  # the newest checkpoint seen stays the stored one
    records[directory.relay.origin] = {
        "relay_key": b64e(directory.relay.public_key),
        "note": directory.note,
        "size": directory.checkpoint.size,
        "root_hash": b64e(directory.checkpoint.root_hash),
    }
    home.write_json(FOREIGN_CHECKPOINTS_FILE, records)


async def fetch(
    home: Home,
    api: ApiClient,
    agency: str,
    root_of: Callable[[Any], bytes],
    *,
    relay: str | None,
    now: int,
) -> ForeignDirectory:
    """The directory of `agency` through the own relay, verified against the root `root_of`
    gives for the answer (the pinned root; at `trust add`, the answer's once its fingerprint is
    checked) and the checkpoint stored for the relay its home statement names; that checkpoint
    is then stored. `relay` is where the agency was last seen (None at first contact): when the
    statement names a relay whose stored checkpoint the question did not start from, it is
    asked once more with that size, for the consistency proof."""
    stored = stored_checkpoint(home, relay) if relay is not None else None
    since = stored.size if stored else 0
    for _attempt in range(2):
        answer = await api.foreign_agency(agency, since=since)
        root = root_of(answer)
        named = home_relay(answer, agency, root)
        stored = stored_checkpoint(home, named.origin)
        if stored is None or stored.size in (since, answer.get("tree_size")):
            break
        since = stored.size
    directory = verify_directory(answer, agency=agency, root=root, stored=stored, now=now)
    _store_checkpoint(home, directory)
    return directory
