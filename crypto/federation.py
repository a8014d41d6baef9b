"""Relay-to-relay protocol pieces (PROTOCOL.md §16): request signatures, home statements, peer acks.

Sans-io: the caller passes the clock reading, the random source and the replay cache, and turns
HTTP requests into (method, target, headers, body) and back.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Protocol

from nacl.signing import SigningKey

from crypto.certs import RootSigned, parse_root_signed, verify_signed
from crypto.encoding import (
    MAX_SAFE_INTEGER,
    b64d,
    b64e,
    canonical_json,
    expect_keys,
    get_bytes,
    get_int,
    get_str,
    parse_canonical_json,
    signed_message,
)
from crypto.errors import (
    ContentDigestMismatch,
    HomeStatementError,
    MalformedError,
    MisdirectedRequest,
    PeerAckSignatureError,
    ReplayCacheFull,
    RequestClockSkew,
    RequestMalformed,
    RequestReplayed,
    RequestSignatureError,
    UnknownPeer,
    UnsupportedVersion,
)
from crypto.keys import (
    KEY_SIZE,
    Rng,
    RootKey,
    compact_fingerprint,
    draw_random,
    safety_number,
    validate_agency_code,
    validate_device_id,
)
from crypto.labels import LABEL_FEDERATION_REQUEST, LABEL_HOME_STATEMENT, LABEL_PEER_ACK

__all__ = [
    "COVERED_COMPONENTS",
    "MAX_CLOCK_SKEW",
    "SIGNATURE_TAG",
    "HomeStatement",
    "InMemoryReplayCache",
    "PeerAck",
    "RelayIdentity",
    "ReplayCache",
    "StreamedRequest",
    "VerifiedRequest",
    "content_digest",
    "content_digest_of",
    "issue_home_statement",
    "sign_peer_ack",
    "sign_request",
    "signature_base",
    "validate_relay_origin",
    "verify_request",
    "verify_streamed_request",
]

VERSION = 1
SIGNATURE_SIZE = 64
NONCE_BYTES = 16
MAX_CLOCK_SKEW = 300
"""Seconds a request's `created` may differ from the receiver's clock, either way (§16.3)."""
SIGNATURE_TAG = "liaison-federation/v1"
SIGNATURE_LABEL = "liaison"  # the dictionary key in Signature-Input and Signature
COVERED_COMPONENTS = (
    "@method",
    "@path",
    "@query",
    "content-digest",
    "liaison-origin",
    "liaison-destination",
)
HEADER_ORIGIN = "Liaison-Origin"
HEADER_DESTINATION = "Liaison-Destination"
HEADER_CONTENT_DIGEST = "Content-Digest"
HEADER_SIGNATURE_INPUT = "Signature-Input"
HEADER_SIGNATURE = "Signature"
_SIGNED_HEADERS = (
    HEADER_ORIGIN,
    HEADER_DESTINATION,
    HEADER_CONTENT_DIGEST,
    HEADER_SIGNATURE_INPUT,
    HEADER_SIGNATURE,
)
ACK_EVENTS = ("logged", "acknowledged")

# A relay origin is both a checkpoint key name (no spaces, no '+') and an HTTP header value
# covered verbatim by the signature base, so it is restricted to a plain ASCII subset.
_ORIGIN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~:/-]{0,254}")
_METHOD_RE = re.compile(r"[A-Z]{1,16}")
# Request-target as sent (percent-encoded): visible ASCII, starts with '/', no fragment.
_PATH_RE = re.compile(r"/[\x21-\x7e]*")
_NONCE_RE = re.compile(r"[0-9a-f]{32}")
_MESSAGE_ID_RE = re.compile(r"[0-9a-f]{32}")
_DIGEST_RE = re.compile(r"sha-256=:([A-Za-z0-9+/]{43}=):")
_SIGNATURE_RE = re.compile(r"liaison=:([A-Za-z0-9+/]{86}==):")
_SIGNATURE_INPUT_RE = re.compile(
    r'liaison=\((.*)\);created=(0|[1-9][0-9]{0,14});nonce="(.*)";tag="(.*)"'
)


def validate_relay_origin(origin: object) -> str:
    """A relay origin usable in federation: 1..255 characters of `[A-Za-z0-9._~:/-]`."""
    if not isinstance(origin, str) or _ORIGIN_RE.fullmatch(origin) is None:
        raise MalformedError("invalid relay origin")
    return origin


def _check_time(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SAFE_INTEGER:
        raise MalformedError(f"{what} must be a non-negative integer")
    return value


def _check_public_key(value: object, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != KEY_SIZE:
        raise MalformedError(f"{what} must be {KEY_SIZE} bytes")
    return value


# --- Relay identity and its fingerprints -------------------------------------------------------


@dataclass(frozen=True)
class RelayIdentity:
    """A relay as peers know it: its origin (also its log key name) and its Ed25519 log key."""

    origin: str
    public_key: bytes

    def __post_init__(self) -> None:
        validate_relay_origin(self.origin)
        _check_public_key(self.public_key, "relay public key")

    @property
    def key_name(self) -> str:
        return self.origin

    @property
    def compact_fingerprint(self) -> str:
        return compact_fingerprint(self.public_key)

    @property
    def safety_number(self) -> str:
        return safety_number(self.public_key)

    def matches_fingerprint(self, text: str) -> bool:
        """Whether `text` is this key's compact fingerprint (any case, spaces ignored) or its
        30-digit safety number (spaces ignored): the two forms of §2 an operator reads out."""
        if not isinstance(text, str):
            return False
        given = "".join(text.split()).upper()
        if given.isdigit():
            expected = self.safety_number.replace(" ", "")
        else:
            expected = self.compact_fingerprint
        return hmac.compare_digest(given.encode("ascii", "replace"), expected.encode("ascii"))


# --- Server-to-server request signatures (RFC 9421 profile) ------------------------------------


def content_digest(body: bytes) -> str:
    """The Content-Digest header value of `body` (RFC 9530): `sha-256=:<base64>:`."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise MalformedError("request body must be bytes")
    return content_digest_of(hashlib.sha256(bytes(body)).digest())


