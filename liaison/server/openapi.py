"""The OpenAPI 3.1 document of the relay, served at /v1/openapi.json.

Its components are generated from the request and response models (liaison/server/models.py),
the same Structs that decode and validate every request body; this module adds only what a
model cannot say: each route's method, operation id, security, parameters and answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from liaison import __version__
from liaison.server import models as m

REF = "#/components/schemas/{name}"


@dataclass(frozen=True)
class Answer:
    """One documented answer: its model (None: no body), and what it means."""

    model: type[msgspec.Struct] | None
    description: str
    binary: bool = False  # a stream of bytes (application/octet-stream), not JSON


def ok(model: type[msgspec.Struct] | None, description: str = "Success") -> Answer:
    return Answer(model, description)


def refused(codes: str) -> Answer:
    """A refusal: an Error whose `code` is among those named (docs/api.md lists them all)."""
    return Answer(m.Error, codes)


BAD = {400: refused("malformed_json, invalid_request, malformed_base64 or a route's own")}
AUTH = {
    401: refused("missing_token, invalid_token or token_expired"),
    403: refused("device_revoked, certificate_not_yet_valid, certificate_expired, or not allowed"),
}
# Rate-limited routes (liaison/server/ratelimit.py): the Retry-After header gives the wait.
LIMITED = {429: refused("rate_limited: wait the seconds of the Retry-After header")}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    answers: dict[int, Answer]
    request: type[m.Request] | None = None
    security: str | None = None  # "adminToken" or "deviceToken"
    query: tuple[dict[str, Any], ...] = field(default=())
    description: str | None = None
    binary_request: bool = False  # the body is a stream of bytes, not JSON


def query(
    name: str, description: str, *, required: bool = False, minimum: int = 0
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "integer", "minimum": minimum},
    }


# Relay-to-relay routes (PROTOCOL.md §16.3): signed by the calling relay's log key; a device's
# bearer token means nothing to them.
PEER_AUTH = {
    400: refused("federation_request_malformed, federation_digest_mismatch, malformed_json"),
    401: refused("federation_clock_skew, federation_bad_signature or federation_replayed"),
    403: refused("unknown_peer: the calling relay is not peered with this one"),
    413: refused("payload_too_large"),
    421: refused("federation_misdirected: the request is addressed to another relay"),
    503: refused("federation_busy: the replay cache is full; try again later"),
}
FEDERATION_OPERATIONS = (
    Operation(
        "GET",
        "/v1/federation/peering",
        "federationPeering",
        {
            200: ok(m.FederationPeering, "This relay's identity (and, signed, the peering)"),
            **PEER_AUTH,
        },
        description="Unsigned: the identity only. Signed by a peer (§16.3): also peered.",
    ),
    Operation(
        "POST",
        "/v1/federation/envelopes",
        "federationEnvelopes",
        {
            200: ok(m.FederationBatchAnswer, "Per item: logged (signed ack), refused, not tried"),
            **PEER_AUTH,
            409: refused("checkpoint_unknown: the consistency proof starts from another size"),
            422: refused("peer_misbehaved: the checkpoint does not verify or extend"),
        },
        request=m.FederationBatch,
    ),
    Operation(
        "POST",
        "/v1/federation/acks",
        "federationAcks",
        {
            200: ok(m.FederationAcksAnswer, "Acknowledgements verified and logged"),
            **PEER_AUTH,
            409: refused("peer_misbehaved: not a device acknowledgement"),
            422: refused("peer_misbehaved: an acknowledgement does not verify"),
        },
        request=m.FederationAcks,
    ),
    Operation(
        "PUT",
        "/v1/federation/blobs/{blob_id}",
        "federationBlob",
        {
            200: ok(m.FederationBlobAnswer, "Written: stored once all its bytes arrived"),
            **PEER_AUTH,
            409: refused("upload_offset_mismatch: the transfer stands at another offset"),
            413: refused("upload_too_large, blob_too_large or quota_exceeded"),
            422: refused("blob_hash_mismatch: the bytes do not hash to the blob id"),
        },
        binary_request=True,
        description=(
            "An attachment blob's bytes from `offset`, streamed, sent before the envelopes "
            "declaring it; the signed Content-Digest (of the body) is checked at its end "
            "(400 federation_digest_mismatch, the transfer dropped)."
        ),
        query=(
            query("offset", "First byte of the blob in this body", required=True),
            query("size", "The whole blob's size in bytes", required=True),
        ),
    ),
    Operation(
        "GET",
        "/v1/federation/blobs/{blob_id}",
        "federationBlobState",
        {
            200: ok(m.FederationBlobAnswer, "Stored, or how far the caller's transfer got"),
            **PEER_AUTH,
        },
        description="Where a dropped transfer of the blob resumes.",
    ),
    Operation(
        "GET",
        "/v1/federation/log/messages/{message_id}",
        "federationLogMessage",
        {
            200: ok(m.LoggedEntry, "This relay's entry of a message that crossed with the caller"),
            **PEER_AUTH,
            404: refused("unknown_message: no such message crossed with the calling relay"),
        },
        description="`forwarded_in` when the caller forwarded it here, else the `envelope` entry.",
    ),
    Operation(
        "GET",
        "/v1/foreign/log/messages/{message_id}",
        "foreignLogMessage",
        {
            200: ok(m.CrossBorderEntries, "The own relay's entry and each peer's"),
            **AUTH,
            404: refused("unknown_message, not_cross_border"),
            502: refused("peer_unreachable: the peer relay did not answer"),
        },
        security="deviceToken",
        description="For `liaison audit verify --across`: both logs' entries of one message.",
    ),
    Operation(
        "GET",
        "/v1/federation/agencies/{code}",
        "federationAgency",
        {
            200: ok(m.AgencyDirectory, "The agency's directory, proved against one checkpoint"),
            **PEER_AUTH,
            404: refused("unknown_agency, no_home_statement"),
        },
        query=(query("since", "Size of this relay's log the client holds (default 0)"),),
        description="For a peer's officers: an agency homed here (§16.5); `since` asks for a "
        "consistency proof from that size of this relay's log.",
    ),
    Operation(
        "GET",
        "/v1/foreign/agencies/{code}",
        "foreignAgency",
        {
            200: ok(m.AgencyDirectory, "The home relay's answer, unchanged, and its origin"),
            **AUTH,
            404: refused("unknown_agency: no peer is the home of this agency"),
            502: refused("peer_unreachable: the peer relay did not answer"),
        },
        security="deviceToken",
        query=(query("since", "Size of the home relay's log the client holds (default 0)"),),
        description="For `liaison trust add` of an agency homed on a peer (§16.5); the client "
        "verifies everything against the root and the home statement's relay key.",
    ),
    Operation(
        "POST",
        "/v1/agencies/{code}/home",
        "putAgencyHome",
        {
            200: ok(m.HomeStatementAccepted, "The same statement was logged before"),
            201: ok(m.HomeStatementAccepted, "Logged as a `home` entry"),
            400: refused("invalid_request, malformed_json"),
            404: refused("unknown_agency"),
            409: refused("home_statement_stale: a statement as new or newer is held"),
            422: refused("bad_home_statement: not the agency root's, or names another relay"),
        },
        request=m.HomeStatementUpload,
        description="The agency root's home statement naming this relay (§16.4).",
    ),
    Operation(
        "GET",
        "/v1/agencies/{code}/home",
        "getAgencyHome",
        {
            200: ok(m.HomeStatementAnswer, "The newest home statement and its log index"),
            404: refused("unknown_agency, no_home_statement"),
        },
    ),
    Operation(
        "POST",
        "/v1/federation/reviews",
        "federationReviews",
        {
            200: ok(m.FederationReviewAnswer, "Logged as `peer_review` (or was already)"),
            **PEER_AUTH,
            403: refused(
                "unknown_peer; review_forbidden: no supervisor, agency not homed there or no party"
            ),
            404: refused("unknown_message, envelope_purged"),
            409: refused("checkpoint_unknown: the consistency proof starts from another size"),
            422: refused(
                "peer_misbehaved: a proof or the certificate does not verify; bad_signature"
            ),
        },
        request=m.FederationReview,
        description="A supervisor's review of a message that crossed with the calling relay.",
    ),
    Operation(
        "GET",
        "/v1/federation/witness",
        "federationWitness",
        {
            200: ok(m.FederationWitness, "This log's checkpoint and the consistency proof"),
            **PEER_AUTH,
            403: refused("unknown_peer; peer_distrusted: this relay distrusts the caller"),
        },
        query=(query("from", "The size of the last checkpoint the caller cosigned"),),
        description="For the peer witnessing this log (§16.7).",
    ),
    Operation(
        "POST",
        "/v1/federation/cosignatures",
        "federationCosignature",
        {
            201: ok(m.CosignatureReceipt, "Cosignature stored; served with the checkpoint"),
            **PEER_AUTH,
            403: refused("unknown_peer, peer_distrusted, unknown_witness"),
            422: refused("unknown_checkpoint or bad_signature"),
        },
        request=m.FederationCosignature,
        description="The calling peer's cosignature of this log's checkpoint (§16.7).",
    ),
)


OPERATIONS = (
    Operation(
        "GET",
        "/v1/health",
        "health",
        {200: ok(m.Health, "Ready"), 503: Answer(m.NotReady, "not_ready: see its message")},
        description="Readiness: the database answers within a bound and the writer keeps up.",
    ),
    Operation(
        "GET",
        "/v1/health/live",
        "liveness",
        {200: ok(m.Liveness, "The process is up")},
        description="Liveness: the process answers; nothing else is checked.",
    ),
    Operation("GET", "/v1/server", "server", {200: ok(m.Server)}),
    Operation("GET", "/v1/openapi.json", "openapi", {200: ok(None, "This document")}),
    Operation(
        "POST",
        "/v1/agencies",
        "registerAgency",
        {
            201: ok(m.AgencyCreated, "Registered and logged"),
            **BAD,
            401: refused("invalid_admin_token"),
            409: refused("agency_exists"),
            413: refused("payload_too_large"),
            422: refused("agency_mismatch or bad_signature (review statement and root key)"),
        },
        request=m.AgencyRegistration,
        security="adminToken",
    ),
    Operation("GET", "/v1/agencies", "listAgencies", {200: ok(m.AgencyList)}),
    Operation(
        "GET",
        "/v1/agencies/{code}",
        "getAgency",
        {200: ok(m.Agency), 404: refused("unknown_agency")},
    ),
    Operation(
        "POST",
        "/v1/agencies/{code}/review-keys",
        "addReviewKey",
        {
            200: ok(m.LogIndex, "Identical statement already registered"),
            201: ok(m.LogIndex, "Registered and logged"),
            **BAD,
            404: refused("unknown_agency"),
            422: refused("agency_mismatch or bad_signature"),
        },
        request=m.ReviewKeyUpload,
    ),
    Operation(
        "GET",
        "/v1/agencies/{code}/devices",
        "listAgencyDevices",
        {200: ok(m.DeviceList), **AUTH, 404: refused("unknown_agency")},
        security="deviceToken",
    ),
    Operation(
        "POST",
        "/v1/certificates",
        "uploadCertificate",
        {
            200: ok(m.CertificateAccepted, "Identical certificate already registered"),
            201: ok(m.CertificateAccepted, "Registered and logged"),
            **BAD,
            404: refused("unknown_agency"),
            409: refused("device_exists: another certificate holds this device id"),
            422: refused("bad_signature or certificate_expired"),
        },
        request=m.CertificateUpload,
    ),
    Operation(
        "POST",
        "/v1/revocations",
        "uploadRevocation",
        {
            200: ok(m.LogIndex, "Identical revocation already registered"),
            201: ok(m.LogIndex, "Registered and logged"),
            **BAD,
            404: refused("unknown_agency or unknown_device"),
            409: refused("already_revoked"),
            422: refused("bad_signature or revocation_mismatch"),
        },
        request=m.RevocationUpload,
    ),
    Operation(
        "GET",
        "/v1/devices/{device_id}",
        "getDevice",
        {200: ok(m.DeviceWithCheckpoint), 404: refused("unknown_device")},
    ),
    Operation(
        "POST",
        "/v1/auth/challenge",
        "authChallenge",
        {
            200: ok(m.Challenge),
            **BAD,
            403: refused("device_revoked, certificate_not_yet_valid or certificate_expired"),
            404: refused("unknown_device"),
            **LIMITED,
        },
        request=m.ChallengeRequest,
    ),
    Operation(
        "POST",
        "/v1/auth/token",
        "authToken",
        {
            200: ok(m.Token),
            **BAD,
            401: refused("unknown_challenge, challenge_used, challenge_expired, bad_signature"),
            403: refused("device_revoked, certificate_not_yet_valid or certificate_expired"),
            404: refused("unknown_device"),
        },
        request=m.TokenRequest,
    ),
    Operation(
        "POST",
        "/v1/messages",
        "sendMessage",
        {
            200: ok(m.SendReceipt, "Identical envelope already accepted: first answer"),
            201: ok(m.SendReceipt, "Stored, queued and logged"),
            **BAD,
            **AUTH,
            409: refused("duplicate_message_id or duplicate_counter"),
            413: refused("envelope_too_large, payload_too_large or quota_exceeded"),
            422: refused(
                "bad_signature, unknown_recipient, recipient_revoked or sender_certificate_mismatch"
            ),
            **LIMITED,
        },
        request=m.SendRequest,
        security="deviceToken",
    ),
    Operation(
        "GET",
        "/v1/messages",
        "fetchMessages",
        {200: ok(m.MessagePage), **BAD, **AUTH, **LIMITED},
        security="deviceToken",
        query=(
            query("after", "Cursor: answer deliveries after this one (default 0)"),
            query("limit", "Page size, 1..100 (default 50)", minimum=1),
            {
                "name": "all",
                "in": "query",
                "required": False,
                "description": "1: include acknowledged messages",
                "schema": {"enum": ["0", "1", "true", "false"]},
            },
        ),
    ),
    Operation(
        "POST",
        "/v1/messages/{message_id}/ack",
        "ackMessage",
        {
            200: ok(m.LogIndex, "Acknowledged (again: same answer)"),
            **AUTH,
            404: refused("unknown_message"),
        },
        security="deviceToken",
    ),
    Operation("GET", "/v1/log/checkpoint", "checkpoint", {200: ok(m.CheckpointAnswer)}),
    Operation(
        "POST",
        "/v1/log/cosignatures",
        "submitCosignature",
        {
            201: ok(m.CosignatureReceipt, "Cosignature stored; served with the checkpoint"),
            **BAD,
            403: refused("unknown_witness: the name and key are not registered by the operator"),
            422: refused("unknown_checkpoint or bad_signature"),
        },
        request=m.CosignatureUpload,
    ),
    Operation(
        "PUT",
        "/v1/agencies/{code}/retention",
        "setRetention",
        {
            200: ok(m.RetentionAnswer, "Period set and logged"),
            **BAD,
            401: refused("invalid_admin_token"),
            404: refused("unknown_agency"),
        },
        request=m.RetentionSetting,
        security="adminToken",
    ),
    Operation(
        "POST",
        "/v1/holds",
        "placeHold",
        {201: ok(m.LogIndex, "Hold placed and logged"), **BAD, **AUTH, 409: refused("hold_exists")},
        request=m.HoldRequest,
        security="deviceToken",
    ),
    Operation("GET", "/v1/holds", "listHolds", {200: ok(m.Holds), **AUTH}, security="deviceToken"),
    Operation(
        "POST",
        "/v1/messages/{message_id}/case-tags",
        "addCaseTags",
        {
            200: ok(m.CaseTagsAnswer, "Tags held (not logged)"),
            **BAD,
            **AUTH,
            404: refused("unknown_message"),
            409: refused("too_many_case_tags (16 per message)"),
        },
        request=m.CaseTags,
        security="deviceToken",
    ),
    Operation(
        "POST",
        "/v1/holds/release",
        "releaseHold",
        {
            200: ok(m.LogIndex, "Hold released and logged"),
            **BAD,
            **AUTH,
            404: refused("unknown_hold"),
        },
        request=m.HoldRelease,
        security="deviceToken",
    ),
    Operation(
        "GET",
        "/v1/log/consistency",
        "consistency",
        {200: ok(m.ConsistencyProof), **BAD},
        query=(
            query("from", "Older tree size (at least 1)", required=True, minimum=1),
            query("to", "Newer tree size (default: current)"),
        ),
    ),
    Operation(
        "GET",
        "/v1/log/proof",
        "inclusionProof",
        {200: ok(m.InclusionProof), **BAD},
        query=(
            query("index", "Leaf index", required=True),
            query("size", "Tree size (default: current)", minimum=1),
        ),
    ),
    Operation(
        "GET",
        "/v1/log/entries",
        "logEntries",
        {200: ok(m.LogEntries), **BAD, **AUTH},
        security="deviceToken",
        query=(
            query("start", "First index", required=True),
            query("end", "One past the last index (at most start + 1000)", required=True),
        ),
    ),
    Operation(
        "GET",
        "/v1/ws",
        "push",
        {101: ok(None, "Switching protocols"), **AUTH},
        query=(
            {
                "name": "token",
                "in": "query",
                "required": False,
                "description": "Device token (or an Authorization header)",
                "schema": {"type": "string"},
            },
        ),
        description="WebSocket upgrade; the server sends PushNotice objects as text frames.",
    ),
    Operation(
        "POST",
        "/v1/review-keys/wraps",
        "uploadReviewKeyWrap",
        {
            200: ok(m.LogIndex, "Identical wrap already held"),
            201: ok(m.LogIndex, "Stored and logged"),
            **BAD,
            404: refused("unknown_agency"),
            409: refused("stale_review_key_wrap"),
            422: refused("bad_signature, unknown_review_key or not_supervisor"),
        },
        request=m.ReviewKeyWrapUpload,
    ),
    Operation(
        "GET",
        "/v1/review-keys/wraps",
        "reviewKeyWraps",
        {200: ok(m.ReviewKeyWraps), **AUTH},
        security="deviceToken",
    ),
    Operation(
        "GET",
        "/v1/review/messages",
        "reviewTraffic",
        {200: ok(m.ReviewTraffic), **BAD, **AUTH},
        security="deviceToken",
        query=(
            {
                "name": "officer",
                "in": "query",
                "required": False,
                "description": "Officer id (own agency) or AGENCY:officer id",
                "schema": {"type": "string"},
            },
            query("from", "Received at or after (Unix seconds)"),
            query("to", "Received before (Unix seconds)"),
            query("limit", "At most this many, 1..1000 (default 500)", minimum=1),
        ),
    ),
    Operation(
        "POST",
        "/v1/review/messages/{message_id}",
        "reviewMessage",
        {
            200: ok(m.ReviewRelease, "Review logged; envelope released with the proof"),
            **BAD,
            **AUTH,
            404: refused("unknown_message or envelope_purged"),
            409: refused("review_replayed"),
            422: refused("bad_signature or stale_review_request"),
            **LIMITED,
        },
        request=m.ReviewRequest,
        security="deviceToken",
    ),
    Operation(
        "GET",
        "/v1/audit/records",
        "auditRecords",
        {200: ok(m.AuditRecords), **BAD, **AUTH},
        security="deviceToken",
        query=(
            query("after", "First log index to consider (default 0)"),
            query("limit", "At most this many records, 1..1000 (default 500)", minimum=1),
        ),
    ),
    # --- attachments (PROTOCOL.md section 14.6) ---
    Operation(
        "POST",
        "/v1/uploads",
        "createUpload",
        {
            201: ok(m.UploadState, "Upload session opened"),
            **BAD,
            **AUTH,
            413: refused("blob_too_large or quota_exceeded"),
        },
        request=m.UploadRequest,
        security="deviceToken",
    ),
    Operation(
        "GET",
        "/v1/uploads/{upload_id}",
        "getUpload",
        {200: ok(m.UploadState, "Bytes received so far"), **AUTH, 404: refused("unknown_upload")},
        security="deviceToken",
    ),
    Operation(
        "PUT",
        "/v1/uploads/{upload_id}",
        "appendUpload",
        {
            200: ok(m.UploadOffset, "Appended and fsynced"),
            **BAD,
            **AUTH,
            404: refused("unknown_upload"),
            409: refused("upload_offset_mismatch (the message names the offset)"),
            413: refused("upload_too_large"),
        },
        security="deviceToken",
        query=(
            query("offset", "Where these bytes start: the bytes received so far", required=True),
        ),
        binary_request=True,
    ),
    Operation(
        "POST",
        "/v1/uploads/{upload_id}/complete",
        "completeUpload",
        {
            201: ok(m.BlobStored, "Verified, stored under its id"),
            **BAD,
            **AUTH,
            404: refused("unknown_upload"),
            409: refused("upload_offset_mismatch"),
            422: refused("blob_hash_mismatch"),
        },
        request=m.UploadCompletion,
        security="deviceToken",
    ),
    Operation(
        "DELETE",
        "/v1/uploads/{upload_id}",
        "abortUpload",
        {204: ok(None, "Aborted"), **AUTH, 404: refused("unknown_upload")},
        security="deviceToken",
    ),
    Operation(
        "GET",
        "/v1/blobs/{blob_id}",
        "fetchBlob",
        {
            200: Answer(None, "The blob's bytes from start", binary=True),
            **BAD,
            **AUTH,
            404: refused("unknown_blob (also when the device may not fetch it)"),
        },
        security="deviceToken",
        query=(query("start", "First byte to send (a download resumes; default 0)"),),
    ),
)

# Models no route names as its body but the document describes (pushed over the WebSocket).
EXTRA_MODELS: tuple[type[msgspec.Struct], ...] = (m.PushNotice,)


def _components() -> dict[str, Any]:
    models: list[type[msgspec.Struct]] = [m.Error, *EXTRA_MODELS]
    for op in OPERATIONS + FEDERATION_OPERATIONS:
        models += [op.request] if op.request is not None else []
        models += [a.model for a in op.answers.values() if a.model is not None]
    _refs, schemas = msgspec.json.schema_components(dict.fromkeys(models), ref_template=REF)
    return dict(sorted(schemas.items()))


_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


def _ref(model: type[msgspec.Struct]) -> dict[str, str]:
    return {"$ref": REF.format(name=model.__name__)}


def _answer(status: int, answer: Answer) -> dict[str, Any]:
    if answer.binary:
        return {"description": answer.description, "content": _BINARY}
    if answer.model is not None:
        schema: dict[str, Any] = _ref(answer.model)
    elif status == 200:  # the document itself
        schema = {"type": "object"}
    else:
        return {"description": answer.description}
    return {"description": answer.description, "content": {"application/json": {"schema": schema}}}


def _operation(op: Operation) -> dict[str, Any]:
    document: dict[str, Any] = {"operationId": op.operation_id}
    if op.description:
        document["description"] = op.description
    if op.security:
        document["security"] = [{op.security: []}]
    if op.query:
        document["parameters"] = list(op.query)
    if op.binary_request:
        document["requestBody"] = {"required": True, "content": _BINARY}
    if op.request is not None:
        document["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(op.request)}},
        }
    document["responses"] = {
        str(status): _answer(status, answer) for status, answer in sorted(op.answers.items())
    }
    return document


def _paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for op in OPERATIONS + FEDERATION_OPERATIONS:
        item = paths.setdefault(op.path, {})
        names = [part[1:-1] for part in op.path.split("/") if part.startswith("{")]
        if names:
            item["parameters"] = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in names
            ]
        item[op.method.lower()] = _operation(op)
    return paths


SCHEMAS: dict[str, Any] = _components()
PATHS: dict[str, Any] = _paths()
DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Liaison relay",
        "version": __version__,
        "description": (
            "Key directory, encrypted mailbox and Merkle log of the Liaison relay. "
            "Bytes are standard base64 with padding. Errors are {code, message}: a stable "
            "code, and a message in English (clients translate by code; docs/api.md)."
        ),
    },
    "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "adminToken": {"type": "http", "scheme": "bearer", "description": "Operator token"},
            "deviceToken": {"type": "http", "scheme": "bearer", "description": "Device token"},
        },
    },
    "paths": PATHS,
}
