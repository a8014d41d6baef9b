"""The relay's request and response bodies as msgspec Structs: requests are decoded and
validated by them, and the OpenAPI document's components are generated from them.

Bytes travel as standard base64 strings with padding. The schema's pattern refuses what is
plainly not base64; the service decodes each field with the one strict decoder
(`crypto.encoding.b64d`, through `decode_field`), which also refuses non-canonical text.
Integers must be JSON integers: msgspec refuses 1.0 where an integer is due.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import msgspec
from msgspec import Meta, Struct

from crypto.encoding import MAX_SAFE_INTEGER, b64d
from crypto.errors import MalformedError
from liaison.server.errors import BadRequest

_B64_PATTERN = "^[A-Za-z0-9+/]*={0,2}$"
_B64_SCHEMA = {"contentEncoding": "base64"}
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


class _Base64Text:
    """Marks a field checked against _B64_PATTERN by `Request.__post_init__`, not by msgspec."""


BASE64_TEXT = _Base64Text()

# Base64 of any length. Its pattern is published in the schema and checked by
# `is_base64_text`, which answers the same as the regex at C speed: the regex costs about
# 25 us on a 3 KiB envelope, as much as the rest of the request decoding together.
Bytes = Annotated[
    str, Meta(extra_json_schema={"pattern": _B64_PATTERN, **_B64_SCHEMA}), BASE64_TEXT
]
# The length is checked here, canonical form by the decoder: non-canonical text of the right
# length is refused as malformed_base64, like any other field's.
Bytes32 = Annotated[str, Meta(pattern="^[A-Za-z0-9+/]{43}=$", extra_json_schema=_B64_SCHEMA)]
Bytes64 = Annotated[str, Meta(pattern="^[A-Za-z0-9+/]{86}==$", extra_json_schema=_B64_SCHEMA)]
Index = Annotated[int, Meta(ge=0)]
Proof = list[Bytes]
Note = Annotated[str, Meta(description="C2SP signed note holding a tlog-checkpoint")]
CaseTagList = Annotated[list[Bytes], Meta(max_length=16)]
BlobId = Annotated[str, Meta(pattern="^[0-9a-f]{64}$", description="hex of the blob hash")]
BlobIdList = Annotated[list[BlobId], Meta(max_length=50)]
LOG_KINDS = (
    "agency",
    "review_key",
    "certificate",
    "revocation",
    "envelope",
    "ack",
    "review_key_wrap",
    "review",
    "review_refused",
    "review_refusals_counted",
    "retention",
    "hold",
    "hold_release",
    "purge",
    # federation (PROTOCOL.md §16.9)
    "home",
    "peer",
    "forwarded_out",
    "forwarded_in",
    "peer_ack",
    "peer_review",
)
# A log entry is canonical JSON whose fields depend on its kind (crypto/PROTOCOL.md, log entries).
LogEntry = Annotated[
    dict[str, Any],
    Meta(
        extra_json_schema={
            "required": ["kind", "at"],
            "properties": {
                "kind": {"enum": list(LOG_KINDS)},
                "at": {"type": "integer", "minimum": 0},
            },
        }
    ),
]


def is_base64_text(text: str) -> bool:
    """Whether `text` matches _B64_PATTERN as JSON Schema (`re.search`) reads it, where `$`
    also matches before a final newline. Only the alphabet: `b64d` checks the rest."""
    if text.endswith("\n"):
        text = text[:-1]
    if not text.isascii():
        return False
    raw = text.encode()
    stripped = raw.rstrip(b"=")
    return len(raw) - len(stripped) <= 2 and not stripped.translate(None, _B64_ALPHABET)


def _marked(hint: Any) -> bool:
    return get_origin(hint) is Annotated and BASE64_TEXT in hint.__metadata__


@cache
def _base64_fields(model: type[Request]) -> tuple[tuple[str, bool], ...]:
    """(name, is a list) of every Bytes field of `model`."""
    found = []
    for name, hint in get_type_hints(model, include_extras=True).items():
        if _marked(hint):
            found.append((name, False))
        else:
            inner = get_args(hint)[0] if get_origin(hint) is Annotated else hint
            if get_origin(inner) is list and _marked(get_args(inner)[0]):
                found.append((name, True))
    return tuple(found)


class Request(Struct, forbid_unknown_fields=True):
    """A request body: unknown fields are refused, Bytes fields hold base64 text."""

    def __post_init__(self) -> None:
        # msgspec turns this ValueError into a ValidationError: invalid_request.
        for name, many in _base64_fields(type(self)):
            value = getattr(self, name)
            for text in value if many else (value,):
                if not is_base64_text(text):
                    raise ValueError(f"Expected base64 text (standard alphabet) in `{name}`")


# --- requests -------------------------------------------------------------------------------


class AgencyRegistration(Request):
    code: Annotated[str, Meta(min_length=1, max_length=64)]
    country: Annotated[str, Meta(pattern="^[A-Z]{2}$")]
    name_vi: Annotated[str, Meta(min_length=1, max_length=300)]
    name_zh: Annotated[str, Meta(min_length=1, max_length=300)]
    root_key: Bytes32
    review_statement: Bytes


class ReviewKeyUpload(Request):
    statement: Bytes


class CertificateUpload(Request):
    certificate: Bytes


class RevocationUpload(Request):
    revocation: Bytes


DeviceId = Annotated[str, Meta(min_length=1, max_length=200)]


class ChallengeRequest(Request):
    device_id: DeviceId


class TokenRequest(Request):
    device_id: DeviceId
    challenge: Bytes32
    signature: Bytes64


class SendRequest(Request):
    envelope: Bytes
    # Keyed hashes of the notice's case reference, one per party agency that can compute it
    # (crypto/PROTOCOL.md section 10, legal hold).
    case_tags: CaseTagList = []
    # Attachment blobs the envelope's payload references (PROTOCOL.md section 14.6): complete
    # blobs uploaded by the sender's agency; recipients may then fetch them.
    blobs: BlobIdList = []


class ReviewKeyWrapUpload(Request):
    wrap: Bytes


class ReviewRequest(Request):
    reason_hash: Bytes32
    requested_at: Annotated[int, Meta(ge=0, le=MAX_SAFE_INTEGER)]
    signature: Bytes64


class RetentionSetting(Request):
    days: Annotated[int, Meta(ge=1, le=36500)]


class HoldRequest(Request):
    case_tag: Bytes32
    reason_hash: Bytes32


class HoldRelease(Request):
    case_tag: Bytes32


class CosignatureUpload(Request):
    checkpoint: Annotated[
        str, Meta(max_length=65536, description="C2SP signed note holding a tlog-checkpoint")
    ]
    witness_name: Annotated[str, Meta(min_length=1, max_length=200)]
    witness_key: Bytes32


class CaseTags(Request):
    case_tags: Annotated[list[Bytes], Meta(min_length=1, max_length=16)]


# --- responses ------------------------------------------------------------------------------


class Error(Struct):
    """Every refusal: a stable `code` (docs/api.md lists them) and an English `message`."""

    code: Annotated[str, Meta(pattern="^[a-z][a-z0-9_]*$")]
    message: str


class DatabaseCheck(Struct):
    """Whether the database answered `SELECT 1` within the bound, and how long it took."""

    status: Literal["ok", "timeout", "unavailable"]
    seconds: float


class WriterCheck(Struct):
    """The group-commit writer: writes waiting for their commit, and the oldest one's wait."""

    status: Literal["ok", "behind", "stopped"]
    waiting: int
    oldest_wait_seconds: float


