"""The relay's service functions: directory, device authentication, mailbox and log queries.

Handlers call exactly one of these. Each checks its input completely before it writes, and
each write runs as one job of the store's group commit, so a refused request changes nothing.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from crypto.auth import auth_challenge_message
from crypto.certs import DeviceCertificate, ReviewKeyStatement, Revocation, TrustStore
from crypto.encoding import b64d, b64e
from crypto.envelope import Envelope
from crypto.errors import (
    CertificateExpired,
    CryptoError,
    MalformedError,
    SignatureError,
)
from crypto.keys import validate_agency_code, validate_device_id
from crypto.log_entries import (
    AckEntry,
    AgencyEntry,
    CertificateEntry,
    EnvelopeEntry,
    ReviewKeyEntry,
    RevocationEntry,
    content_hash,
)
from crypto.merkle import MerkleTree
from liaison.i18n import _
from liaison.server.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unprocessable,
)
from liaison.server.identity import ServerIdentity, token_digest
from liaison.server.log import TransparencyLog
from liaison.server.push import PushHub
from liaison.store import Store, WriteTx
from liaison.store.records import AgencyRecord, DeliveryRecord, DeviceRecord

MiB = 1 << 20
# 1 MiB of ciphertext body plus room for a header and wraps to 256 recipients.
DEFAULT_MAX_ENVELOPE = MiB + 64 * 1024
MAX_LOG_ENTRIES_PAGE = 1000


def decode_field(text: str, field_name: str, *, length: int | None = None) -> bytes:
    """The bytes of a base64 request field (of exactly `length` bytes if given), else 400."""
    try:
        raw = b64d(text)
    except MalformedError as exc:
        raise BadRequest(
            "malformed_base64", _("Field {field} is not valid base64.").format(field=field_name)
        ) from exc
    if length is not None and len(raw) != length:
        raise BadRequest(
            "invalid_request",
            _("Field {field} must be {n} bytes.").format(field=field_name, n=length),
        )
    return raw


@dataclass
class Relay:
    store: Store
    identity: ServerIdentity
    log: TransparencyLog
    push: PushHub
    clock: Callable[[], int] = field(default=lambda: int(time.time()))
    rng: Callable[[int], bytes] = secrets.token_bytes
    token_ttl: int = 900
    challenge_ttl: int = 60
    max_envelope_bytes: int = DEFAULT_MAX_ENVELOPE
    push_channel: str = "liaison_push"
    # Certificates never change once registered (a new key is a new device id), so they are
    # cached; revocations are always read from the database.
    _cert_cache: dict[str, DeviceRecord] = field(default_factory=dict)
    # Bearer token -> (device id, expiry): held in memory only, like any session; the
    # database keeps only token digests.
    _tokens: dict[str, tuple[str, int]] = field(default_factory=dict)

    # --- server and log -------------------------------------------------------------------

    def server_info(self) -> dict[str, Any]:
        from crypto.checkpoint import note_key_id

        return {
            "origin": self.identity.origin,
            "log_key_name": self.identity.key_name,
            "log_public_key": b64e(self.identity.public_key),
            "log_key_id": b64e(note_key_id(self.identity.key_name, self.identity.public_key)),
        }

    async def checkpoint(self) -> dict[str, Any]:
        await self.log.catch_up()
        size, note = self.log.checkpoint()
        return {"checkpoint": note, "size": size}

    async def _size_at_least(self, size: int) -> MerkleTree:
        if await self.log.catch_up(size) < size:
            raise BadRequest("bad_range", _("The log is smaller than the size asked for."))
        return self.log.tree

    async def consistency(self, old: int, new: int | None) -> dict[str, Any]:
        tree = await self._size_at_least(new if new is not None else 0)
        new = tree.size if new is None else new
        if not 0 < old <= new:
            raise BadRequest(
                "bad_range", _("Ask for sizes with 0 < from <= to (the empty tree has no proof).")
            )
        return {"proof": [b64e(h) for h in tree.consistency_proof(old, new)]}

    async def inclusion(self, index: int, size: int | None) -> dict[str, Any]:
        tree = await self._size_at_least(max(size or 0, index + 1))
        size = tree.size if size is None else size
        if index >= size:
            raise BadRequest("bad_range", _("The index must be below the tree size."))
        return {
            "leaf_hash": b64e(tree.leaf_hash_at(index)),
            "proof": [b64e(h) for h in tree.inclusion_proof(index, size)],
            "index": index,
            "size": size,
        }

    async def entries(self, start: int, end: int) -> dict[str, Any]:
        if end <= start or end - start > MAX_LOG_ENTRIES_PAGE:
            raise BadRequest(
                "bad_range", _("Ask for 1 to 1000 entries: start < end <= start + 1000.")
            )
        records = await self.store.log_entries(start, end)
        return {"entries": [{"index": r.index, "entry": json.loads(r.data)} for r in records]}

    # --- directory ------------------------------------------------------------------------

    @staticmethod
    def agency_json(agency: AgencyRecord) -> dict[str, Any]:
        return {
            "code": agency.code,
            "country": agency.country,
            "name_vi": agency.name_vi,
            "name_zh": agency.name_zh,
            "root_key": b64e(agency.root_key),
            "review_statements": [b64e(s) for s in agency.review_statements],
            "log_index": agency.log_index,
        }

    async def register_agency(self, body: dict[str, Any]) -> dict[str, Any]:
        code = body["code"]
        try:
            validate_agency_code(code)
        except MalformedError as exc:
            raise BadRequest("invalid_agency_code", _("The agency code is not valid.")) from exc
        if body["country"] != code[:2]:
            raise BadRequest(
                "invalid_request", _("The country must be the first part of the agency code.")
            )
        root_key = decode_field(body["root_key"], "root_key", length=32)
        statement_bytes = decode_field(body["review_statement"], "review_statement")
        statement = self._review_statement(statement_bytes, code, root_key)
        statement_hash = content_hash(statement_bytes)
        now = self.clock()

        async def job(tx: WriteTx) -> dict[str, Any]:
            if await tx.agency(code) is not None:
                raise Conflict("agency_exists", _("This agency is already registered."))
            entry = AgencyEntry(
                code=code,
                country=body["country"],
                root_key=root_key,
                review_key_id=statement.key_id,
                statement_hash=statement_hash,
                at=now,
            )
            index = await self.log.append(tx, entry)
            await tx.insert_agency(
                code=code,
                country=body["country"],
                name_vi=body["name_vi"],
                name_zh=body["name_zh"],
                root_key=root_key,
                log_index=index,
                at=now,
            )
            await tx.insert_review_statement(
                agency=code,
                key_id=statement.key_id,
                statement=statement_bytes,
                statement_hash=statement_hash,
                log_index=index,
                at=now,
            )
            agency = AgencyRecord(
                code,
                body["country"],
                body["name_vi"],
                body["name_zh"],
                root_key,
                index,
                (statement_bytes,),
            )
            return {"agency": self.agency_json(agency), "log_index": index}

        return await self.store.write(job)

    @staticmethod
    def _review_statement(data: bytes, agency: str, root_key: bytes) -> ReviewKeyStatement:
        try:
            statement = ReviewKeyStatement.from_bytes(data)
        except MalformedError as exc:
            raise BadRequest(
                "malformed_review_statement", _("The review-key statement does not parse.")
            ) from exc
        if statement.agency != agency:
            raise Unprocessable(
                "agency_mismatch", _("The review-key statement names another agency.")
            )
        try:
            TrustStore.with_pins([(agency, root_key)]).verify_review_statement(statement)
        except CryptoError as exc:
            raise Unprocessable(
                "bad_signature",
                _("The review-key statement does not verify against the agency root key."),
            ) from exc
        return statement

    async def add_review_key(self, code: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        agency = await self.agency_record(code)
        statement_bytes = decode_field(body["statement"], "statement")
        statement = self._review_statement(statement_bytes, code, agency.root_key)
        statement_hash = content_hash(statement_bytes)
        now = self.clock()

        async def job(tx: WriteTx) -> tuple[dict[str, Any], bool]:
            existing = await tx.review_statement_by_hash(statement_hash)
            if existing is not None:
                return {"log_index": existing.log_index}, False
            entry = ReviewKeyEntry(
                agency=code,
                key_id=statement.key_id,
                statement_hash=statement_hash,
                at=now,
            )
            index = await self.log.append(tx, entry)
            await tx.insert_review_statement(
                agency=code,
                key_id=statement.key_id,
                statement=statement_bytes,
                statement_hash=statement_hash,
                log_index=index,
                at=now,
            )
            return {"log_index": index}, True

        return await self.store.write(job)

    async def agency_record(self, code: str) -> AgencyRecord:
        """The registered agency `code`, else 404 unknown_agency."""
        agency = await self.store.agency(code)
        if agency is None:
            raise NotFound("unknown_agency", _("No agency is registered under this code."))
        return agency

    async def agencies(self) -> dict[str, Any]:
        return {"agencies": [self.agency_json(a) for a in await self.store.agencies()]}

    async def agency(self, code: str) -> dict[str, Any]:
        return self.agency_json(await self.agency_record(code))

    async def upload_certificate(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        data = decode_field(body["certificate"], "certificate")
        try:
            cert = DeviceCertificate.from_bytes(data)
        except MalformedError as exc:
            raise BadRequest("malformed_certificate", _("The certificate does not parse.")) from exc
        agency = await self.agency_record(cert.agency)
        now = self.clock()
        trust = TrustStore.with_pins([(agency.code, agency.root_key)])
        try:
            # A certificate may be uploaded before it starts being valid, never after it ends.
            trust.verify_certificate(cert, now=max(now, cert.not_before))
        except CertificateExpired as exc:
            raise Unprocessable("certificate_expired", _("The certificate has expired.")) from exc
        except CryptoError as exc:
            raise Unprocessable(
                "bad_signature", _("The certificate does not verify against the agency root key.")
            ) from exc
        cert_hash = cert.cert_hash()

        async def job(tx: WriteTx) -> tuple[dict[str, Any], bool]:
            existing = await tx.device(cert.device_id)
            if existing is not None:
                if existing.cert_hash == cert_hash:
                    return {"device_id": cert.device_id, "log_index": existing.log_index}, False
                raise Conflict(
                    "device_exists", _("Another certificate is registered for this device id.")
                )
            entry = CertificateEntry(
                agency=cert.agency,
                device_id=cert.device_id,
                cert_hash=cert_hash,
                at=now,
            )
            index = await self.log.append(tx, entry)
            await tx.insert_certificate(
                device_id=cert.device_id,
                agency=cert.agency,
                certificate=data,
                cert_hash=cert_hash,
                signing_key=cert.signing_key,
                encryption_key=cert.encryption_key,
                not_before=cert.not_before,
                not_after=cert.not_after,
                log_index=index,
                at=now,
            )
            return {"device_id": cert.device_id, "log_index": index}, True

        return await self.store.write(job)

    async def upload_revocation(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        data = decode_field(body["revocation"], "revocation")
        try:
            revocation = Revocation.from_bytes(data)
        except MalformedError as exc:
            raise BadRequest("malformed_revocation", _("The revocation does not parse.")) from exc
        agency = await self.agency_record(revocation.agency)
        try:
            TrustStore.with_pins([(agency.code, agency.root_key)]).add_revocation(revocation)
        except CryptoError as exc:
            raise Unprocessable(
                "bad_signature", _("The revocation does not verify against the agency root key.")
            ) from exc
        revocation_hash = content_hash(data)
        now = self.clock()

        async def job(tx: WriteTx) -> tuple[dict[str, Any], bool]:
            device = await tx.device(revocation.device_id)
            if device is None:
                raise NotFound("unknown_device", _("No certificate is registered for this device."))
            if device.cert_hash != revocation.cert_hash:
                raise Unprocessable(
                    "revocation_mismatch",
                    _("The revocation names another certificate of this device."),
                )
            if device.revocation is not None:
                if device.revocation == data:
                    return {"log_index": device.revocation_log_index}, False
                raise Conflict("already_revoked", _("This device is already revoked."))
            entry = RevocationEntry(
                agency=revocation.agency,
                device_id=revocation.device_id,
                revocation_hash=revocation_hash,
                at=now,
            )
            index = await self.log.append(tx, entry)
            await tx.insert_revocation(
                device_id=revocation.device_id,
                revocation=data,
                revocation_hash=revocation_hash,
                log_index=index,
                at=now,
            )
            tx.on_commit(lambda: self.push.close_device(revocation.device_id))
            return {"log_index": index}, True

        return await self.store.write(job)

    def _device_json(self, device: DeviceRecord, tree: MerkleTree, size: int) -> dict[str, Any]:
        return {
            "device_id": device.device_id,
            "agency": device.agency,
            "certificate": b64e(device.certificate),
            "log_index": device.log_index,
            "revoked": device.revoked,
            "revocation": None if device.revocation is None else b64e(device.revocation),
            "revocation_log_index": device.revocation_log_index,
            "tree_size": size,
            "inclusion_proof": [b64e(h) for h in tree.inclusion_proof(device.log_index, size)],
        }

    async def proof_tree(self, indexes: list[int]) -> tuple[MerkleTree, int, str]:
        """The log tree covering every index, its size and the signed checkpoint of that size."""
        await self.log.catch_up(max(indexes, default=-1) + 1)
        size, note = self.log.checkpoint()
        return self.log.tree, size, note

    async def device(self, device_id: str) -> dict[str, Any]:
        device = await self.store.device(device_id)
        if device is None:
            raise NotFound("unknown_device", _("No certificate is registered for this device."))
        tree, size, note = await self.proof_tree([device.log_index])
        return {**self._device_json(device, tree, size), "checkpoint": note}

    async def agency_devices(self, code: str) -> dict[str, Any]:
        await self.agency_record(code)
        devices = await self.store.agency_devices(code)
        tree, size, note = await self.proof_tree([d.log_index for d in devices])
        return {"devices": [self._device_json(d, tree, size) for d in devices], "checkpoint": note}

    # --- authentication -------------------------------------------------------------------

    async def _live_device(self, device_id: str) -> DeviceRecord:
        try:
            validate_device_id(device_id)
        except MalformedError as exc:
            raise BadRequest("invalid_device_id", _("The device id is not valid.")) from exc
        device = await self.store.device(device_id)
        if device is None:
            raise NotFound("unknown_device", _("No certificate is registered for this device."))
        if device.revoked:
            raise Forbidden("device_revoked", _("This device has been revoked."))
        return device

    async def challenge(self, body: dict[str, Any]) -> dict[str, Any]:
        device = await self._live_device(body["device_id"])
        challenge = self.rng(32)
        expires_at = self.clock() + self.challenge_ttl

        async def job(tx: WriteTx) -> None:
            await tx.insert_challenge(
                challenge=challenge, device_id=device.device_id, expires_at=expires_at
            )

        await self.store.write(job)
        return {"challenge": b64e(challenge), "expires_at": expires_at}

    async def token(self, body: dict[str, Any]) -> dict[str, Any]:
        challenge = decode_field(body["challenge"], "challenge", length=32)
        signature = decode_field(body["signature"], "signature", length=64)
        device = await self._live_device(body["device_id"])
        now = self.clock()
        try:
            VerifyKey(device.signing_key).verify(
                auth_challenge_message(self.identity.public_key, challenge), signature
            )
        except BadSignatureError as exc:
            raise Unauthorized(
                "bad_signature", _("The challenge signature does not verify.")
            ) from exc
        token = self.rng(32).hex()
        expires_at = now + self.token_ttl

        async def job(tx: WriteTx) -> None:
            record = await tx.challenge(challenge)
            if record is None or record.device_id != device.device_id:
                raise Unauthorized("unknown_challenge", _("This challenge was not issued."))
            if record.used:
                raise Unauthorized("challenge_used", _("This challenge was already used."))
            if record.expires_at < now:
                raise Unauthorized("challenge_expired", _("This challenge has expired."))
            await tx.use_challenge(challenge)
            await tx.insert_token(
                token_hash=token_digest(token),
                device_id=device.device_id,
                expires_at=expires_at,
                at=now,
            )
            await tx.purge_expired(now - self.challenge_ttl)

        await self.store.write(job)
        return {"token": token, "expires_at": expires_at}

    async def authenticate(
        self, token: str | None, *, revocation_checked_later: bool = False
    ) -> str:
        """The device id a bearer token belongs to; refuses expired tokens and revoked devices.

        Tokens never change once issued, so they are remembered; revocation is read from the
        database on every request (another process may have recorded it), here or, for a send,
        inside the writer's transaction (`revocation_checked_later`).
        """
        if not token:
            raise Unauthorized("missing_token", _("This request needs a device token."))
        known = self._tokens.get(token)
        if known is None or not revocation_checked_later:
            record = await self.store.token(token_digest(token))
            if record is None:
                raise Unauthorized("invalid_token", _("This token is not valid."))
            known = (record.device_id, record.expires_at)
            if len(self._tokens) > 100_000:
                self._tokens.clear()
            self._tokens[token] = known
            if record.device_revoked:
                raise Forbidden("device_revoked", _("This device has been revoked."))
        device_id, expires_at = known
        if expires_at < self.clock():
            raise Unauthorized("token_expired", _("This token has expired; authenticate again."))
        return device_id

    def authenticate_admin(self, token: str | None) -> None:
        if not token or not self.identity.is_admin_token(token):
            raise Unauthorized("invalid_admin_token", _("This request needs the operator token."))

    # --- mailbox --------------------------------------------------------------------------

    async def _known_devices(self, device_ids: tuple[str, ...]) -> None:
        """Every recipient is a registered device (revocations are checked in the writer)."""
        missing = [d for d in device_ids if d not in self._cert_cache]
        if missing:
            found = await self.store.devices(missing)
            for device_id in missing:
                device = found.get(device_id)
                if device is None:
                    raise Unprocessable(
                        "unknown_recipient",
                        _("Recipient {device} is not a registered device.").format(
                            device=device_id
                        ),
                    )
                self._cert_cache[device_id] = device

    async def registered_device(self, device_id: str) -> DeviceRecord:
        """The certificate record of an authenticated device (cached: certificates never change;
        revocation is not part of this answer and is checked where it matters)."""
        device = self._cert_cache.get(device_id)
        if device is None:
            device = await self.store.device(device_id)
            if device is None:
                raise Unauthorized("invalid_token", _("This token is not valid."))
            self._cert_cache[device_id] = device
        return device

    async def send(self, device_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        data = decode_field(body["envelope"], "envelope")
        if len(data) > self.max_envelope_bytes:
            raise PayloadTooLarge(
                "envelope_too_large",
                _("The envelope exceeds {limit} bytes.").format(limit=self.max_envelope_bytes),
            )
        try:
            envelope = Envelope.from_bytes(data)
        except MalformedError as exc:
            raise BadRequest("malformed_envelope", _("The envelope does not parse.")) from exc
        header = envelope.header
        if header.sender_device != device_id:
            raise Forbidden(
                "sender_mismatch", _("The envelope's sender is not the authenticated device.")
            )
        sender = await self.registered_device(device_id)
        now = self.clock()
        if header.sender_cert_hash != sender.cert_hash:
            raise Unprocessable(
                "sender_certificate_mismatch",
                _("The envelope names another certificate than the sender's registered one."),
            )
        if now > sender.not_after:
            raise Forbidden("certificate_expired", _("The sender's certificate has expired."))

        def verify() -> None:
            try:
                envelope.verify_signature(sender.signing_key)
            except SignatureError as exc:
                raise Unprocessable(
                    "bad_signature", _("The envelope signature does not verify.")
                ) from exc

        # On the event loop, before the write: handing it to a thread costs more than the check
        # (bench/relay.py, docs/operations.md).
        verify()
        await self._known_devices(header.recipients)
        # Imported only when used: a function-level `from package import module` costs a few
        # microseconds per call, and most envelopes carry no case tags.
        case_tags: list[bytes] = []
        if body.get("case_tags"):
            from liaison.server.retention import case_tags_of

            case_tags = case_tags_of(body)
        envelope_hash = envelope.envelope_hash()
        message_id = header.message_id
        entry = EnvelopeEntry(
            message_id=message_id,
            envelope_hash=envelope_hash,
            sender=device_id,
            recipients=header.recipients,
            size=len(data),
            at=now,
        )
        # Encoded here, not in the job: the writer's serial section stays as short as can be.
        entry_data, entry_leaf = self.log.encode(entry)

        async def job(tx: WriteTx) -> tuple[dict[str, Any], bool]:
            check = await tx.send_precheck(
                message_id=message_id,
                sender_device=device_id,
                devices=(device_id, *header.recipients),
            )
            if device_id in check.revoked:
                raise Forbidden("device_revoked", _("This device has been revoked."))
            if check.existing is not None:
                if check.existing.envelope_hash == envelope_hash:
                    return self._receipt(
                        message_id,
                        envelope_hash,
                        check.existing.log_index,
                        check.existing.received_at,
                    ), False
                raise Conflict(
                    "duplicate_message_id", _("Another envelope already has this message id.")
                )
            if check.revoked:
                raise Unprocessable(
                    "recipient_revoked",
                    _("Recipient {device} has been revoked.").format(device=min(check.revoked)),
                )
            if check.last_counter is not None and header.counter <= check.last_counter:
                raise Conflict(
                    "duplicate_counter",
                    _("The envelope's counter is not above the sender's last one."),
                )
            index = await tx.append_log(entry_data, entry_leaf, at=now)
            tx.insert_envelope(
                message_id=message_id,
                envelope_hash=envelope_hash,
                sender_device=device_id,
                counter=header.counter,
                envelope=data,
                log_index=index,
                received_at=now,
                recipients=header.recipients,
            )
            if case_tags:
                await tx.insert_case_tags(message_id, case_tags)

            def notices() -> list[tuple[str, dict[str, Any]]]:
                return [
                    (device, {"type": "message", "message_id": message_id, "cursor": cursor})
                    for device, cursor in tx.cursors(message_id).items()
                ]

            if self.store.postgres:
                tx.announce(self.push_channel, notices)
            else:
                tx.on_commit(lambda: self.push.publish(notices()))
            return self._receipt(message_id, envelope_hash, index, now), True

        return await self.store.write(job)

    @staticmethod
    def _receipt(message_id: str, envelope_hash: bytes, index: int, at: int) -> dict[str, Any]:
        return {
            "message_id": message_id,
            "envelope_hash": b64e(envelope_hash),
            "log_index": index,
            "received_at": at,
        }

    async def fetch(
        self, device_id: str, *, after: int, limit: int, include_acknowledged: bool
    ) -> dict[str, Any]:
        page = await self.store.deliveries(
            device_id, after=after, limit=limit, include_acknowledged=include_acknowledged
        )
        tree, size, note = await self.proof_tree([d.log_index for d in page])
        return {
            "messages": [self._message_json(d, tree, size) for d in page],
            "next_cursor": page[-1].cursor if len(page) == limit else None,
            "checkpoint": note,
        }

    @staticmethod
    def _message_json(d: DeliveryRecord, tree: MerkleTree, size: int) -> dict[str, Any]:
        return {
            "cursor": d.cursor,
            "message_id": d.message_id,
            "envelope": b64e(d.envelope),
            "log_index": d.log_index,
            "received_at": d.received_at,
            "acknowledged": d.acknowledged,
            "tree_size": size,
            "inclusion_proof": [b64e(h) for h in tree.inclusion_proof(d.log_index, size)],
        }

    async def acknowledge(self, device_id: str, message_id: str) -> dict[str, Any]:
        now = self.clock()

        async def job(tx: WriteTx) -> dict[str, Any]:
            delivery = await tx.delivery(device_id, message_id)
            if delivery is None:
                raise NotFound("unknown_message", _("No such message is queued for this device."))
            if delivery.ack_log_index is not None:
                return {"log_index": delivery.ack_log_index}
            entry = AckEntry(message_id=message_id, device_id=device_id, at=now)
            index = await self.log.append(tx, entry)
            await tx.acknowledge(
                device_id=device_id, message_id=message_id, log_index=index, at=now
            )
            return {"log_index": index}

        return await self.store.write(job)
