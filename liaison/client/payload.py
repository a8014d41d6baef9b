"""An envelope's plaintext: opaque bytes labelled with a content type (text, notice, file)."""

from __future__ import annotations

from dataclasses import dataclass, field

from crypto.attachments import AttachmentRef
from crypto.encoding import b64d, b64e, canonical_json, parse_canonical_json
from crypto.errors import CryptoError
from liaison.client.errors import RefusedEnvelope
from liaison.i18n import _

TEXT = "text/plain; charset=utf-8"
# Structured case notices (JSON) are added by the notices work under this content type.
NOTICE = "application/vnd.liaison.notice+json"
FILE = "application/octet-stream"
PAYLOAD_VERSION = 1
MAX_ATTACHMENTS = 50  # per message (crypto/PROTOCOL.md section 14.4)

# Plaintext lengths are padded to buckets (crypto/PROTOCOL.md §5.2; issue 14, section 2), so
# the size the relay sees says little: powers of two from 256 bytes up to 64 KiB, then
# multiples of 64 KiB.
PAD_SMALLEST = 256
PAD_STEP = 64 * 1024
_PAD_FIELD_OVERHEAD = len(b',"pad":""')


def padded_length(length: int) -> int:
    """The bucket of a plaintext of `length` bytes."""
    if length <= PAD_SMALLEST:
        return PAD_SMALLEST
    if length <= PAD_STEP:
        return 1 << (length - 1).bit_length()
    return -(-length // PAD_STEP) * PAD_STEP


def pad_payload(value: dict[str, object]) -> bytes:
    """The canonical JSON of `value` with a `pad` field of spaces filling it to its bucket
    (readers ignore `pad`)."""
    bare = len(canonical_json(value))
    target = padded_length(bare + _PAD_FIELD_OVERHEAD)
    return canonical_json({**value, "pad": " " * (target - bare - _PAD_FIELD_OVERHEAD)})


@dataclass(frozen=True)
class Payload:
    """The decrypted content of a message. `body` is opaque to the transport layer."""

    content_type: str
    body: bytes
    filename: str | None = None
    # Files sent as blobs beside the envelope, in order; notices refer to them by index.
    # Each reference holds its file key: never shown in listings or --json output.
    attachments: tuple[AttachmentRef, ...] = field(default=())

    @classmethod
    def text(cls, text: str) -> Payload:
        return cls(TEXT, text.encode("utf-8"))

    @property
    def is_text(self) -> bool:
        return self.content_type.split(";")[0].strip() == "text/plain"

    def as_text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def to_bytes(self) -> bytes:
        value: dict[str, object] = {
            "v": PAYLOAD_VERSION,
            "content_type": self.content_type,
            "body": b64e(self.body),
        }
        if self.filename:
            value["filename"] = self.filename
        if self.attachments:
            value["attachments"] = [ref.to_json() for ref in self.attachments]
        return pad_payload(value)

    @classmethod
    def from_bytes(cls, data: bytes) -> Payload:
        try:
            value = parse_canonical_json(data)
            if value.get("v") != PAYLOAD_VERSION or not isinstance(value.get("content_type"), str):
                raise ValueError
            filename = value.get("filename")
            if filename is not None and not isinstance(filename, str):
                raise ValueError
            listed = value.get("attachments", [])
            if not isinstance(listed, list) or len(listed) > MAX_ATTACHMENTS:
                raise ValueError
            attachments = tuple(AttachmentRef.from_json(item) for item in listed)
            return cls(value["content_type"], b64d(value["body"]), filename, attachments)
        except (CryptoError, ValueError, KeyError) as exc:
            raise RefusedEnvelope(
                _("The message content is not in a format this client understands.")
            ) from exc