class DistrustedPeer(Struct):
    origin: str
    reason: str | None


class Health(Struct):
    """Ready: the database answers and the writer keeps up ("degraded": a peer relay's
    forwarding backlog is older than the threshold, or a peer is distrusted for a forked log,
    issue 15; the relay itself is ready)."""

    status: Literal["ok", "degraded"]
    version: str
    database: DatabaseCheck
    writer: WriterCheck
    # Peer relays named when "degraded" (absent when there are none).
    degraded_peers: list[str] | None = None
    # Peer relays distrusted for a forked log (PROTOCOL.md §16.7), and why, in words.
    distrusted_peers: list[DistrustedPeer] | None = None
    reason: str | None = None


class NotReady(Struct):
    """Not ready (503): what was checked, and in `message` why the relay is not ready."""

    status: Literal["unavailable"]
    version: str
    database: DatabaseCheck
    writer: WriterCheck
    code: Literal["not_ready"]
    message: str


class Liveness(Struct):
    """The process is up and answers."""

    status: Literal["ok"]
    version: str


class PeerWitness(Struct):
    """A peer relay, which witnesses this log (PROTOCOL.md §16.7): its cosignatures are its
    log key's over `origin` as witness name. A client checks the key by its fingerprint."""

    origin: str
    log_public_key: Bytes
    fingerprint: str


