"""Signed log checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes, and cosignatures."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

from crypto.encoding import b64d, b64e
from crypto.errors import MalformedError, ProofError, SignatureError
from crypto.merkle import HASH_SIZE

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "MAX_NOTE_SIGNATURES",
    "Checkpoint",
    "NoteSignature",
    "SignedNote",
    "cosign_checkpoint",
    "cosignature_message",
    "note_key_id",
    "parse_note",
    "sign_checkpoint",
    "sign_note",
    "verify_checkpoint",
    "verify_cosignature",
    "verify_note",
]

ALG_ED25519 = 0x01
"""signed-note signature type of a plain Ed25519 note signature (the log's own)."""
ALG_COSIGNATURE_V1 = 0x04
"""signed-note signature type of a timestamped Ed25519 cosignature (c2sp.org/tlog-cosignature)."""

# The spec asks verifiers to cap signatures and to accept at least 16; 100 is Go's cap.
MAX_NOTE_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 20
_SIG_PREFIX = "\u2014 "  # em dash, space
_COSIGNATURE_HEADER = b"cosignature/v1\n"
_MAX_TIMESTAMP = (1 << 63) - 1
_MAX_TREE_SIZE = (1 << 64) - 1
_ED25519_SIZE = 64
_PUBLIC_KEY_SIZE = 32


def _has_control(text: str) -> bool:
    return any(ch < " " and ch != "\n" for ch in text)


def _check_key_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise MalformedError("key name must be a non-empty string")
    if any(ch.isspace() or ch == "+" or ch < " " for ch in name):
        raise MalformedError("key name must not contain spaces, '+' or control characters")
    return name


def _check_public_key(public_key: object) -> bytes:
    if not isinstance(public_key, bytes | bytearray) or len(public_key) != _PUBLIC_KEY_SIZE:
        raise MalformedError("an Ed25519 public key is 32 bytes")
    return bytes(public_key)


def note_key_id(name: str, public_key: bytes, algorithm: int = ALG_ED25519) -> bytes:
    """SHA-256(name || 0x0A || algorithm || public key)[:4], the signed-note key ID."""
    _check_key_name(name)
    key = _check_public_key(public_key)
    if algorithm not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise MalformedError("unsupported signature type")
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([algorithm]) + key).digest()[:4]


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's origin line, its size and its RFC 9162 root hash."""

    origin: str
    size: int
    root_hash: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin:
            raise MalformedError("checkpoint origin must be a non-empty string")
        if "\n" in self.origin or _has_control(self.origin):
            raise MalformedError("checkpoint origin must be one line without control characters")
        if (
            not isinstance(self.size, int)
            or isinstance(self.size, bool)
            or not 0 <= self.size <= _MAX_TREE_SIZE
        ):
            raise MalformedError("checkpoint size must be an integer in [0, 2**64)")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise MalformedError("checkpoint root hash must be 32 bytes")

    def body(self) -> bytes:
        """The note text: origin, decimal size and base64 root hash, each ending in a newline."""
        return f"{self.origin}\n{self.size}\n{b64e(self.root_hash)}\n".encode()

    @classmethod
    def from_body(cls, body: bytes | str) -> Checkpoint:
        """Parse a note text strictly: exactly three lines, canonical number and base64.

        Liaison logs never write extension lines, so a body with any is refused.
        """
        if isinstance(body, bytes | bytearray):
            try:
                text = bytes(body).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MalformedError("checkpoint is not UTF-8") from exc
        elif isinstance(body, str):
            text = body
        else:
            raise MalformedError("checkpoint body must be bytes or str")
        if not text.endswith("\n"):
            raise MalformedError("checkpoint body must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) != 3:
            raise MalformedError("checkpoint body must have exactly three lines")
        origin, size_text, root_text = lines
        if not size_text.isascii() or not size_text.isdigit():
            raise MalformedError("checkpoint size must be ASCII decimal")
        if size_text != "0" and size_text.startswith("0"):
            raise MalformedError("checkpoint size must not have leading zeroes")
        if len(size_text) > 20:
            raise MalformedError("checkpoint size out of range")
        checkpoint = cls(origin=origin, size=int(size_text), root_hash=b64d(root_text))
        if checkpoint.body().decode("utf-8") != text:
            raise MalformedError("checkpoint body is not in canonical form")
        return checkpoint


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key ID, and the bytes after the key ID."""

    key_name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The signature line, newline included."""
        return f"{_SIG_PREFIX}{self.key_name} {b64e(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class SignedNote:
    """A parsed, NOT yet verified signed note: its text (final newline included) and lines."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def matching(self, key_name: str, key_id: bytes) -> list[NoteSignature]:
        """The signature lines of one key (same name and same key ID)."""
        return [s for s in self.signatures if s.key_name == key_name and s.key_id == key_id]


def parse_note(note: str | bytes) -> SignedNote:
    """Split a signed note into text and signature lines, refusing anything malformed.

    Parsing verifies nothing: the text must be ignored until a signature is verified.
    """
    if isinstance(note, bytes | bytearray):
        try:
            note = bytes(note).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedError("note is not UTF-8") from exc
    if not isinstance(note, str):
        raise MalformedError("note must be str or bytes")
    try:
        size = len(note.encode("utf-8"))
    except UnicodeEncodeError as exc:  # lone surrogates
        raise MalformedError("note is not valid Unicode") from exc
    if size > MAX_NOTE_BYTES:
        raise MalformedError("note too large")
    if _has_control(note):
        raise MalformedError("note contains control characters")
    if not note.endswith("\n"):
        raise MalformedError("note must end with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise MalformedError("note has no blank line before its signatures")
    text = note[: split + 1]
    if not text.strip("\n"):
        raise MalformedError("note text is empty")
    lines = note[split + 2 : -1].split("\n")
    if len(lines) > MAX_NOTE_SIGNATURES:
        raise MalformedError("note has too many signatures")
    signatures: list[NoteSignature] = []
    seen: set[tuple[str, bytes]] = set()
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise MalformedError("malformed signature line")
        parts = line[len(_SIG_PREFIX) :].split(" ")
        if len(parts) != 2:
            raise MalformedError("malformed signature line")
        name = _check_key_name(parts[0])
        raw = b64d(parts[1])
        if len(raw) < 5:
            raise MalformedError("signature too short")
        key_id, sig = raw[:4], raw[4:]
        # A key signing one note twice is never legitimate; refusing removes any question of
        # which of the two lines would count.
        if (name, key_id) in seen:
            raise MalformedError("two signatures by the same key")
        seen.add((name, key_id))
        signatures.append(NoteSignature(name, key_id, sig))
    return SignedNote(text=text, signatures=tuple(signatures))


def sign_note(text: str, *, key_name: str, signing_key: nacl.signing.SigningKey) -> str:
    """A signed note of `text` (which must end in a newline) with one Ed25519 signature."""
    _check_key_name(key_name)
    if not isinstance(text, str) or not text.endswith("\n") or not text.strip("\n"):
        raise MalformedError("note text must be non-empty and end with a newline")
    if _has_control(text) or "\n\n" in text:
        # A blank line inside our own text would make the signature boundary ambiguous to
        # readers that do not split at the last one.
        raise MalformedError("note text must not contain control characters or blank lines")
    key_id = note_key_id(key_name, bytes(signing_key.verify_key), ALG_ED25519)
    signature = bytes(signing_key.sign(text.encode("utf-8")).signature)
    return text + "\n" + NoteSignature(key_name, key_id, signature).line()


def _verify_ed25519(public_key: bytes, message: bytes, signature: bytes) -> None:
    if len(signature) != _ED25519_SIZE:
        raise SignatureError("an Ed25519 signature is 64 bytes")
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError) as exc:
        raise SignatureError("note signature does not verify") from exc


def verify_note(note: str | bytes, *, key_name: str, public_key: bytes) -> str:
    """The text of `note` after checking the Ed25519 signature of key `key_name`.

    Lines of other keys are ignored (signed-note); a line of this key that fails refuses the
    whole note. Raises MalformedError or SignatureError.
    """
    key_id = note_key_id(key_name, public_key, ALG_ED25519)
    parsed = parse_note(note)
    mine = parsed.matching(key_name, key_id)
    if not mine:
        raise SignatureError("note is not signed by the expected key")
    _verify_ed25519(public_key, parsed.text.encode("utf-8"), mine[0].signature)
    return parsed.text


def sign_checkpoint(cp: Checkpoint, *, key_name: str, signing_key: nacl.signing.SigningKey) -> str:
    """The checkpoint as a C2SP signed note with the log's Ed25519 signature."""
    if not isinstance(cp, Checkpoint):
        raise MalformedError("expected a Checkpoint")
    return sign_note(cp.body().decode("utf-8"), key_name=key_name, signing_key=signing_key)


def verify_checkpoint(
    note: str | bytes, *, key_name: str, public_key: bytes, origin: str | None = None
) -> Checkpoint:
    """The checkpoint of a note signed by the log key (`key_name`, `public_key`).

    With `origin`, the checkpoint must also name that log. Raises MalformedError,
    SignatureError or ProofError (wrong origin).
    """
    text = verify_note(note, key_name=key_name, public_key=public_key)
    checkpoint = Checkpoint.from_body(text)
    if origin is not None and checkpoint.origin != origin:
        raise ProofError("checkpoint is for another log")
    return checkpoint


def cosignature_message(body: bytes, timestamp: int) -> bytes:
    """What a cosigner signs: "cosignature/v1\\ntime <timestamp>\\n" then the note text."""
    _check_timestamp(timestamp)
    return _COSIGNATURE_HEADER + b"time %d\n" % timestamp + body


def _check_timestamp(timestamp: object) -> int:
    if (
        not isinstance(timestamp, int)
        or isinstance(timestamp, bool)
        or not 0 <= timestamp <= _MAX_TIMESTAMP
    ):
        raise MalformedError("cosignature timestamp must be an integer in [0, 2**63)")
    return timestamp


def cosign_checkpoint(
    note: str | bytes,
    *,
    witness_name: str,
    witness_key: nacl.signing.SigningKey,
    timestamp: int,
) -> str:
    """A tlog-cosignature/v1 line by a witness over the note's checkpoint.

    Only the checkpoint's shape is checked here: a witness must have verified the log's
    signature and a consistency proof from the last checkpoint it cosigned before calling
    this. Append the returned line to the note: `note + line`.
    """
    _check_key_name(witness_name)
    parsed = parse_note(note)
    Checkpoint.from_body(parsed.text)
    message = cosignature_message(parsed.text.encode("utf-8"), timestamp)
    key_id = note_key_id(witness_name, bytes(witness_key.verify_key), ALG_COSIGNATURE_V1)
    signature = bytes(witness_key.sign(message).signature)
    return NoteSignature(witness_name, key_id, timestamp.to_bytes(8, "big") + signature).line()


def verify_cosignature(
    note: str | bytes,
    *,
    witness_name: str,
    witness_public: bytes,
    now: int | None = None,
    max_clock_skew: int = 300,
) -> int:
    """The timestamp of the witness's valid cosignature on the note's checkpoint.

    A cosignature dated more than `max_clock_skew` seconds after `now` (default: the current
    time) is refused. This does not check the log's own signature: use verify_checkpoint.
    Raises MalformedError, SignatureError or ProofError.
    """
    key_id = note_key_id(witness_name, witness_public, ALG_COSIGNATURE_V1)
    parsed = parse_note(note)
    Checkpoint.from_body(parsed.text)
    mine = parsed.matching(witness_name, key_id)
    if not mine:
        raise SignatureError("note has no cosignature by the expected witness")
    raw = mine[0].signature
    if len(raw) != 8 + _ED25519_SIZE:
        raise SignatureError("a cosignature/v1 is an 8-byte timestamp and a 64-byte signature")
    timestamp = int.from_bytes(raw[:8], "big")
    if timestamp > _MAX_TIMESTAMP:
        raise SignatureError("cosignature timestamp out of range")
    message = cosignature_message(parsed.text.encode("utf-8"), timestamp)
    _verify_ed25519(bytes(witness_public), message, raw[8:])
    current = int(time.time()) if now is None else now
    if timestamp > current + max_clock_skew:
        raise ProofError("cosignature is dated in the future")
    return timestamp