def content_digest_of(body_sha256: bytes) -> str:
    """The Content-Digest value of a body whose SHA-256 is already known: a streamed body
    (§16.6, blobs), hashed from its file before the request starts."""
    if not isinstance(body_sha256, bytes) or len(body_sha256) != hashlib.sha256().digest_size:
        raise MalformedError("a body digest is 32 bytes of SHA-256")
    return f"sha-256=:{b64e(body_sha256)}:"


def _split_target(target: str) -> tuple[str, str]:
    """(@path, @query) of a request-target as sent: the query is '?…', or '?' when absent."""
    if not isinstance(target, str) or _PATH_RE.fullmatch(target) is None or "#" in target:
        raise RequestMalformed("request target must be a visible-ASCII path starting with '/'")
    path, sep, query = target.partition("?")
    return path, "?" + query


def _signature_params(created: int, nonce: str) -> str:
    components = " ".join(f'"{name}"' for name in COVERED_COMPONENTS)
    return f'({components});created={created};nonce="{nonce}";tag="{SIGNATURE_TAG}"'


def signature_base(
    *,
    method: str,
    target: str,
    digest: str,
    sender_origin: str,
    recipient_origin: str,
    created: int,
    nonce: str,
) -> bytes:
    """The RFC 9421 §2.5 signature base of a federation request: one line per covered
    component, then the `@signature-params` line; lines joined by LF, no final LF."""
    if not isinstance(method, str) or _METHOD_RE.fullmatch(method) is None:
        raise RequestMalformed("method must be an upper-case token")
    path, query = _split_target(target)
    validate_relay_origin(sender_origin)
    validate_relay_origin(recipient_origin)
    _check_time(created, "created")
    if not isinstance(nonce, str) or _NONCE_RE.fullmatch(nonce) is None:
        raise RequestMalformed("nonce must be 32 lower-case hex digits")
    if not isinstance(digest, str) or _DIGEST_RE.fullmatch(digest) is None:
        raise RequestMalformed("malformed Content-Digest")
    values = (method, path, query, digest, sender_origin, recipient_origin)
    lines = [f'"{name}": {value}' for name, value in zip(COVERED_COMPONENTS, values, strict=True)]
    lines.append(f'"@signature-params": {_signature_params(created, nonce)}')
    return "\n".join(lines).encode("ascii")


