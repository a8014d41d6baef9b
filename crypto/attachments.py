"""Attachment blobs: chunked secretstream encryption, streaming verification, the reference."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Protocol

from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_ABYTES,
    crypto_secretstream_xchacha20poly1305_HEADERBYTES,
    crypto_secretstream_xchacha20poly1305_init_pull,
    crypto_secretstream_xchacha20poly1305_pull,
    crypto_secretstream_xchacha20poly1305_push,
    crypto_secretstream_xchacha20poly1305_state,
    crypto_secretstream_xchacha20poly1305_TAG_FINAL,
    crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
)
from nacl.exceptions import CryptoError as NaclCryptoError

from crypto.encoding import (
    HASH_SIZE,
    b64e,
    canonical_json,
    expect_keys,
    frame,
    get_bytes,
    get_int,
    get_str,
    parse_canonical_json,
)
from crypto.errors import (
    AttachmentDecryptionError,
    AttachmentHashMismatch,
    AttachmentTrailingData,
    AttachmentTruncated,
    MalformedError,
)
from crypto.keys import KEY_SIZE, Rng, draw_random
from crypto.labels import LABEL_ATTACHMENT_BLOB, LABEL_ATTACHMENT_CHUNK

CHUNK_SIZE = 64 * 1024  # plaintext bytes in every chunk but the final one
STREAM_HEADER_SIZE: int = crypto_secretstream_xchacha20poly1305_HEADERBYTES  # 24
CHUNK_OVERHEAD: int = crypto_secretstream_xchacha20poly1305_ABYTES  # 17: tag byte + MAC
CIPHERTEXT_CHUNK_SIZE = CHUNK_SIZE + CHUNK_OVERHEAD
MAX_ATTACHMENT_SIZE = 2 * 1024**3  # plaintext bytes per file
MAX_FILE_NAME_BYTES = 255  # UTF-8 bytes: the common file-system limit for one name
MAX_MEDIA_TYPE_LENGTH = 127
DEFAULT_FILE_NAME = "attachment"
DEFAULT_MEDIA_TYPE = "application/octet-stream"

_TAG_MESSAGE: int = crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_TAG_FINAL: int = crypto_secretstream_xchacha20poly1305_TAG_FINAL
# The blob hash is SHA-256 over frame(label) || blob: the framed label makes it a hash of its
# own kind, and the blob runs to the end so nobody needs its length before hashing.
_BLOB_HASH_PREFIX = frame(LABEL_ATTACHMENT_BLOB)
_BLOB_ID_RE = re.compile(r"[0-9a-f]{64}")
# RFC 6838 restricted-name for type and subtype, lower case, no parameters.
_MEDIA_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}")
# Characters that separate path components on any platform the file may be saved on.
_PATH_SEPARATORS = re.compile(r"[/\\]")
# Characters refused in a saved name on Windows, replaced so the name still reads the same.
_RESERVED_CHARACTERS = re.compile(r'[<>:"|?*]')


def ciphertext_size(plaintext_size: int) -> int:
    """Exact size of the blob of a file of `plaintext_size` bytes."""
    _check_plaintext_size(plaintext_size)
    chunks = max(1, -(-plaintext_size // CHUNK_SIZE))
    return STREAM_HEADER_SIZE + plaintext_size + chunks * CHUNK_OVERHEAD


def _check_plaintext_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_ATTACHMENT_SIZE:
        raise MalformedError("attachment size must be an integer from 0 to 2 GiB")


MAX_CIPHERTEXT_SIZE = ciphertext_size(MAX_ATTACHMENT_SIZE)


class BlobHasher(Protocol):
    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...

    def digest(self) -> bytes: ...


def new_blob_hasher() -> BlobHasher:
    """A streaming hasher of blob bytes: feed the blob as stored, `digest()` is its hash.

    SHA-256 (PROTOCOL.md §14.1 says why not BLAKE2b here); hashlib's equals libsodium's
    crypto_hash_sha256 (tested) and streams without holding the blob.
    """
    hasher = hashlib.sha256()
    hasher.update(_BLOB_HASH_PREFIX)
    return hasher


def _close(hasher: BlobHasher) -> None:
    close = getattr(hasher, "close", None)
    if close is not None:
        close()


def blob_id(blob_hash: bytes) -> str:
    """The relay's name for a blob: its hash in lower-case hex."""
    if not isinstance(blob_hash, bytes) or len(blob_hash) != HASH_SIZE:
        raise MalformedError("blob hash must be 32 bytes")
    return blob_hash.hex()


