"""Pinning foreign agency roots by the fingerprint exchanged in person, and listing the pins."""

from __future__ import annotations

import time
from typing import Any

from crypto.encoding import b64e
from crypto.errors import CryptoError
from crypto.keys import validate_agency_code
from liaison.client import directory, transparency
from liaison.client.agency import fingerprint_matches, fingerprint_of
from liaison.client.errors import BadInput, ServerError, VerificationError
from liaison.client.home import Home
from liaison.client.transport import ApiClient
from liaison.client.wire import decode_b64
from liaison.i18n import _


async def add(
    home: Home, api: ApiClient, agency: str, fingerprint: str, *, now: int | None = None
) -> dict[str, Any]:
    """Fetch `agency`'s root from the server and pin it only if it matches `fingerprint`, and
    only if its registration is in the server's signed log."""
    try:
        validate_agency_code(agency)
    except CryptoError as exc:
        raise BadInput(_("{code} is not an agency code.").format(code=agency)) from exc
    now = int(time.time()) if now is None else now
    try:
        record = await api.get_agency(agency)
    except ServerError as exc:
        if exc.code == "unknown_agency":
            raise BadInput(
                _("Agency {agency} is not registered on this server.").format(agency=agency)
            ) from exc
        raise
    root = decode_b64(record.get("root_key"))
    if record.get("code") != agency or not fingerprint_matches(fingerprint, root):
        raise VerificationError(
            _(
                "The root key the server gives for {agency} does not match the fingerprint you "
                "were given. Nothing was pinned: check the fingerprint with the agency in person."
            ).format(agency=agency)
        )
    cp = await transparency.advance(home, api)
    index = int(record.get("log_index", -1))
    entry = await transparency.fetch_entry(api, index)
    if (
        entry.get("kind") != "agency"
        or entry.get("code") != agency
        or entry.get("root_key") != b64e(root)
    ):
        raise VerificationError(
            _("The log entry registering {agency} does not match its root key.").format(
                agency=agency
            )
        )
    await transparency.verify_entry_included(api, cp, index, entry)
    directory.pin_root(home, agency, root, how="in-person", at=now)
    return {**fingerprint_of(agency, root).to_dict(), "log_index": index}


def list_pins(home: Home) -> list[dict[str, Any]]:
    out = []
    for record in directory.pin_records(home):
        root = decode_b64(record["root_key"])
        out.append({**record, **fingerprint_of(record["agency"], root).to_dict()})
    return out