class Server(Struct):
    origin: str
    log_key_name: str
    log_public_key: Bytes
    log_key_id: Bytes
    version: str
    peers: list[PeerWitness] = []


class Agency(Struct):
    code: str
    country: str
    name_vi: str
    name_zh: str
    root_key: Bytes
    review_statements: list[Bytes]
    log_index: Index


class AgencyCreated(Struct):
    agency: Agency
    log_index: Index


class AgencyList(Struct):
    agencies: list[Agency]


class LogIndex(Struct):
    log_index: Index


class CertificateAccepted(Struct):
    device_id: str
    log_index: Index


class Device(Struct):
    device_id: str
    agency: str
    certificate: Bytes
    log_index: Index
    revoked: bool
    revocation: Bytes | None
    revocation_log_index: Index | None
    tree_size: Index
    inclusion_proof: Proof


class DeviceWithCheckpoint(Device):
    checkpoint: Note


class DeviceList(Struct):
    devices: list[Device]
    checkpoint: Note


class Challenge(Struct):
    challenge: Bytes
    expires_at: Index


class Token(Struct):
    token: str
    expires_at: Index


class SendReceipt(Struct):
    message_id: Annotated[str, Meta(pattern="^[0-9a-f]{32}$")]
    envelope_hash: Bytes
    log_index: Index
    received_at: Index


class Message(Struct):
    cursor: Index
    message_id: str
    envelope: Bytes
    log_index: Index
    received_at: Index
    acknowledged: bool
    tree_size: Index
    inclusion_proof: Proof


class MessagePage(Struct):
    messages: list[Message]
    next_cursor: Index | None
    checkpoint: Note


class CheckpointAnswer(Struct):
    checkpoint: Note
    size: Index
    # The newest cosigned note (witnesses lag behind the log), null before any cosignature.
    cosigned: Note | None
    # Per registered witness key, the newest note it cosigned with its line (issue 14, defect 1).
    witnessed: list[Note]


class ConsistencyProof(Struct):
    proof: Proof


class InclusionProof(Struct):
    leaf_hash: Bytes
    proof: Proof
    index: Index
    size: Index


class IndexedLogEntry(Struct):
    index: Index
    entry: LogEntry


class LogEntries(Struct):
    entries: list[IndexedLogEntry]


class PushNotice(Struct):
    """Sent on the WebSocket of GET /v1/ws when a message is queued for the device."""

    type: Literal["message"]
    message_id: str
    cursor: Index


class ReviewKeyWrapRecord(Struct):
    key_id: str
    wrap: Bytes
    log_index: Index


class ReviewKeyWraps(Struct):
    wraps: list[ReviewKeyWrapRecord]


class TrafficRecipient(Struct):
    device_id: str
    acknowledged_at: Index | None


class TrafficMessage(Struct):
    message_id: str
    sender: str
    recipients: list[TrafficRecipient]
    size: Index
    log_index: Index
    received_at: Index


class ReviewTraffic(Struct):
    agency: str
    messages: list[TrafficMessage]


class ReviewRelease(Struct):
    message_id: str
    envelope: Bytes
    envelope_log_index: Index
    envelope_inclusion_proof: Proof
    review: LogEntry
    log_index: Index
    tree_size: Index
    inclusion_proof: Proof
    checkpoint: Note


