"""Request bodies as the relay reads them: base64 fields decoded by the one strict decoder."""

from __future__ import annotations

from crypto.encoding import b64d
from crypto.errors import MalformedError
from liaison.i18n import _
from liaison.server.errors import BadRequest


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