def parse_blob_id(text: str) -> bytes:
    """The hash a blob id names; refuses anything but 64 lower-case hex digits."""
    if not isinstance(text, str) or not _BLOB_ID_RE.fullmatch(text):
        raise MalformedError("blob id must be 64 lower-case hex digits")
    return bytes.fromhex(text)


def _chunk_ad(index: int) -> bytes:
    return frame(LABEL_ATTACHMENT_CHUNK, index.to_bytes(8, "big"))


def _stream_state(file_key: bytes, stream_header: bytes) -> Any:
    """A secretstream state keyed by (file key, header), for pushing or pulling.

    libsodium's init_push is randombytes_buf(header) followed by exactly the state set-up that
    init_pull performs from that header; calling init_pull with a header we drew lets the
    randomness be a parameter (pinned in tests) without reimplementing anything. A test checks
    that both calls give the same state for the same header.
    """
    state = crypto_secretstream_xchacha20poly1305_state()
    crypto_secretstream_xchacha20poly1305_init_pull(state, stream_header, file_key)
    return state


def _check_key(file_key: bytes) -> bytes:
    if not isinstance(file_key, bytes) or len(file_key) != KEY_SIZE:
        raise MalformedError("file key must be 32 bytes")
    return file_key


class AttachmentEncryptor:
    """Encrypts one file as it is fed: `update(bytes) -> blob bytes`, then `finish()`.

    Draws, in order, the file key (32 bytes) and the stream header (24) unless given; giving
    both back re-creates the same blob from the same file, which is how an interrupted upload
    resumes without keeping the blob. Holds at most one chunk of plaintext. `hasher`, if given,
    is a fresh `new_blob_hasher()` or a wrapper of one (e.g. one hashing on another thread).
    """

    def __init__(
        self,
        *,
        file_key: bytes | None = None,
        stream_header: bytes | None = None,
        rng: Rng | None = None,
        hasher: BlobHasher | None = None,
    ) -> None:
        self.file_key = _check_key(file_key) if file_key is not None else draw_random(rng, 32)
        if stream_header is None:
            stream_header = draw_random(rng, STREAM_HEADER_SIZE)
        if not isinstance(stream_header, bytes) or len(stream_header) != STREAM_HEADER_SIZE:
            raise MalformedError("stream header must be 24 bytes")
        self.stream_header = stream_header
        self._state = _stream_state(self.file_key, stream_header)
        self._pending = bytearray()
        self._index = 0
        self._plaintext_size = 0
        self._hasher = new_blob_hasher() if hasher is None else hasher
        self._hasher.update(stream_header)
        self._header_sent = False
        self._blob_hash: bytes | None = None

    def update(self, plaintext: bytes | bytearray | memoryview) -> bytes:
        """Blob bytes that `plaintext` completes; a full chunk waits until more data or finish."""
        if self._blob_hash is not None:
            raise ValueError("the attachment is already finished")
        if self._plaintext_size + len(plaintext) > MAX_ATTACHMENT_SIZE:
            raise MalformedError("an attachment is at most 2 GiB")
        self._plaintext_size += len(plaintext)
        out = self._take_header()
        # Keep the last full chunk back: only finish() knows whether it is the final one.
        # Chunks are cut from the input itself; only what is kept back is copied aside.
        with memoryview(plaintext) as data:
            rest = data.cast("B") if data.ndim != 1 or data.format != "B" else data
            if self._pending:
                need = CHUNK_SIZE - len(self._pending)
                if len(rest) <= need:
                    self._pending += rest
                    return b"".join(out)
                self._pending += rest[:need]
                rest = rest[need:]
                out.append(self._push(bytes(self._pending), _TAG_MESSAGE))
                self._pending.clear()
            whole = (len(rest) - 1) // CHUNK_SIZE * CHUNK_SIZE if len(rest) else 0
            for start in range(0, whole, CHUNK_SIZE):
                out.append(self._push(bytes(rest[start : start + CHUNK_SIZE]), _TAG_MESSAGE))
            self._pending += rest[whole:]
        return b"".join(out)

    def finish(self) -> bytes:
        """The last blob bytes: the final chunk (empty only for an empty file)."""
        if self._blob_hash is not None:
            raise ValueError("the attachment is already finished")
        out = self._take_header()
        out.append(self._push(bytes(self._pending), _TAG_FINAL))
        self._pending.clear()
        self._blob_hash = self._hasher.digest()
        return b"".join(out)

    def _take_header(self) -> list[bytes]:
        if self._header_sent:
            return []
        self._header_sent = True
        return [self.stream_header]

    def _push(self, chunk: bytes, tag: int) -> bytes:
        sealed = bytes(
            crypto_secretstream_xchacha20poly1305_push(
                self._state, chunk, _chunk_ad(self._index), tag
            )
        )
        self._index += 1
        self._hasher.update(sealed)
        return sealed

    @property
    def plaintext_size(self) -> int:
        return self._plaintext_size

    @property
    def finished(self) -> bool:
        return self._blob_hash is not None

    def close_hasher(self) -> None:
        """Release the hasher's resources (a thread) when the blob will not be finished."""
        _close(self._hasher)

    @property
    def blob_hash(self) -> bytes:
        if self._blob_hash is None:
            raise ValueError("the blob hash is known only after finish()")
        return self._blob_hash

    def reference(self, *, name: str, media_type: str) -> AttachmentRef:
        """The reference to put in the envelope payload, once the blob is finished."""
        return AttachmentRef(
            blob_hash=self.blob_hash,
            size=self._plaintext_size,
            name=sanitise_file_name(name),
            media_type=normalise_media_type(media_type),
            file_key=self.file_key,
        )


