"""Pins and the verified directory: agency roots, device certificates, revocations, review keys."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from crypto.certs import (
    DeviceCertificate,
    ReviewKeyStatement,
    Revocation,
    TrustStore,
)
from crypto.checkpoint import Checkpoint
from crypto.encoding import b64e
from crypto.envelope import ReviewRecipient
from crypto.errors import CryptoError
from crypto.keys import device_agency
from crypto.log_entries import content_hash
from crypto.review_keys import current_review_statement
from liaison.client import foreign, transparency
from liaison.client.device_checks import certificate_state, root_signed_revocation
from liaison.client.errors import ClientError, MissingPin, VerificationError
from liaison.client.home import Home
from liaison.client.records import PinsFile, RevocationNote
from liaison.client.transport import ApiClient
from liaison.client.wire import decode_b64
from liaison.i18n import _

PINS_FILE = "pins.json"
REVOCATIONS_FILE = "revocations.json"


# --- Pins -------------------------------------------------------------------------------------
def load_pins(home: Home) -> PinsFile:
    return home.load_record(PINS_FILE, PinsFile.from_json)


def trust_store(home: Home, *, revocations_before: int | None = None) -> TrustStore:
    """The pinned roots, with the revocations effective before log index `revocations_before`
    (all known revocations when None)."""
    pins = load_pins(home)
    trust = TrustStore.from_dict(dict(pins.trust)) if pins.trust is not None else TrustStore()
    for device_id, record in sorted(known_revocations(home).items()):
        if revocations_before is not None and record.log_index >= revocations_before:
            continue
        if trust.pinned(device_agency(device_id)) is None:
            continue
        trust.add_revocation(Revocation.from_bytes(decode_b64(record.revocation)))
    return trust


def pin_root(
    home: Home,
    agency: str,
    root_public: bytes,
    *,
    how: str,
    at: int,
    home_relay: str | None = None,
) -> None:
    """Pin `agency`'s root; re-pinning the same key is a no-op, a different key is refused.
    `home_relay`: the peer relay the agency's home statement names, for an agency homed on a
    peer (its directory is then read through the own relay's foreign route, §16.5)."""
    pins = load_pins(home)
    trust = TrustStore.from_dict(dict(pins.trust)) if pins.trust is not None else TrustStore()
    existing = trust.pinned(agency)
    if existing is not None and existing != root_public:
        raise VerificationError(
            _(
                "Agency {agency} is already pinned with another root key; this client never "
                "replaces a pin."
            ).format(agency=agency)
        )
    trust.pin(agency, root_public)
    meta = dict(pins.meta)
    meta.setdefault(agency, {"how": how, "pinned_at": at})
    if home_relay is not None:
        meta[agency] = {**meta[agency], "home_relay": home_relay}
    home.write_json(
        PINS_FILE, PinsFile(trust=trust.to_dict(), meta=meta, extra=pins.extra).to_json()
    )


def pinned_root(home: Home, agency: str) -> bytes | None:
    return trust_store(home).pinned(agency)


def require_pin(home: Home, agency: str) -> bytes:
    root = pinned_root(home, agency)
    if root is None:
        raise MissingPin(
            agency,
            _(
                "The root of agency {agency} is not pinned. Compare its fingerprint in person with "
                "its administrator, then run: liaison trust add {agency} FINGERPRINT"
            ).format(agency=agency),
        )
    return root


def foreign_home(home: Home, agency: str) -> str | None:
    """The peer relay `agency` is homed on, as its home statement last named it; None for an
    agency of the own relay."""
    relay = load_pins(home).meta.get(agency, {}).get("home_relay")
    return relay if isinstance(relay, str) else None


async def foreign_directory(
    home: Home, api: ApiClient, agency: str, *, now: int
) -> foreign.ForeignDirectory:
    """The verified directory of a pinned agency homed on a peer (§16.5)."""
    root = require_pin(home, agency)
    await transparency.pin_server(home, api)  # the device logs in for the directory read
    directory = await foreign.fetch(
        home, api, agency, lambda _answer: root, relay=foreign_home(home, agency), now=now
    )
    if directory.relay.origin != foreign_home(home, agency):
        # A newer home statement moved the agency: remember where it lives now.
        pin_root(home, agency, root, how="in-person", at=now, home_relay=directory.relay.origin)
    return directory


def _verified_foreign(device: foreign.ForeignDevice) -> VerifiedDevice:
    return VerifiedDevice(
        device.certificate,
        device.log_index,
        device.revoked,
        device.revocation_log_index,
        device.problem,
    )


def pin_records(home: Home) -> list[dict[str, Any]]:
    pins = load_pins(home)
    trust = trust_store(home)
    meta = pins.meta
    return [
        {"agency": code, "root_key": b64e(trust.pinned(code) or b""), **meta.get(code, {})}
        for code in sorted(trust.agencies())
    ]


# --- Revocations ------------------------------------------------------------------------------
def known_revocations(home: Home) -> dict[str, RevocationNote]:
    return home.load_record(REVOCATIONS_FILE, RevocationNote.table_from_json)


def _remember_revocation(home: Home, device_id: str, revocation: bytes, log_index: int) -> None:
    records = known_revocations(home)
    records[device_id] = RevocationNote(b64e(revocation), log_index)
    home.write_json(REVOCATIONS_FILE, RevocationNote.table_to_json(records))


def revocation_hash(revocation: bytes) -> bytes:
    """How the log entry names a revocation: SHA-256 of its bytes (PROTOCOL.md section 10)."""
    return content_hash(revocation)


# --- Verified devices -------------------------------------------------------------------------
@dataclass(frozen=True)
class VerifiedDevice:
    """A device certificate checked against a pinned root and found in the signed log."""

    certificate: DeviceCertificate
    log_index: int
    revoked: bool
    revocation_log_index: int | None
    problem: str | None = None  # "certificate_expired" / "certificate_not_yet_valid"

    @property
    def active(self) -> bool:
        return not self.revoked and self.problem is None

    @property
    def device_id(self) -> str:
        return str(self.certificate.device_id)


async def _verify_device_item(
    home: Home,
    api: ApiClient,
    cp: Checkpoint,
    item: dict[str, Any],
    *,
    expected_agency: str,
    trust: TrustStore,
    now: int,
) -> VerifiedDevice:
    try:
        cert = DeviceCertificate.from_bytes(decode_b64(item.get("certificate")))
    except CryptoError as exc:
        raise VerificationError(_("The server sent a malformed certificate.")) from exc
    if cert.agency != expected_agency:
        raise VerificationError(
            _("The server sent a certificate of {other} for agency {agency}.").format(
                other=cert.agency, agency=expected_agency
            )
        )
    index = int(item.get("log_index", -1))
    entry = await transparency.fetch_entry(api, index)
    if (
        entry.get("kind") != "certificate"
        or entry.get("device_id") != cert.device_id
        or entry.get("cert_hash") != b64e(cert.cert_hash())
    ):
        raise VerificationError(
            _("The log entry of device {device} does not match its certificate.").format(
                device=cert.device_id
            )
        )
    await transparency.verify_entry_included(
        api, cp, index, entry, proof=item.get("inclusion_proof"), proof_size=item.get("tree_size")
    )
    revoked = False
    revocation_index: int | None = None
    if item.get("revoked") and item.get("revocation"):
        raw = decode_b64(item["revocation"])
        root_signed_revocation(cert, raw, trust.pinned(cert.agency) or b"")
        revocation_index = await _revocation_position(api, cp, item, cert, raw)
        _remember_revocation(home, cert.device_id, raw, revocation_index)
        revoked = True
    problem, revoked_here = certificate_state(trust, cert, now=now)
    if revoked_here:
        # Known revoked here even if the server no longer says so: a pin-side fact.
        revoked = True
        if revocation_index is None:
            revocation_index = known_revocations(home)[cert.device_id].log_index
    return VerifiedDevice(cert, index, revoked, revocation_index, problem)


async def _revocation_position(
    api: ApiClient, cp: Checkpoint, item: dict[str, Any], cert: DeviceCertificate, raw: bytes
) -> int:
    """The log index of the revocation entry, checked by inclusion proof; revocation takes
    effect from there (envelopes logged before it still open)."""
    expected_hash = b64e(revocation_hash(raw))
    index = item.get("revocation_log_index")
    if isinstance(index, int):
        entry = await transparency.fetch_entry(api, index)
    else:
        entry, index = await _scan_for_revocation(api, cp, int(item["log_index"]), cert.device_id)
    if (
        entry.get("kind") != "revocation"
        or entry.get("device_id") != cert.device_id
        or entry.get("revocation_hash") not in (None, expected_hash)
    ):
        raise VerificationError(
            _("The log entry of the revocation of {device} does not match it.").format(
                device=cert.device_id
            )
        )
    await transparency.verify_entry_included(api, cp, index, entry)
    return index


async def _scan_for_revocation(
    api: ApiClient, cp: Checkpoint, start: int, device_id: str
) -> tuple[dict[str, Any], int]:
    page = 100
    position = start + 1
    while position < cp.size:
        answer = await api.entries(position, min(position + page, cp.size))
        items = answer.get("entries", [])
        if not items:
            break
        for item in items:
            entry = item.get("entry", {})
            if entry.get("kind") == "revocation" and entry.get("device_id") == device_id:
                return dict(entry), int(item["index"])
        position = max(int(i["index"]) for i in items) + 1
    raise VerificationError(
        _("The revocation of {device} is not in the server's log.").format(device=device_id)
    )


async def agency_devices(
    home: Home, api: ApiClient, agency: str, *, now: int
) -> list[VerifiedDevice]:
    """Every device certificate of `agency`, verified (the agency's root must be pinned)."""
    require_pin(home, agency)
    if foreign_home(home, agency) is not None:
        directory = await foreign_directory(home, api, agency, now=now)
        return [_verified_foreign(d) for d in directory.devices]
    await transparency.pin_server(home, api)  # the device logs in for the directory read
    answer = await api.agency_devices(agency)
    cp = await transparency.advance(home, api, answer.get("checkpoint"))
    trust = trust_store(home)
    return [
        await _verify_device_item(home, api, cp, item, expected_agency=agency, trust=trust, now=now)
        for item in answer.get("devices", [])
    ]


async def device(home: Home, api: ApiClient, device_id: str, *, now: int) -> VerifiedDevice:
    agency = device_agency(device_id)
    require_pin(home, agency)
    if foreign_home(home, agency) is not None:
        directory = await foreign_directory(home, api, agency, now=now)
        for found in directory.devices:
            if found.certificate.device_id == device_id:
                return _verified_foreign(found)
        raise VerificationError(
            _("Device {device} is not in the log of its agency's home relay.").format(
                device=device_id
            )
        )
    answer = await api.get_device(device_id)
    cp = await transparency.advance(home, api, answer.get("checkpoint"))
    verified = await _verify_device_item(
        home, api, cp, answer, expected_agency=agency, trust=trust_store(home), now=now
    )
    if verified.device_id != device_id:
        raise VerificationError(_("The server sent the certificate of another device."))
    return verified


# --- Review keys ------------------------------------------------------------------------------
def _review_statements(home: Home, agency: str, record: dict[str, Any]) -> list[ReviewKeyStatement]:
    trust = trust_store(home)
    statements: list[ReviewKeyStatement] = []
    for raw in record.get("review_statements", []):
        try:
            statement = ReviewKeyStatement.from_bytes(decode_b64(raw))
            trust.verify_review_statement(statement)
        except CryptoError as exc:
            raise VerificationError(
                _("A review key of agency {agency} is not signed by its pinned root.").format(
                    agency=agency
                )
            ) from exc
        if statement.agency != agency:
            raise VerificationError(_("The server sent a review key of another agency."))
        statements.append(statement)
    return _with_review_key(agency, statements)


def _with_review_key(agency: str, statements: list[ReviewKeyStatement]) -> list[ReviewKeyStatement]:
    if not statements:
        raise VerificationError(
            _("Agency {agency} has no review key on the server.").format(agency=agency)
        )
    statements.sort(key=lambda s: s.not_before)
    return statements


def _unverified_statements(agency: str, record: dict[str, Any]) -> list[ReviewKeyStatement]:
    out = []
    for raw in record.get("review_statements", []):
        try:
            statement = ReviewKeyStatement.from_bytes(decode_b64(raw))
        except (CryptoError, VerificationError):
            continue
        if statement.agency == agency:
            out.append(statement)
    out.sort(key=lambda s: s.not_before)
    return out


async def review_keys(home: Home, api: ApiClient, agency: str) -> list[ReviewKeyStatement]:
    """The agency's review-key statements vouched for by its pinned root, oldest first; each
    carries the `not_before` its key is valid from (PROTOCOL.md section 12)."""
    require_pin(home, agency)
    if foreign_home(home, agency) is not None:
        directory = await foreign_directory(home, api, agency, now=int(time.time()))
        return _with_review_key(agency, list(directory.review_statements))
    return _review_statements(home, agency, await api.get_agency(agency))


def recipient(statement: ReviewKeyStatement) -> ReviewRecipient:
    return ReviewRecipient(statement.agency, statement.key_id, statement.public_key)


async def current_review_key(
    home: Home, api: ApiClient, agency: str, *, now: int | None = None
) -> ReviewRecipient:
    """The key a sender wraps to: the newest statement whose `not_before` ≤ `now`."""
    now = int(time.time()) if now is None else now
    current = current_review_statement(await review_keys(home, api, agency), now)
    if current is None:
        raise VerificationError(
            _("Agency {agency} has no review key valid yet.").format(agency=agency)
        )
    return recipient(current)


async def unverified_review_keys(api: ApiClient, agency: str) -> list[ReviewKeyStatement]:
    """An unpinned agency's review-key statements as the server lists them (not checked against
    a root; callers match them by key id, which is the key's own fingerprint)."""
    return _unverified_statements(agency, await api.get_agency(agency))


# --- One operation's lookups -------------------------------------------------------------------
@dataclass
class Lookups:
    """Directory answers verified once per operation (one sync, search, or batch of reads).

    Each sender device is looked up and verified once (certificate, its log entry, revocation
    status as the server states it now), each agency's review-key statements fetched once.
    Nothing outlives the operation: the next one asks again, so a revocation is seen by the
    first operation after it is logged. Failures are remembered too and raised again."""

    home: Home
    api: ApiClient
    now: int
    _devices: dict[str, VerifiedDevice | ClientError] = field(default_factory=dict)
    _statements: dict[str, tuple[list[ReviewKeyStatement], bool]] = field(default_factory=dict)

    async def device(self, device_id: str) -> VerifiedDevice:
        known = self._devices.get(device_id)
        if known is None:
            try:
                known = await device(self.home, self.api, device_id, now=self.now)
            except ClientError as exc:
                known = exc
            self._devices[device_id] = known
        if isinstance(known, ClientError):
            raise known
        return known

    async def review_statements(self, agency: str) -> tuple[list[ReviewKeyStatement], bool]:
        """The agency's statements oldest first, and whether they were verified against a
        pinned root (an unpinned agency's are only the server's word)."""
        known = self._statements.get(agency)
        if known is None and foreign_home(self.home, agency) is not None:
            known = (await review_keys(self.home, self.api, agency), True)
            self._statements[agency] = known
        if known is None:
            record = await self.api.get_agency(agency)
            if pinned_root(self.home, agency) is not None:
                known = (_review_statements(self.home, agency, record), True)
            else:
                known = (_unverified_statements(agency, record), False)
            self._statements[agency] = known
        return known