def sign_request(
    *,
    relay_key: SigningKey,
    sender_origin: str,
    recipient_origin: str,
    method: str,
    target: str,
    body: bytes | None = None,
    body_sha256: bytes | None = None,
    now: int,
    rng: Rng | None = None,
) -> dict[str, str]:
    """The five headers that authenticate a request from `sender_origin` to `recipient_origin`.

    Give the `body`, or for a body streamed from a file its SHA-256 (`body_sha256`), computed
    beforehand. `now` is the sender's clock (becomes `created`); `rng` draws the 16-byte nonce.
    """
    if (body is None) == (body_sha256 is None):
        raise MalformedError("give the request body or its SHA-256, not both")
    nonce = draw_random(rng, NONCE_BYTES).hex()
    if body is not None:
        digest = content_digest(body)
    else:
        assert body_sha256 is not None
        digest = content_digest_of(body_sha256)
    base = signature_base(
        method=method,
        target=target,
        digest=digest,
        sender_origin=sender_origin,
        recipient_origin=recipient_origin,
        created=now,
        nonce=nonce,
    )
    signature = bytes(relay_key.sign(signed_message(LABEL_FEDERATION_REQUEST, base)).signature)
    return {
        HEADER_ORIGIN: sender_origin,
        HEADER_DESTINATION: recipient_origin,
        HEADER_CONTENT_DIGEST: digest,
        HEADER_SIGNATURE_INPUT: f"{SIGNATURE_LABEL}={_signature_params(now, nonce)}",
        HEADER_SIGNATURE: f"{SIGNATURE_LABEL}=:{b64e(signature)}:",
    }


class ReplayCache(Protocol):
    """Remembers (sender origin, nonce) pairs until they expire. `remember` must check and
    insert atomically (a database implementation: insert, conflict means seen)."""

    def remember(self, sender: str, nonce: str, *, expires_at: int, now: int) -> bool:
        """True if the pair was new (and is now remembered until `expires_at`), False if it
        was seen and has not expired. Raises ReplayCacheFull rather than forget a live pair."""
        ...


