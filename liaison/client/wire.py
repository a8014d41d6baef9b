"""Values that arrive from outside this device (the relay, a file handed over) decoded strictly."""

from __future__ import annotations

from crypto.encoding import b64d
from crypto.errors import CryptoError
from liaison.client.errors import VerificationError
from liaison.i18n import _


def decode_b64(value: object) -> bytes:
    """The one strict base64 decoder (`crypto.encoding.b64d`: canonical text only), its refusal
    raised as the client's VerificationError so callers keep one error type for bad input."""
    if not isinstance(value, str):
        raise VerificationError(_("The server sent a malformed value."))
    try:
        return b64d(value)
    except CryptoError as exc:
        raise VerificationError(_("The server sent a malformed value.")) from exc