class AttachmentDecryptor:
    """Decrypts and verifies a blob as it streams in: `update(bytes) -> plaintext`, `finish()`.

    Plaintext returned by `update` is authenticated under the file key chunk by chunk, but the
    file is the one the reference names only once `finish()` returned: it checks the final chunk
    and the blob hash. Callers keep the output provisional (a temporary file) until then.
    Every refusal is an `AttachmentError`; the decryptor is unusable afterwards.
    """

    def __init__(self, reference: AttachmentRef, *, hasher: BlobHasher | None = None) -> None:
        self._file_key = reference.file_key
        self._expected_hash = reference.blob_hash
        self._expected_size = reference.size
        self._expected_blob_size = ciphertext_size(reference.size)
        self._state: Any = None
        self._pending = bytearray()
        self._index = 0
        self._received = 0
        self._plaintext_size = 0
        self._hasher = new_blob_hasher() if hasher is None else hasher  # as the encryptor's
        self._final_seen = False
        self._failed = False
        self._done = False

    def update(self, blob_bytes: bytes | bytearray | memoryview) -> bytes:
        self._check_usable()
        if len(blob_bytes) == 0:
            return b""
        if self._final_seen:
            self._fail()
            raise AttachmentTrailingData("bytes after the final chunk")
        self._received += len(blob_bytes)
        if self._received > self._expected_blob_size:
            # Refused on arrival: a relay cannot make the reader consume 2 GiB of garbage.
            self._fail()
            raise AttachmentTrailingData("more bytes than the reference's size allows")
        self._hasher.update(blob_bytes)
        out: list[bytes] = []
        # Whole ciphertext chunks are cut from the input itself; only a partial one (or the
        # header) is gathered aside until the rest of it arrives.
        with memoryview(blob_bytes) as data:
            rest = data.cast("B") if data.ndim != 1 or data.format != "B" else data
            if self._state is None:
                need = STREAM_HEADER_SIZE - len(self._pending)
                if len(rest) < need:
                    self._pending += rest
                    return b""
                self._pending += rest[:need]
                rest = rest[need:]
                header = bytes(self._pending)
                self._pending.clear()
                self._state = _stream_state(self._file_key, header)
            # A whole ciphertext chunk may be the final one (a file of a multiple of
            # CHUNK_SIZE bytes): the authenticated tag says so; only a shorter remainder
            # waits for finish().
            if self._pending:
                need = CIPHERTEXT_CHUNK_SIZE - len(self._pending)
                if len(rest) < need:
                    self._pending += rest
                    return b""
                self._pending += rest[:need]
                rest = rest[need:]
                out.append(self._pull(bytes(self._pending)))
                self._pending.clear()
            position = 0
            while len(rest) - position >= CIPHERTEXT_CHUNK_SIZE:
                if self._final_seen:
                    self._fail()
                    raise AttachmentTrailingData("bytes after the final chunk")
                end = position + CIPHERTEXT_CHUNK_SIZE
                out.append(self._pull(bytes(rest[position:end])))
                position = end
            self._pending += rest[position:]
        if self._final_seen and self._pending:
            self._fail()
            raise AttachmentTrailingData("bytes after the final chunk")
        return b"".join(out)

    def finish(self) -> bytes:
        """The last plaintext; raises unless the blob is complete and the one referenced."""
        self._check_usable()
        out = b""
        if self._received < self._expected_blob_size:
            self._fail()
            raise AttachmentTruncated("the blob ended before its final chunk")
        if not self._final_seen:
            if self._state is None or len(self._pending) < CHUNK_OVERHEAD:
                self._fail()
                raise AttachmentTruncated("the blob ended before its final chunk")
            out = self._pull(bytes(self._pending))
            self._pending.clear()
            if not self._final_seen:
                self._fail()
                raise AttachmentTruncated("the blob ended before its final chunk")
        if self._plaintext_size != self._expected_size or not hmac.compare_digest(
            self._hasher.digest(), self._expected_hash
        ):
            self._fail()
            raise AttachmentHashMismatch("the blob is not the one the reference names")
        self._done = True
        return out

    def _pull(self, sealed: bytes) -> bytes:
        try:
            chunk, tag = crypto_secretstream_xchacha20poly1305_pull(
                self._state, sealed, _chunk_ad(self._index)
            )
        except (NaclCryptoError, RuntimeError, TypeError, ValueError) as exc:
            self._fail()
            raise AttachmentDecryptionError("an attachment chunk does not authenticate") from exc
        if tag == _TAG_FINAL:
            # Canonical form: the final chunk is empty only when it is the only chunk.
            if not chunk and self._index > 0:
                self._fail()
                raise AttachmentDecryptionError("empty final chunk after data")
            self._final_seen = True
        elif tag != _TAG_MESSAGE or len(chunk) != CHUNK_SIZE:
            # The sender only writes full MESSAGE chunks before one FINAL chunk.
            self._fail()
            if tag == _TAG_MESSAGE:
                raise AttachmentTruncated("the blob ended before its final chunk")
            raise AttachmentDecryptionError("unexpected secretstream tag")
        self._index += 1
        self._plaintext_size += len(chunk)
        return bytes(chunk)

    def close_hasher(self) -> None:
        """Release the hasher's resources (a thread) when the blob will not be finished."""
        _close(self._hasher)

    def _check_usable(self) -> None:
        if self._failed:
            raise AttachmentDecryptionError("this blob was already refused")
        if self._done:
            raise ValueError("the attachment is already finished")

    def _fail(self) -> None:
        # Only a flag: the buffer may still be exported to a memoryview at this point.
        self._failed = True

    @property
    def blob_bytes_received(self) -> int:
        return self._received