class InMemoryReplayCache:
    """A bounded in-memory replay cache for one relay process (tests, single-process relays)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self.max_entries = max_entries
        self._expiry: dict[tuple[str, str], int] = {}
        self._heap: list[tuple[int, tuple[str, str]]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    def _purge(self, now: int) -> None:
        while self._heap and self._heap[0][0] < now:
            expires_at, key = heapq.heappop(self._heap)
            if self._expiry.get(key) == expires_at:
                del self._expiry[key]

    def remember(self, sender: str, nonce: str, *, expires_at: int, now: int) -> bool:
        self._purge(now)
        key = (sender, nonce)
        if key in self._expiry:
            return False
        if len(self._expiry) >= self.max_entries:
            # Evicting a live nonce would let its request be replayed: refuse instead.
            raise ReplayCacheFull("too many recent federation requests")
        self._expiry[key] = expires_at
        heapq.heappush(self._heap, (expires_at, key))
        return True


@dataclass(frozen=True)
class VerifiedRequest:
    """What a verified request proves: which peer sent it, when, with which nonce."""

    sender_origin: str
    created: int
    nonce: str


def _header_values(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
) -> dict[str, str]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    wanted = {name.lower(): name for name in _SIGNED_HEADERS}
    found: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        if key not in wanted:
            continue
        if wanted[key] in found:
            raise RequestMalformed(f"header {wanted[key]} appears more than once")
        if not isinstance(value, str):
            raise RequestMalformed(f"header {wanted[key]} must be text")
        found[wanted[key]] = value
    missing = [name for name in _SIGNED_HEADERS if name not in found]
    if missing:
        raise RequestMalformed(f"missing headers: {', '.join(missing)}")
    return found


def verify_request(
    *,
    method: str,
    target: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes,
    own_origin: str,
    peer_key: Callable[[str], bytes | None],
    now: int,
    replay_cache: ReplayCache,
    max_clock_skew: int = MAX_CLOCK_SKEW,
) -> VerifiedRequest:
    """Authenticate a federation request addressed to `own_origin`, in the order of §16.3.

    `peer_key(origin)` answers the log key of a mutual peer, or None. Raises
    RequestMalformed, MisdirectedRequest, UnknownPeer, RequestClockSkew,
    ContentDigestMismatch, RequestSignatureError, RequestReplayed or ReplayCacheFull.
    """
    verified, _digest = _verify(
        method=method,
        target=target,
        headers=headers,
        body=body,
        own_origin=own_origin,
        peer_key=peer_key,
        now=now,
        replay_cache=replay_cache,
        max_clock_skew=max_clock_skew,
    )
    return verified


@dataclass(frozen=True)
class StreamedRequest:
    """A request whose headers verified (§16.3 steps 1–4, 6, 7) and whose body is still to be
    read: its bytes must hash to `body_sha256`, checked by `check_body` once all arrived."""

    request: VerifiedRequest
    body_sha256: bytes

    def check_body(self, received_sha256: bytes) -> None:
        """Step 5, at the end of the stream: ContentDigestMismatch unless the bytes read hash
        to the signed digest."""
        if not hmac.compare_digest(received_sha256, self.body_sha256):
            raise ContentDigestMismatch("body does not match its Content-Digest")


def verify_streamed_request(
    *,
    method: str,
    target: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    own_origin: str,
    peer_key: Callable[[str], bytes | None],
    now: int,
    replay_cache: ReplayCache,
    max_clock_skew: int = MAX_CLOCK_SKEW,
) -> StreamedRequest:
    """Authenticate a request before its body is read (a blob streamed from a peer, §16.6):
    the signature covers the Content-Digest header, so the sender is known now and the body is
    checked against that digest as it ends (`StreamedRequest.check_body`). The receiver keeps
    nothing of a body that fails that check."""
    verified, digest = _verify(
        method=method,
        target=target,
        headers=headers,
        body=None,
        own_origin=own_origin,
        peer_key=peer_key,
        now=now,
        replay_cache=replay_cache,
        max_clock_skew=max_clock_skew,
    )
    match = _DIGEST_RE.fullmatch(digest)
    assert match is not None  # signature_base checked the syntax
    return StreamedRequest(verified, b64d(match.group(1)))


def _verify(
    *,
    method: str,
    target: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes | None,
    own_origin: str,
    peer_key: Callable[[str], bytes | None],
    now: int,
    replay_cache: ReplayCache,
    max_clock_skew: int,
) -> tuple[VerifiedRequest, str]:
    """Steps 1–7 of §16.3 (step 5 only when the body is given); the verified request and
    its Content-Digest value."""
    values = _header_values(headers)
    match = _SIGNATURE_INPUT_RE.fullmatch(values[HEADER_SIGNATURE_INPUT])
    if match is None:
        raise RequestMalformed("Signature-Input is not the federation profile")
    created, nonce = int(match.group(2)), match.group(3)
    if values[HEADER_SIGNATURE_INPUT] != f"{SIGNATURE_LABEL}={_signature_params(created, nonce)}":
        # Same components in the same order, same parameters: one byte form only.
        raise RequestMalformed("Signature-Input is not the federation profile")
    sig_match = _SIGNATURE_RE.fullmatch(values[HEADER_SIGNATURE])
    if sig_match is None:
        raise RequestMalformed("malformed Signature header")
    signature = b64d(sig_match.group(1))
    sender, destination = values[HEADER_ORIGIN], values[HEADER_DESTINATION]
    base = signature_base(
        method=method,
        target=target,
        digest=values[HEADER_CONTENT_DIGEST],
        sender_origin=_header_origin(sender),
        recipient_origin=_header_origin(destination),
        created=created,
        nonce=nonce,
    )
    if destination != own_origin:
        raise MisdirectedRequest("request is addressed to another relay")
    public = peer_key(sender)
    if public is None:
        raise UnknownPeer("request from a relay that is not a mutual peer")
    if abs(now - created) > max_clock_skew:
        raise RequestClockSkew("request created outside the accepted clock window")
    if body is not None and not hmac.compare_digest(
        values[HEADER_CONTENT_DIGEST], content_digest(body)
    ):
        raise ContentDigestMismatch("body does not match its Content-Digest")
    verify_signed(
        public,
        LABEL_FEDERATION_REQUEST,
        base,
        signature,
        error=RequestSignatureError,
        message="request signature does not verify",
    )
    if not replay_cache.remember(sender, nonce, expires_at=created + max_clock_skew, now=now):
        raise RequestReplayed("request nonce already seen")
    verified = VerifiedRequest(sender_origin=sender, created=created, nonce=nonce)
    return verified, values[HEADER_CONTENT_DIGEST]


def _header_origin(value: str) -> str:
    try:
        return validate_relay_origin(value)
    except MalformedError as exc:
        raise RequestMalformed("malformed relay origin header") from exc


# --- Home statement ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HomeStatement(RootSigned):
    """The agency root names its home relay: origin and log key (§16.4)."""

    LABEL: ClassVar[bytes] = LABEL_HOME_STATEMENT

    agency: str
    relay_origin: str
    relay_key: bytes
    issued_at: int
    signature: bytes

    def __post_init__(self) -> None:
        validate_agency_code(self.agency)
        validate_relay_origin(self.relay_origin)
        _check_public_key(self.relay_key, "relay key")
        _check_time(self.issued_at, "issued_at")
        if not isinstance(self.signature, bytes) or len(self.signature) != SIGNATURE_SIZE:
            raise MalformedError("signature must be 64 bytes")

    @property
    def relay(self) -> RelayIdentity:
        return RelayIdentity(self.relay_origin, self.relay_key)

    def _tbs(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "agency": self.agency,
            "relay_origin": self.relay_origin,
            "relay_key": b64e(self.relay_key),
            "issued_at": self.issued_at,
        }

    @classmethod
    def from_bytes(cls, data: bytes) -> HomeStatement:
        obj = parse_root_signed(
            data,
            ["version", "agency", "relay_origin", "relay_key", "issued_at", "signature"],
            "home statement",
        )
        return cls(
            agency=get_str(obj, "agency"),
            relay_origin=get_str(obj, "relay_origin"),
            relay_key=get_bytes(obj, "relay_key", length=KEY_SIZE),
            issued_at=get_int(obj, "issued_at"),
            signature=get_bytes(obj, "signature", length=SIGNATURE_SIZE),
        )

    def statement_hash(self) -> bytes:
        """SHA-256 of the statement bytes: how the `home` log entry names it (§10 convention)."""
        return hashlib.sha256(self.to_bytes()).digest()

    def verify(self, *, agency: str, root_public: bytes) -> RelayIdentity:
        """The home relay, after checking the statement is `agency`'s and signed by its root."""
        if self.agency != agency:
            raise HomeStatementError("home statement is for another agency")
        self.verify_root_signature(
            _check_public_key(root_public, "root public key"),
            error=HomeStatementError,
            message="home statement is not signed by the agency's root",
        )
        return self.relay