class RetentionAnswer(Struct):
    agency: str
    days: Index
    log_index: Index


class Hold(Struct):
    case_tag: Bytes
    placed_by: str
    reason_hash: Bytes
    placed_at: Index
    log_index: Index


class Holds(Struct):
    holds: list[Hold]


class CosignatureReceipt(Struct):
    size: Index


class CaseTagsAnswer(Struct):
    message_id: str
    case_tags: Index


class AuditRecord(Struct):
    index: Index
    entry: LogEntry
    inclusion_proof: Proof


class AuditRecords(Struct):
    records: list[AuditRecord]
    next: Annotated[
        Index | None,
        Meta(
            description="Where the next page starts, null at the end of the log. A page reads"
            " at most 10000 log entries, so it may hold no record and still have a next page."
        ),
    ]
    tree_size: Index
    checkpoint: Note


# --- attachments (PROTOCOL.md section 14.6) ------------------------------------------------


class UploadRequest(Request):
    size: Annotated[int, Meta(ge=0, description="bytes of the blob (ciphertext) to upload")]


class UploadCompletion(Request):
    blob: BlobId


class UploadState(Struct):
    upload_id: Annotated[str, Meta(pattern="^[0-9a-f]{32}$")]
    offset: Index
    size: Index


class UploadOffset(Struct):
    offset: Index


class BlobStored(Struct):
    blob: BlobId
    size: Index


# --- decoding -------------------------------------------------------------------------------

RequestT = TypeVar("RequestT", bound=Request)


@cache
def _decoder(model: type[RequestT]) -> msgspec.json.Decoder[RequestT]:
    return msgspec.json.Decoder(model)


def decode_request(model: type[RequestT], raw: bytes) -> RequestT:
    """The body `raw` as a `model`, else 400 malformed_json (not JSON) or invalid_request."""
    try:
        return _decoder(model).decode(raw)
    except msgspec.ValidationError as exc:
        invalid = exc
    except (msgspec.DecodeError, RecursionError) as exc:
        raise BadRequest("malformed_json", "The request body is not valid JSON.") from exc
    # Decoding into the model stops at the first wrong value; the body may also be no JSON at
    # all further on, and that is the answer then (checked only on this refusal path).
    try:
        msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise BadRequest("malformed_json", "The request body is not valid JSON.") from exc
    raise BadRequest("invalid_request", f"Invalid request: {invalid}") from invalid


def decode_field(text: str, field_name: str, *, length: int | None = None) -> bytes:
    """The bytes of a base64 request field (of exactly `length` bytes if given), else 400."""
    try:
        raw = b64d(text)
    except MalformedError as exc:
        raise BadRequest("malformed_base64", f"Field {field_name} is not valid base64.") from exc
    if length is not None and len(raw) != length:
        raise BadRequest("invalid_request", f"Field {field_name} must be {length} bytes.")
    return raw


# --- federation, relay to relay (PROTOCOL.md §16; liaison/server/federation) -----------------
# Documentation of the bodies: the routes authenticate the signed request (§16.3) before they
# read the body, and parse it themselves (liaison/server/federation/inbound.py).


class FederationPeering(Struct):
    origin: str
    log_public_key: str
    fingerprint: str
    safety_number: str
    # null for an unsigned request; true for a peer's signed one (others are refused 403)
    peered: bool | None = None
    # the size of the caller's log this relay last verified (signed requests only)
    checkpoint_size: int | None = None


class ConsistencyFrom(Struct):
    # The proof from size `from` to the checkpoint's (empty for 0, the same size, or a size
    # the log never reached).
    from_: Index = msgspec.field(name="from")
    proof: list[Bytes] = []


class FederationWitness(Struct):
    """This log's checkpoint for a witnessing peer, with a consistency proof from each size it
    asked for (those of the checkpoints of this log it holds)."""

    checkpoint: str
    size: Index
    consistency: list[ConsistencyFrom]


class FederationCosignature(Request):
    checkpoint: Annotated[
        str, Meta(max_length=65536, description="This log's note with the peer's cosignature")
    ]