def sanitise_file_name(raw: str) -> str:
    """A name safe to save under in any folder: last path component, NFC, printable, ≤ 255 B.

    Path components are dropped (so `../../etc/passwd` is `passwd`), control and format
    characters removed (U+202E could show `exe.jpg` for `gpj.exe`), Windows-reserved characters
    replaced, surrounding dots and spaces stripped (no hidden files, no `..`); what is
    left is cut to 255 UTF-8 bytes keeping the extension. An empty result is `attachment`.
    """
    if not isinstance(raw, str):
        raise MalformedError("file name must be a string")
    name = unicodedata.normalize("NFC", _PATH_SEPARATORS.split(raw)[-1])
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co"))
    name = _RESERVED_CHARACTERS.sub("_", name).strip().strip(".").strip()
    if not name:
        return DEFAULT_FILE_NAME
    if len(name.encode("utf-8")) > MAX_FILE_NAME_BYTES:
        stem, dot, extension = name.rpartition(".")
        if not dot or len(extension) > 16:
            stem, extension = name, ""
        suffix = "." + extension if extension else ""
        budget = MAX_FILE_NAME_BYTES - len(suffix.encode("utf-8"))
        stem = stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip()
        name = (stem + suffix) if stem else DEFAULT_FILE_NAME
    return name


