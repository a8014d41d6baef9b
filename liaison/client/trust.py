"""Pinning foreign agency roots by the fingerprint exchanged in person, and listing the pins."""

from __future__ import annotations

import time
from typing import Any

from crypto.encoding import b64e
from crypto.errors import CryptoError
from crypto.keys import validate_agency_code
from liaison.client import directory, foreign, transparency
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
            return await _add_foreign(home, api, agency, fingerprint, now=now)
        raise
    root = decode_b64(record.get("root_key"))
    if record.get("code") != agency or not fingerprint_matches(fingerprint, root):
        raise _not_the_fingerprint(agency)
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


def _not_the_fingerprint(agency: str) -> VerificationError:
    return VerificationError(
        _(
            "The root key the server gives for {agency} does not match the fingerprint you "
            "were given. Nothing was pinned: check the fingerprint with the agency in person."
        ).format(agency=agency)
    )


async def _add_foreign(
    home: Home, api: ApiClient, agency: str, fingerprint: str, *, now: int
) -> dict[str, Any]:
    """An agency homed on a peer relay (PROTOCOL.md §16.5): its root checked by fingerprint,
    then its home statement, the peer's checkpoint (with the key the statement names) and
    every directory object, before anything is pinned."""

    def checked_root(answer: Any) -> bytes:
        root = decode_b64(answer.get("root_key") if isinstance(answer, dict) else None)
        if not isinstance(answer, dict) or answer.get("agency") != agency:
            raise VerificationError(_("The server sent the directory of another agency."))
        if not fingerprint_matches(fingerprint, root):
            raise _not_the_fingerprint(agency)
        return root

    await transparency.pin_server(home, api)  # the device logs in for the directory read
    try:
        found = await foreign.fetch(home, api, agency, checked_root, relay=None, now=now)
    except ServerError as exc:
        if exc.code == "unknown_agency":
            raise BadInput(
                _(
                    "Agency {agency} is not registered on this server nor on a relay it peers with."
                ).format(agency=agency)
            ) from exc
        raise
    origin = found.relay.origin
    directory.pin_root(home, agency, found.root, how="in-person", at=now, home_relay=origin)
    return {
        **fingerprint_of(agency, found.root).to_dict(),
        "log_index": found.log_index,
        "home_relay": origin,
    }


def list_pins(home: Home) -> list[dict[str, Any]]:
    out = []
    for record in directory.pin_records(home):
        root = decode_b64(record["root_key"])
        out.append({**record, **fingerprint_of(record["agency"], root).to_dict()})
    return out
