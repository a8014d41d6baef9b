"""The OpenAPI 3.1 document of the relay: served at /v1/openapi.json, validates every request body.

It is the one description of the HTTP API: handlers validate request bodies against its
schemas, and the tests validate real responses against it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from liaison import __version__

DOCUMENT_URI = "urn:liaison:openapi"

B64 = {"type": "string", "pattern": r"^[A-Za-z0-9+/]*={0,2}$", "contentEncoding": "base64"}
NOTE = {"type": "string", "description": "C2SP signed note holding a tlog-checkpoint"}
INDEX = {"type": "integer", "minimum": 0}
PROOF = {"type": "array", "items": {"$ref": "#/components/schemas/Bytes"}}


def _obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        **extra,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS: dict[str, Any] = {
    "Bytes": B64,
    "Error": _obj(
        {
            "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
            "message": {"type": "string"},
        }
    ),
    "Health": _obj({"status": {"const": "ok"}, "version": {"type": "string"}}),
    "Server": _obj(
        {
            "origin": {"type": "string"},
            "log_key_name": {"type": "string"},
            "log_public_key": _ref("Bytes"),
            "log_key_id": _ref("Bytes"),
            "version": {"type": "string"},
        },
        required=["origin", "log_key_name", "log_public_key"],
    ),
    "AgencyRegistration": _obj(
        {
            "code": {"type": "string", "minLength": 1, "maxLength": 64},
            "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
            "name_vi": {"type": "string", "minLength": 1, "maxLength": 300},
            "name_zh": {"type": "string", "minLength": 1, "maxLength": 300},
            "root_key": _ref("Bytes"),
            "review_statement": _ref("Bytes"),
        },
        additionalProperties=False,
    ),
    "Agency": _obj(
        {
            "code": {"type": "string"},
            "country": {"type": "string"},
            "name_vi": {"type": "string"},
            "name_zh": {"type": "string"},
            "root_key": _ref("Bytes"),
            "review_statements": {"type": "array", "items": _ref("Bytes")},
            "log_index": INDEX,
        }
    ),
    "AgencyCreated": _obj({"agency": _ref("Agency"), "log_index": INDEX}),
    "AgencyList": _obj({"agencies": {"type": "array", "items": _ref("Agency")}}),
    "ReviewKeyUpload": _obj({"statement": _ref("Bytes")}, additionalProperties=False),
    "LogIndex": _obj({"log_index": INDEX}),
    "CertificateUpload": _obj({"certificate": _ref("Bytes")}, additionalProperties=False),
    "CertificateAccepted": _obj({"device_id": {"type": "string"}, "log_index": INDEX}),
    "RevocationUpload": _obj({"revocation": _ref("Bytes")}, additionalProperties=False),
    "Device": _obj(
        {
            "device_id": {"type": "string"},
            "agency": {"type": "string"},
            "certificate": _ref("Bytes"),
            "log_index": INDEX,
            "revoked": {"type": "boolean"},
            "revocation": {"oneOf": [_ref("Bytes"), {"type": "null"}]},
            "revocation_log_index": {"oneOf": [INDEX, {"type": "null"}]},
            "tree_size": INDEX,
            "inclusion_proof": PROOF,
        },
        required=[
            "certificate",
            "log_index",
            "revoked",
            "revocation",
            "tree_size",
            "inclusion_proof",
        ],
    ),
    "DeviceWithCheckpoint": {
        "allOf": [_ref("Device"), _obj({"checkpoint": NOTE})],
    },
    "DeviceList": _obj({"devices": {"type": "array", "items": _ref("Device")}, "checkpoint": NOTE}),
    "ChallengeRequest": _obj(
        {"device_id": {"type": "string", "minLength": 1, "maxLength": 200}},
        additionalProperties=False,
    ),
    "Challenge": _obj({"challenge": _ref("Bytes"), "expires_at": INDEX}),
    "TokenRequest": _obj(
        {
            "device_id": {"type": "string", "minLength": 1, "maxLength": 200},
            "challenge": _ref("Bytes"),
            "signature": _ref("Bytes"),
        },
        additionalProperties=False,
    ),
    "Token": _obj({"token": {"type": "string"}, "expires_at": INDEX}),
    "SendRequest": _obj(
        {
            "envelope": _ref("Bytes"),
            # Keyed hashes of the notice's case reference, one per party agency that can
            # compute it (crypto/PROTOCOL.md section 10, legal hold).
            "case_tags": {"type": "array", "items": _ref("Bytes"), "maxItems": 16},
        },
        required=["envelope"],
        additionalProperties=False,
    ),
    "SendReceipt": _obj(
        {
            "message_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            "envelope_hash": _ref("Bytes"),
            "log_index": INDEX,
            "received_at": INDEX,
        }
    ),
    "Message": _obj(
        {
            "cursor": INDEX,
            "message_id": {"type": "string"},
            "envelope": _ref("Bytes"),
            "log_index": INDEX,
            "received_at": INDEX,
            "acknowledged": {"type": "boolean"},
            "tree_size": INDEX,
            "inclusion_proof": PROOF,
        }
    ),
    "MessagePage": _obj(
        {
            "messages": {"type": "array", "items": _ref("Message")},
            "next_cursor": {"oneOf": [INDEX, {"type": "null"}]},
            "checkpoint": NOTE,
        }
    ),
    "CheckpointAnswer": _obj(
        {"checkpoint": NOTE, "size": INDEX, "cosigned": {"oneOf": [NOTE, {"type": "null"}]}},
        required=["checkpoint", "size"],
    ),
    "ConsistencyProof": _obj({"proof": PROOF}),
    "InclusionProof": _obj(
        {"leaf_hash": _ref("Bytes"), "proof": PROOF, "index": INDEX, "size": INDEX},
        required=["leaf_hash", "proof"],
    ),
    "LogEntries": _obj(
        {
            "entries": {
                "type": "array",
                "items": _obj({"index": INDEX, "entry": _ref("LogEntry")}),
            }
        }
    ),
    "LogEntry": {
        "type": "object",
        "required": ["kind", "at"],
        "properties": {
            "kind": {
                "enum": [
                    "agency",
                    "review_key",
                    "certificate",
                    "revocation",
                    "envelope",
                    "ack",
                    "review_key_wrap",
                    "review",
                    "review_refused",
                    "retention",
                    "hold",
                    "hold_release",
                    "purge",
                ]
            },
            "at": INDEX,
        },
    },
    "PushNotice": _obj(
        {"type": {"const": "message"}, "message_id": {"type": "string"}, "cursor": INDEX}
    ),
    # Supervisor review (crypto/PROTOCOL.md section 12).
    "ReviewKeyWrapUpload": _obj({"wrap": _ref("Bytes")}, additionalProperties=False),
    "ReviewKeyWraps": _obj(
        {
            "wraps": {
                "type": "array",
                "items": _obj(
                    {"key_id": {"type": "string"}, "wrap": _ref("Bytes"), "log_index": INDEX}
                ),
            }
        }
    ),
    "ReviewTraffic": _obj(
        {
            "agency": {"type": "string"},
            "messages": {
                "type": "array",
                "items": _obj(
                    {
                        "message_id": {"type": "string"},
                        "sender": {"type": "string"},
                        "recipients": {
                            "type": "array",
                            "items": _obj(
                                {
                                    "device_id": {"type": "string"},
                                    "acknowledged_at": {"oneOf": [INDEX, {"type": "null"}]},
                                }
                            ),
                        },
                        "size": INDEX,
                        "log_index": INDEX,
                        "received_at": INDEX,
                    }
                ),
            },
        }
    ),
    "ReviewRequest": _obj(
        {
            "reason_hash": _ref("Bytes"),
            "requested_at": {"type": "integer", "minimum": 0, "maximum": 2**53 - 1},
            "signature": _ref("Bytes"),
        },
        additionalProperties=False,
    ),
    "ReviewRelease": _obj(
        {
            "message_id": {"type": "string"},
            "envelope": _ref("Bytes"),
            "envelope_log_index": INDEX,
            "envelope_inclusion_proof": PROOF,
            "review": _ref("LogEntry"),
            "log_index": INDEX,
            "tree_size": INDEX,
            "inclusion_proof": PROOF,
            "checkpoint": NOTE,
        }
    ),
    # Retention, legal hold and witnesses (crypto/PROTOCOL.md sections 9 and 10).
    "RetentionSetting": _obj(
        {"days": {"type": "integer", "minimum": 1, "maximum": 36500}}, additionalProperties=False
    ),
    "RetentionAnswer": _obj({"agency": {"type": "string"}, "days": INDEX, "log_index": INDEX}),
    "HoldRequest": _obj(
        {"case_tag": _ref("Bytes"), "reason_hash": _ref("Bytes")}, additionalProperties=False
    ),
    "HoldRelease": _obj({"case_tag": _ref("Bytes")}, additionalProperties=False),
    "Holds": _obj(
        {
            "holds": {
                "type": "array",
                "items": _obj(
                    {
                        "case_tag": _ref("Bytes"),
                        "placed_by": {"type": "string"},
                        "reason_hash": _ref("Bytes"),
                        "placed_at": INDEX,
                        "log_index": INDEX,
                    }
                ),
            }
        }
    ),
    "CosignatureUpload": _obj(
        {
            "checkpoint": {**NOTE, "maxLength": 65536},
            "witness_name": {"type": "string", "minLength": 1, "maxLength": 200},
            "witness_key": _ref("Bytes"),
        },
        additionalProperties=False,
    ),
    "CosignatureReceipt": _obj({"size": INDEX}),
    "CaseTags": _obj(
        {"case_tags": {"type": "array", "items": _ref("Bytes"), "minItems": 1, "maxItems": 16}},
        additionalProperties=False,
    ),
    "CaseTagsAnswer": _obj({"message_id": {"type": "string"}, "case_tags": INDEX}),
    "AuditRecords": _obj(
        {
            "records": {
                "type": "array",
                "items": _obj(
                    {"index": INDEX, "entry": _ref("LogEntry"), "inclusion_proof": PROOF}
                ),
            },
            "next": {
                "oneOf": [INDEX, {"type": "null"}],
                "description": "Where the next page starts, null at the end of the log. A page"
                " reads at most 10000 log entries, so it may hold no record and still have a"
                " next page.",
            },
            "tree_size": INDEX,
            "checkpoint": NOTE,
        }
    ),
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }


def _ok(schema: str, description: str = "Success") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, description: str, *, required: bool = False, minimum: int = 0) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "integer", "minimum": minimum},
    }


ADMIN = [{"adminToken": []}]
DEVICE = [{"deviceToken": []}]
BAD = {"400": _error("Malformed JSON, wrong types or invalid values")}
AUTH = {
    "401": _error("Missing, unknown or expired token"),
    "403": _error("Device revoked, or not allowed"),
}

PATHS: dict[str, Any] = {
    "/v1/health": {"get": {"operationId": "health", "responses": {"200": _ok("Health")}}},
    "/v1/server": {"get": {"operationId": "server", "responses": {"200": _ok("Server")}}},
    "/v1/openapi.json": {
        "get": {
            "operationId": "openapi",
            "responses": {
                "200": {
                    "description": "This document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
    "/v1/agencies": {
        "post": {
            "operationId": "registerAgency",
            "security": ADMIN,
            "requestBody": _body("AgencyRegistration"),
            "responses": {
                "201": _ok("AgencyCreated", "Registered and logged"),
                **BAD,
                "401": _error("Not the operator admin token"),
                "409": _error("agency_exists"),
                "413": _error("Body too large"),
                "422": _error("Review statement does not verify against the root key"),
            },
        },
        "get": {"operationId": "listAgencies", "responses": {"200": _ok("AgencyList")}},
    },
    "/v1/agencies/{code}": {
        "parameters": [_path("code")],
        "get": {
            "operationId": "getAgency",
            "responses": {"200": _ok("Agency"), "404": _error("unknown_agency")},
        },
    },
    "/v1/agencies/{code}/review-keys": {
        "parameters": [_path("code")],
        "post": {
            "operationId": "addReviewKey",
            "requestBody": _body("ReviewKeyUpload"),
            "responses": {
                "200": _ok("LogIndex", "Identical statement already registered"),
                "201": _ok("LogIndex", "Registered and logged"),
                **BAD,
                "404": _error("unknown_agency"),
                "422": _error("Statement does not verify against the agency root"),
            },
        },
    },
    "/v1/agencies/{code}/devices": {
        "parameters": [_path("code")],
        "get": {
            "operationId": "listAgencyDevices",
            "responses": {"200": _ok("DeviceList"), "404": _error("unknown_agency")},
        },
    },
    "/v1/certificates": {
        "post": {
            "operationId": "uploadCertificate",
            "requestBody": _body("CertificateUpload"),
            "responses": {
                "200": _ok("CertificateAccepted", "Identical certificate already registered"),
                "201": _ok("CertificateAccepted", "Registered and logged"),
                **BAD,
                "404": _error("unknown_agency"),
                "409": _error("device_exists: another certificate holds this device id"),
                "422": _error("Certificate does not verify against the agency root, or expired"),
            },
        }
    },
    "/v1/revocations": {
        "post": {
            "operationId": "uploadRevocation",
            "requestBody": _body("RevocationUpload"),
            "responses": {
                "200": _ok("LogIndex", "Identical revocation already registered"),
                "201": _ok("LogIndex", "Registered and logged"),
                **BAD,
                "404": _error("unknown_agency or unknown_device"),
                "409": _error("already_revoked"),
                "422": _error("Revocation does not verify, or names another certificate"),
            },
        }
    },
    "/v1/devices/{device_id}": {
        "parameters": [_path("device_id")],
        "get": {
            "operationId": "getDevice",
            "responses": {"200": _ok("DeviceWithCheckpoint"), "404": _error("unknown_device")},
        },
    },
    "/v1/auth/challenge": {
        "post": {
            "operationId": "authChallenge",
            "requestBody": _body("ChallengeRequest"),
            "responses": {
                "200": _ok("Challenge"),
                **BAD,
                "403": _error("device_revoked"),
                "404": _error("unknown_device"),
            },
        }
    },
    "/v1/auth/token": {
        "post": {
            "operationId": "authToken",
            "requestBody": _body("TokenRequest"),
            "responses": {
                "200": _ok("Token"),
                **BAD,
                "401": _error(
                    "unknown_challenge, challenge_used, challenge_expired, bad_signature"
                ),
                "403": _error("device_revoked"),
                "404": _error("unknown_device"),
            },
        }
    },
    "/v1/messages": {
        "post": {
            "operationId": "sendMessage",
            "security": DEVICE,
            "requestBody": _body("SendRequest"),
            "responses": {
                "200": _ok("SendReceipt", "Identical envelope already accepted: first answer"),
                "201": _ok("SendReceipt", "Stored, queued and logged"),
                **BAD,
                **AUTH,
                "409": _error("duplicate_message_id or duplicate_counter"),
                "413": _error("envelope_too_large"),
                "422": _error("Bad signature, unknown or revoked recipient, certificate mismatch"),
            },
        },
        "get": {
            "operationId": "fetchMessages",
            "security": DEVICE,
            "parameters": [
                _query("after", "Cursor: answer deliveries after this one (default 0)"),
                {**_query("limit", "Page size, 1..100 (default 50)", minimum=1)},
                {
                    "name": "all",
                    "in": "query",
                    "required": False,
                    "description": "1: include acknowledged messages",
                    "schema": {"enum": ["0", "1", "true", "false"]},
                },
            ],
            "responses": {"200": _ok("MessagePage"), **BAD, **AUTH},
        },
    },
    "/v1/messages/{message_id}/ack": {
        "parameters": [_path("message_id")],
        "post": {
            "operationId": "ackMessage",
            "security": DEVICE,
            "responses": {
                "200": _ok("LogIndex", "Acknowledged (again: same answer)"),
                **AUTH,
                "404": _error("unknown_message"),
            },
        },
    },
    "/v1/log/checkpoint": {
        "get": {"operationId": "checkpoint", "responses": {"200": _ok("CheckpointAnswer")}}
    },
    "/v1/log/cosignatures": {
        "post": {
            "operationId": "submitCosignature",
            "requestBody": _body("CosignatureUpload"),
            "responses": {
                "201": _ok("CosignatureReceipt", "Cosignature stored; served with the checkpoint"),
                **BAD,
                "409": _error("too_many_witnesses"),
                "422": _error("unknown_checkpoint or bad_signature"),
            },
        }
    },
    "/v1/agencies/{code}/retention": {
        "parameters": [_path("code")],
        "put": {
            "operationId": "setRetention",
            "security": ADMIN,
            "requestBody": _body("RetentionSetting"),
            "responses": {
                "200": _ok("RetentionAnswer", "Period set and logged"),
                **BAD,
                "401": _error("invalid_admin_token"),
                "404": _error("unknown_agency"),
            },
        },
    },
    "/v1/holds": {
        "post": {
            "operationId": "placeHold",
            "security": DEVICE,
            "requestBody": _body("HoldRequest"),
            "responses": {
                "201": _ok("LogIndex", "Hold placed and logged"),
                **BAD,
                **AUTH,
                "409": _error("hold_exists"),
            },
        },
        "get": {
            "operationId": "listHolds",
            "security": DEVICE,
            "responses": {"200": _ok("Holds"), **AUTH},
        },
    },
    "/v1/messages/{message_id}/case-tags": {
        "parameters": [_path("message_id")],
        "post": {
            "operationId": "addCaseTags",
            "security": DEVICE,
            "requestBody": _body("CaseTags"),
            "responses": {
                "200": _ok("CaseTagsAnswer", "Tags held (not logged)"),
                **BAD,
                **AUTH,
                "404": _error("unknown_message"),
            },
        },
    },
    "/v1/holds/release": {
        "post": {
            "operationId": "releaseHold",
            "security": DEVICE,
            "requestBody": _body("HoldRelease"),
            "responses": {
                "200": _ok("LogIndex", "Hold released and logged"),
                **BAD,
                **AUTH,
                "404": _error("unknown_hold"),
            },
        },
    },
    "/v1/log/consistency": {
        "get": {
            "operationId": "consistency",
            "parameters": [
                _query("from", "Older tree size (at least 1)", required=True, minimum=1),
                _query("to", "Newer tree size (default: current)"),
            ],
            "responses": {"200": _ok("ConsistencyProof"), **BAD},
        }
    },
    "/v1/log/proof": {
        "get": {
            "operationId": "inclusionProof",
            "parameters": [
                _query("index", "Leaf index", required=True),
                _query("size", "Tree size (default: current)", minimum=1),
            ],
            "responses": {"200": _ok("InclusionProof"), **BAD},
        }
    },
    "/v1/log/entries": {
        "get": {
            "operationId": "logEntries",
            "parameters": [
                _query("start", "First index", required=True),
                _query("end", "One past the last index (at most start + 1000)", required=True),
            ],
            "responses": {"200": _ok("LogEntries"), **BAD},
        }
    },
    "/v1/ws": {
        "get": {
            "operationId": "push",
            "description": "WebSocket upgrade; the server sends PushNotice objects as text frames.",
            "parameters": [
                {
                    "name": "token",
                    "in": "query",
                    "required": False,
                    "description": "Device token (or an Authorization header)",
                    "schema": {"type": "string"},
                }
            ],
            "responses": {"101": {"description": "Switching protocols"}, **AUTH},
        }
    },
    "/v1/review-keys/wraps": {
        "post": {
            "operationId": "uploadReviewKeyWrap",
            "requestBody": _body("ReviewKeyWrapUpload"),
            "responses": {
                "200": _ok("LogIndex", "Identical wrap already held"),
                "201": _ok("LogIndex", "Stored and logged"),
                **BAD,
                "404": _error("unknown_agency"),
                "409": _error("stale_review_key_wrap"),
                "422": _error("bad_signature, unknown_review_key or not_supervisor"),
            },
        },
        "get": {
            "operationId": "reviewKeyWraps",
            "security": DEVICE,
            "responses": {"200": _ok("ReviewKeyWraps"), **AUTH},
        },
    },
    "/v1/review/messages": {
        "get": {
            "operationId": "reviewTraffic",
            "security": DEVICE,
            "parameters": [
                {
                    "name": "officer",
                    "in": "query",
                    "required": False,
                    "description": "Officer id (own agency) or AGENCY:officer id",
                    "schema": {"type": "string"},
                },
                _query("from", "Received at or after (Unix seconds)"),
                _query("to", "Received before (Unix seconds)"),
                _query("limit", "At most this many, 1..1000 (default 500)", minimum=1),
            ],
            "responses": {"200": _ok("ReviewTraffic"), **BAD, **AUTH},
        }
    },
    "/v1/review/messages/{message_id}": {
        "parameters": [_path("message_id")],
        "post": {
            "operationId": "reviewMessage",
            "security": DEVICE,
            "requestBody": _body("ReviewRequest"),
            "responses": {
                "200": _ok("ReviewRelease", "Review logged; envelope released with the proof"),
                **BAD,
                **AUTH,
                "404": _error("unknown_message or envelope_purged"),
                "422": _error("bad_signature or stale_review_request"),
            },
        },
    },
    "/v1/audit/records": {
        "get": {
            "operationId": "auditRecords",
            "security": DEVICE,
            "parameters": [
                _query("after", "First log index to consider (default 0)"),
                _query("limit", "At most this many records, 1..1000 (default 500)", minimum=1),
            ],
            "responses": {"200": _ok("AuditRecords"), **BAD, **AUTH},
        }
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Liaison relay",
        "version": __version__,
        "description": (
            "Key directory, encrypted mailbox and Merkle log of the Liaison relay. "
            "Bytes are standard base64 with padding. Errors are {code, message}."
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


@cache
def _registry() -> Registry:
    resource = Resource.from_contents(DOCUMENT, default_specification=DRAFT202012)
    return Registry().with_resource(DOCUMENT_URI, resource)


def _inline(schema: Any) -> Any:
    """The schema with every components reference replaced by its target (none is recursive):
    validating then needs no reference lookups, which cost more than the checks themselves."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            return _inline(SCHEMAS[ref.rsplit("/", 1)[1]])
        return {key: _inline(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_inline(item) for item in schema]
    return schema


@cache
def validator(schema_name: str) -> Draft202012Validator:
    """A validator for components/schemas/`schema_name`, with every $ref resolved."""
    return Draft202012Validator(_inline(SCHEMAS[schema_name]))


Check = Callable[[Any], bool]
# Keywords that never make an instance invalid (annotations, in JSON Schema 2020-12).
_ANNOTATIONS = frozenset({"description", "contentEncoding", "title", "examples", "format"})
_TYPES: dict[str, Check] = {
    "object": lambda x: type(x) is dict,
    "array": lambda x: type(x) is list,
    "string": lambda x: type(x) is str,
    "integer": lambda x: type(x) is int,
    "boolean": lambda x: type(x) is bool,
}


def _quick_check(schema: Any) -> Check | None:
    """A plain-Python check that accepts only instances the schema accepts, or None when the
    schema uses a keyword it does not know. It may refuse more: `request_errors` then asks
    jsonschema, so answers and error messages are jsonschema's in every doubtful case."""
    if not isinstance(schema, dict):
        return None
    checks: list[Check] = []
    for key, value in schema.items():
        check = _keyword_check(key, value, schema)
        if check is None:
            return None
        checks.append(check)
    return lambda x: all(check(x) for check in checks)


def _keyword_check(key: str, value: Any, schema: dict[str, Any]) -> Check | None:
    if key in _ANNOTATIONS:
        return lambda x: True
    if key == "type":
        return _TYPES.get(value) if isinstance(value, str) else None
    if key == "properties":
        subs = {name: _quick_check(sub) for name, sub in value.items()}
        if any(sub is None for sub in subs.values()):
            return None
        return lambda x: (
            type(x) is not dict
            or all(
                name not in x or sub(x[name])  # type: ignore[misc]
                for name, sub in subs.items()
            )
        )
    if key == "required":
        return lambda x: type(x) is not dict or all(name in x for name in value)
    if key == "additionalProperties" and value is False:
        known = frozenset(schema.get("properties", {}))
        return lambda x: type(x) is not dict or known.issuperset(x)
    if key == "items":
        item = _quick_check(value)
        if item is None:
            return None
        return lambda x: type(x) is not list or all(item(i) for i in x)
    if key == "pattern":
        regex = re.compile(value)  # jsonschema's own test: re.search on the string
        return lambda x: type(x) is not str or regex.search(x) is not None
    bound = {"minLength": (str, 1), "maxLength": (str, -1), "minItems": (list, 1)}
    bound |= {"maxItems": (list, -1)}
    if key in bound and type(value) is int:
        kind, sign = bound[key]
        return lambda x: type(x) is not kind or (len(x) - value) * sign >= 0
    if key in ("minimum", "maximum") and type(value) is int:
        sign = 1 if key == "minimum" else -1
        # Floats are left to jsonschema (refused here); booleans are not numbers to it either.
        return lambda x: type(x) is not float and (type(x) is not int or (x - value) * sign >= 0)
    return None


@cache
def request_errors(schema_name: str) -> Callable[[Any], Any]:
    """`errors(body)`: None when the body is valid for components/schemas/`schema_name`, else
    jsonschema's first error. The common valid body passes a quick check, not jsonschema."""
    quick = _quick_check(_inline(SCHEMAS[schema_name]))
    full = validator(schema_name)

    def errors(body: Any) -> Any:
        if quick is not None and quick(body):
            return None
        return next(iter(full.iter_errors(body)), None)

    return errors


@cache
def response_validator(path: str, method: str, status: int) -> Draft202012Validator:
    """A validator for the documented JSON answer of (path template, method, status)."""
    response = PATHS[path][method.lower()]["responses"][str(status)]
    pointer = f"/paths/{path.replace('~', '~0').replace('/', '~1')}/{method.lower()}"
    pointer += f"/responses/{status}/content/application~1json/schema"
    if "content" not in response:
        raise KeyError(f"{method} {path} {status} has no JSON body")
    return Draft202012Validator({"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=_registry())