def normalise_media_type(raw: str) -> str:
    """`type/subtype` in lower case without parameters; anything unparseable is octet-stream."""
    if not isinstance(raw, str):
        raise MalformedError("media type must be a string")
    media_type = raw.split(";", 1)[0].strip().lower()
    return media_type if _MEDIA_TYPE_RE.fullmatch(media_type) else DEFAULT_MEDIA_TYPE


_REF_FIELDS = ("blob", "size", "name", "media_type", "file_key")


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """What the envelope payload says about one attached file; the file key makes it secret.

    `blob_hash` both names the blob at the relay (as hex, `blob_id`) and pins its exact bytes.
    """

    blob_hash: bytes
    size: int
    name: str
    media_type: str
    file_key: bytes

    def __post_init__(self) -> None:
        blob_id(self.blob_hash)
        _check_plaintext_size(self.size)
        _check_key(self.file_key)
        if not isinstance(self.name, str) or sanitise_file_name(self.name) != self.name:
            raise MalformedError("file name is not in its sanitised form")
        if not isinstance(self.media_type, str) or not _MEDIA_TYPE_RE.fullmatch(self.media_type):
            raise MalformedError("media type must be a lower-case type/subtype")

    @property
    def blob_id(self) -> str:
        return blob_id(self.blob_hash)

    @property
    def blob_size(self) -> int:
        return ciphertext_size(self.size)

    def to_json(self) -> dict[str, Any]:
        """The JSON object carried in the payload's `attachments` array."""
        return {
            "blob": self.blob_id,
            "size": self.size,
            "name": self.name,
            "media_type": self.media_type,
            "file_key": b64e(self.file_key),
        }

    @classmethod
    def from_json(cls, obj: object) -> AttachmentRef:
        """Strict: exactly the five fields, each well-formed, the name already sanitised."""
        if not isinstance(obj, dict):
            raise MalformedError("attachment reference must be a JSON object")
        expect_keys(obj, _REF_FIELDS, "attachment reference")
        blob = obj["blob"]
        return cls(
            blob_hash=parse_blob_id(blob),
            size=get_int(obj, "size"),
            name=get_str(obj, "name", max_len=MAX_FILE_NAME_BYTES),
            media_type=get_str(obj, "media_type", max_len=MAX_MEDIA_TYPE_LENGTH),
            file_key=get_bytes(obj, "file_key", length=KEY_SIZE),
        )

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    @classmethod
    def from_bytes(cls, data: bytes) -> AttachmentRef:
        return cls.from_json(parse_canonical_json(data))

    def __repr__(self) -> str:
        # The file key never reaches a log through repr().
        return f"AttachmentRef(blob={self.blob_id}, size={self.size}, name={self.name!r})"
