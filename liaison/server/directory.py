"""The key directory: agencies and their review keys, device certificates and revocations.

Each write is checked completely first, then runs as one job of the store's group commit
with its log entry, so a refused request changes nothing.
"""

from __future__ import annotations

from typing import Any

from crypto.certs import DeviceCertificate, ReviewKeyStatement, Revocation, TrustStore
from crypto.encoding import b64e
from crypto.errors import CertificateExpired, CryptoError, MalformedError
from crypto.keys import validate_agency_code
from crypto.log_entries import (
    AgencyEntry,
    CertificateEntry,
    ReviewKeyEntry,
    RevocationEntry,
    content_hash,
)
from liaison.server.errors import BadRequest, Conflict, NotFound, Unprocessable
from liaison.server.log import TreeView
from liaison.server.log_queries import proof_tree
from liaison.server.models import (
    AgencyRegistration,
    CertificateUpload,
    ReviewKeyUpload,
    RevocationUpload,
    decode_field,
)
from liaison.server.push import REVOKED_NOTICE
from liaison.server.relay import Relay
from liaison.store import WriteTx
from liaison.store.records import AgencyRecord, DeviceRecord


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


def _review_statement(data: bytes, agency: str, root_key: bytes) -> ReviewKeyStatement:
    try:
        statement = ReviewKeyStatement.from_bytes(data)
    except MalformedError as exc:
        raise BadRequest(
            "malformed_review_statement", "The review-key statement does not parse."
        ) from exc
    if statement.agency != agency:
        raise Unprocessable("agency_mismatch", "The review-key statement names another agency.")
    try:
        TrustStore.with_pins([(agency, root_key)]).verify_review_statement(statement)
    except CryptoError as exc:
        raise Unprocessable(
            "bad_signature",
            "The review-key statement does not verify against the agency root key.",
        ) from exc
    return statement


async def register_agency(relay: Relay, request: AgencyRegistration) -> dict[str, Any]:
    """POST /v1/agencies [admin]: an agency with its root key and first review key, logged."""
    code = request.code
    try:
        validate_agency_code(code)
    except MalformedError as exc:
        raise BadRequest("invalid_agency_code", "The agency code is not valid.") from exc
    if request.country != code[:2]:
        raise BadRequest(
            "invalid_request", "The country must be the first part of the agency code."
        )
    root_key = decode_field(request.root_key, "root_key", length=32)
    statement_bytes = decode_field(request.review_statement, "review_statement")
    statement = _review_statement(statement_bytes, code, root_key)
    statement_hash = content_hash(statement_bytes)
    now = relay.clock()

    async def job(tx: WriteTx) -> dict[str, Any]:
        if await tx.agency(code) is not None:
            raise Conflict("agency_exists", "This agency is already registered.")
        entry = AgencyEntry(
            code=code,
            country=request.country,
            root_key=root_key,
            review_key_id=statement.key_id,
            statement_hash=statement_hash,
            at=now,
        )
        index = await relay.log.append(tx, entry)
        await tx.insert_agency(
            code=code,
            country=request.country,
            name_vi=request.name_vi,
            name_zh=request.name_zh,
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
            request.country,
            request.name_vi,
            request.name_zh,
            root_key,
            index,
            (statement_bytes,),
        )
        return {"agency": agency_json(agency), "log_index": index}

    return await relay.store.write(job)


async def add_review_key(
    relay: Relay, code: str, request: ReviewKeyUpload
) -> tuple[dict[str, Any], bool]:
    """POST /v1/agencies/{code}/review-keys: a further review-key statement, logged once."""
    agency = await agency_record(relay, code)
    statement_bytes = decode_field(request.statement, "statement")
    statement = _review_statement(statement_bytes, code, agency.root_key)
    statement_hash = content_hash(statement_bytes)
    now = relay.clock()

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
        index = await relay.log.append(tx, entry)
        await tx.insert_review_statement(
            agency=code,
            key_id=statement.key_id,
            statement=statement_bytes,
            statement_hash=statement_hash,
            log_index=index,
            at=now,
        )
        return {"log_index": index}, True

    return await relay.store.write(job)


async def agency_record(relay: Relay, code: str) -> AgencyRecord:
    """The registered agency `code`, else 404 unknown_agency."""
    agency = await relay.store.agency(code)
    if agency is None:
        raise NotFound("unknown_agency", "No agency is registered under this code.")
    return agency


async def agencies(relay: Relay) -> dict[str, Any]:
    """GET /v1/agencies"""
    return {"agencies": [agency_json(a) for a in await relay.store.agencies()]}