def issue_home_statement(
    root: RootKey, *, agency: str, relay_origin: str, relay_key: bytes, issued_at: int
) -> HomeStatement:
    return HomeStatement(
        agency=agency,
        relay_origin=relay_origin,
        relay_key=relay_key,
        issued_at=issued_at,
        signature=bytes(SIGNATURE_SIZE),
    ).signed_by(root)


# --- Peer acknowledgement ---------------------------------------------------------------------

_ACK_FIELDS = (
    "version",
    "relay",
    "to_relay",
    "message_id",
    "envelope_hash",
    "event",
    "device_id",
    "log_index",
    "at",
    "signature",
)


@dataclass(frozen=True)
class PeerAck:
    """A receiving relay's signed statement about a forwarded envelope (§16.6): it `logged` it
    at `log_index`, or a recipient device `acknowledged` it (its `ack` entry at `log_index`)."""

    relay: str
    to_relay: str
    message_id: str
    envelope_hash: bytes
    event: str
    device_id: str | None
    log_index: int
    at: int
    signature: bytes

    def __post_init__(self) -> None:
        validate_relay_origin(self.relay)
        validate_relay_origin(self.to_relay)
        if self.relay == self.to_relay:
            raise MalformedError("a relay does not acknowledge to itself")
        if (
            not isinstance(self.message_id, str)
            or _MESSAGE_ID_RE.fullmatch(self.message_id) is None
        ):
            raise MalformedError("message id must be 32 lower-case hex digits")
        if not isinstance(self.envelope_hash, bytes) or len(self.envelope_hash) != 32:
            raise MalformedError("envelope hash must be 32 bytes")
        if self.event not in ACK_EVENTS:
            raise MalformedError("unknown acknowledgement event")
        if (self.event == "acknowledged") != (self.device_id is not None):
            raise MalformedError("a device id goes with 'acknowledged', and only with it")
        if self.device_id is not None:
            validate_device_id(self.device_id)
        _check_time(self.log_index, "log_index")
        _check_time(self.at, "at")
        if not isinstance(self.signature, bytes) or len(self.signature) != SIGNATURE_SIZE:
            raise MalformedError("signature must be 64 bytes")

    def _tbs(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "relay": self.relay,
            "to_relay": self.to_relay,
            "message_id": self.message_id,
            "envelope_hash": b64e(self.envelope_hash),
            "event": self.event,
            "device_id": self.device_id,
            "log_index": self.log_index,
            "at": self.at,
        }

    def tbs_bytes(self) -> bytes:
        return canonical_json(self._tbs())

    def to_bytes(self) -> bytes:
        return canonical_json({**self._tbs(), "signature": b64e(self.signature)})

    @classmethod
    def from_bytes(cls, data: bytes) -> PeerAck:
        obj = parse_canonical_json(data)
        if obj.get("version") != VERSION:
            raise UnsupportedVersion("unsupported peer acknowledgement version")
        expect_keys(obj, _ACK_FIELDS, "peer acknowledgement")
        device_id = obj["device_id"]
        if device_id is not None and not isinstance(device_id, str):
            raise MalformedError("device_id must be a string or null")
        return cls(
            relay=get_str(obj, "relay"),
            to_relay=get_str(obj, "to_relay"),
            message_id=get_str(obj, "message_id"),
            envelope_hash=get_bytes(obj, "envelope_hash", length=32),
            event=get_str(obj, "event"),
            device_id=device_id,
            log_index=get_int(obj, "log_index"),
            at=get_int(obj, "at"),
            signature=get_bytes(obj, "signature", length=SIGNATURE_SIZE),
        )

    def verify(self, relay: RelayIdentity, *, addressed_to: str) -> None:
        """Signed by `relay`'s key, naming `relay` as signer and `addressed_to` as addressee."""
        if self.relay != relay.origin or self.to_relay != addressed_to:
            raise PeerAckSignatureError("acknowledgement names other relays")
        verify_signed(
            relay.public_key,
            LABEL_PEER_ACK,
            self.tbs_bytes(),
            self.signature,
            error=PeerAckSignatureError,
            message="acknowledgement signature does not verify",
        )


def sign_peer_ack(
    relay_key: SigningKey,
    *,
    relay: str,
    to_relay: str,
    message_id: str,
    envelope_hash: bytes,
    event: str,
    device_id: str | None,
    log_index: int,
    at: int,
) -> PeerAck:
    unsigned = PeerAck(
        relay=relay,
        to_relay=to_relay,
        message_id=message_id,
        envelope_hash=envelope_hash,
        event=event,
        device_id=device_id,
        log_index=log_index,
        at=at,
        signature=bytes(SIGNATURE_SIZE),
    )
    signature = relay_key.sign(signed_message(LABEL_PEER_ACK, unsigned.tbs_bytes())).signature
    return replace(unsigned, signature=bytes(signature))