class FederationItem(Request):
    message_id: str
    envelope: str
    envelope_hash: str
    envelope_entry: str
    envelope_index: int
    envelope_proof: list[str]
    certificate: str
    certificate_entry: str
    certificate_index: int
    certificate_proof: list[str]


class ConsistencyAlternative(Struct):
    """A consistency proof to the batch's checkpoint from another size (§16.6)."""

    proof: list[str]
    from_: int = msgspec.field(name="from")


class FederationBatch(Request):
    checkpoint: str
    consistency_from: int
    consistency_proof: list[str]
    items: list[FederationItem]
    consistency_alternatives: list[ConsistencyAlternative] = []


class FederationItemResult(Struct):
    message_id: str | None
    status: Literal["logged", "refused", "not_attempted"]
    ack: str | None = None  # the signed `logged` PeerAck, base64 (status logged)
    code: str | None = None  # why (status refused)


class FederationBatchAnswer(Struct):
    results: list[FederationItemResult]
    checkpoint_size: int | None


class FederationAcks(Request):
    acks: list[str]


class FederationAcksAnswer(Struct):
    kept: int


class FederationReview(Request):
    """A supervisor's `review` entry of the sending relay's log, forwarded (§16.6)."""

    checkpoint: str
    consistency_from: int
    consistency_proof: list[str]
    review_entry: str
    review_index: int
    review_proof: list[str]
    certificate: str
    certificate_entry: str
    certificate_index: int
    certificate_proof: list[str]


class FederationReviewAnswer(Struct):
    message_id: str
    log_index: int  # of the `peer_review` entry in the answering relay's log
    logged: bool  # false: this review entry was logged before (the same index answered)
    checkpoint_size: int | None


class LoggedEntry(Struct):
    """One relay's log entry of a cross-border message, proved against its checkpoint."""

    origin: str
    index: int
    entry: str  # the leaf data, base64
    tree_size: int
    inclusion_proof: list[str]
    checkpoint: str


class ForeignLoggedEntry(Struct):
    """A peer's entry as the peer answered it (or its refusal), with the peer's log key from
    the own relay's peer table: a convenience, pinned by the home statement (§16.4)."""

    origin: str
    log_public_key: str
    index: int | None = None
    entry: str | None = None
    tree_size: int | None = None
    inclusion_proof: list[str] | None = None
    checkpoint: str | None = None
    status: int | None = None  # the peer's refusal, when it gave no entry
    code: str | None = None


class CrossBorderEntries(Struct):
    message_id: str
    own: LoggedEntry
    peers: list[ForeignLoggedEntry]


class ProvedLeaf(Struct):
    index: int
    entry: str  # the leaf data, base64
    inclusion_proof: list[str]


class HomeStatementHeld(Struct):
    statement: str
    log_index: int


class LoggedStatement(Struct):
    statement: str
    log_index: int


class ForeignDevice(Struct):
    certificate: str
    log_index: int
    revocation: str | None
    revocation_log_index: int | None


class AgencyDirectory(Struct):
    """A foreign agency's directory from its home relay's log (PROTOCOL.md §16.5): every object
    with its entry proved against one checkpoint; `relay` is added by the own relay (a hint)."""

    agency: str
    root_key: str
    agency_log_index: int
    home: HomeStatementHeld
    review_statements: list[LoggedStatement]
    devices: list[ForeignDevice]
    entries: list[ProvedLeaf]
    tree_size: int
    checkpoint: str
    consistency_from: int | None
    consistency_proof: list[str]
    relay: str | None = None


class HomeStatementUpload(Request):
    statement: str  # the root-signed HomeStatement, base64 (PROTOCOL.md §16.4)


class HomeStatementAccepted(Struct):
    agency: str
    log_index: int  # of the `home` entry
    issued_at: int


class HomeStatementAnswer(Struct):
    agency: str
    statement: str
    issued_at: int
    log_index: int


class FederationBlobAnswer(Struct):
    """What the receiving relay holds of a blob from the asking peer (PROTOCOL.md §16.6)."""

    blob: str
    stored: bool
    offset: int
    size: int | None