async def agency(relay: Relay, code: str) -> dict[str, Any]:
    """GET /v1/agencies/{code}"""
    return agency_json(await agency_record(relay, code))


async def upload_certificate(
    relay: Relay, request: CertificateUpload
) -> tuple[dict[str, Any], bool]:
    """POST /v1/certificates: a device certificate signed by its agency root, logged once."""
    data = decode_field(request.certificate, "certificate")
    try:
        cert = DeviceCertificate.from_bytes(data)
    except MalformedError as exc:
        raise BadRequest("malformed_certificate", "The certificate does not parse.") from exc
    agency = await agency_record(relay, cert.agency)
    now = relay.clock()
    trust = TrustStore.with_pins([(agency.code, agency.root_key)])
    try:
        # A certificate may be uploaded before it starts being valid, never after it ends.
        trust.verify_certificate(cert, now=max(now, cert.not_before))
    except CertificateExpired as exc:
        raise Unprocessable("certificate_expired", "The certificate has expired.") from exc
    except CryptoError as exc:
        raise Unprocessable(
            "bad_signature", "The certificate does not verify against the agency root key."
        ) from exc
    cert_hash = cert.cert_hash()

    async def job(tx: WriteTx) -> tuple[dict[str, Any], bool]:
        existing = await tx.device(cert.device_id)
        if existing is not None:
            if existing.cert_hash == cert_hash:
                return {"device_id": cert.device_id, "log_index": existing.log_index}, False
            raise Conflict("device_exists", "Another certificate is registered for this device id.")
        entry = CertificateEntry(
            agency=cert.agency,
            device_id=cert.device_id,
            cert_hash=cert_hash,
            at=now,
        )
        index = await relay.log.append(tx, entry)
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

    return await relay.store.write(job)


async def upload_revocation(relay: Relay, request: RevocationUpload) -> tuple[dict[str, Any], bool]:
    """POST /v1/revocations: a root-signed revocation, logged once; the device's sockets close."""
    data = decode_field(request.revocation, "revocation")
    try:
        revocation = Revocation.from_bytes(data)
    except MalformedError as exc:
        raise BadRequest("malformed_revocation", "The revocation does not parse.") from exc
    agency = await agency_record(relay, revocation.agency)
    try:
        TrustStore.with_pins([(agency.code, agency.root_key)]).add_revocation(revocation)
    except CryptoError as exc:
        raise Unprocessable(
            "bad_signature", "The revocation does not verify against the agency root key."
        ) from exc
    revocation_hash = content_hash(data)
    now = relay.clock()

    async def job(tx: WriteTx) -> tuple[dict[str, Any], bool]:
        device = await tx.device(revocation.device_id)
        if device is None:
            raise NotFound("unknown_device", "No certificate is registered for this device.")
        if device.cert_hash != revocation.cert_hash:
            raise Unprocessable(
                "revocation_mismatch",
                "The revocation names another certificate of this device.",
            )
        if device.revocation is not None:
            if device.revocation == data:
                return {"log_index": device.revocation_log_index}, False
            raise Conflict("already_revoked", "This device is already revoked.")
        entry = RevocationEntry(
            agency=revocation.agency,
            device_id=revocation.device_id,
            revocation_hash=revocation_hash,
            at=now,
        )
        index = await relay.log.append(tx, entry)
        await tx.insert_revocation(
            device_id=revocation.device_id,
            revocation=data,
            revocation_hash=revocation_hash,
            log_index=index,
            at=now,
        )
        tx.on_commit(lambda: relay.push.close_device(revocation.device_id))
        # Every other process closes that device's sockets too (issue 14, defect 10).
        tx.announce(relay.push_channel, lambda: [(revocation.device_id, REVOKED_NOTICE)])
        return {"log_index": index}, True

    return await relay.store.write(job)


def _device_json(device: DeviceRecord, tree: TreeView, size: int) -> dict[str, Any]:
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


async def device(relay: Relay, device_id: str) -> dict[str, Any]:
    """GET /v1/devices/{device_id}: the certificate with its inclusion proof."""
    record = await relay.store.device(device_id)
    if record is None:
        raise NotFound("unknown_device", "No certificate is registered for this device.")
    tree, size, note = await proof_tree(relay, [record.log_index])
    return {**_device_json(record, tree, size), "checkpoint": note}


async def agency_devices(relay: Relay, code: str) -> dict[str, Any]:
    """GET /v1/agencies/{code}/devices: every certificate of the agency, with proofs."""
    await agency_record(relay, code)
    devices = await relay.store.agency_devices(code)
    tree, size, note = await proof_tree(relay, [d.log_index for d in devices])
    return {"devices": [_device_json(d, tree, size) for d in devices], "checkpoint": note}
