"""Home statements (PROTOCOL.md §16.4): an agency's root names this relay (origin and log key)
as its home; the relay accepts only a statement its registered root signed naming this relay,
newer than the one it holds, logs it (`home` entry) and serves it."""

from __future__ import annotations

import hashlib
from typing import Any

from crypto.encoding import b64d, b64e
from crypto.errors import CryptoError
from crypto.federation import HomeStatement
from crypto.log_entries import HomeEntry
from liaison.server.directory import agency_record
from liaison.server.errors import Conflict, NotFound, Unprocessable
from liaison.server.relay import Relay
from liaison.store import WriteTx


async def put_home(relay: Relay, code: str, text: str) -> tuple[dict[str, Any], bool]:
    """POST /v1/agencies/{code}/home: (answer, created). The same statement again is answered
    with its first index; an older or equally old other one is refused 409
    `home_statement_stale`."""
    agency = await agency_record(relay, code)
    try:
        data = b64d(text)
        statement = HomeStatement.from_bytes(data)
        named = statement.verify(agency=code, root_public=agency.root_key)
    except CryptoError as exc:
        raise Unprocessable(
            "bad_home_statement", "The home statement does not verify against the agency root."
        ) from exc
    own = relay.identity
    if named.origin != own.origin or named.public_key != own.public_key:
        raise Unprocessable(
            "bad_home_statement", "The home statement names another relay than this one."
        )
    now = relay.clock()
    entry = HomeEntry(
        agency=code,
        relay_origin=named.origin,
        relay_key=named.public_key,
        issued_at=statement.issued_at,
        statement_hash=hashlib.sha256(data).digest(),
        at=now,
    )

    async def job(tx: WriteTx) -> tuple[int, bool]:
        held = await tx.home_statement_for_update(code)
        if held is not None:
            if held[0] == data:
                return held[2], False
            if held[1] >= statement.issued_at:
                raise Conflict(
                    "home_statement_stale",
                    "A home statement as new or newer is already held for this agency.",
                )
        index = await relay.log.append(tx, entry)
        # The agency lives here now: no operator record routes its mail to a peer any more.
        await tx.set_agency_home(code, None, at=now)
        await tx.put_home_statement(
            agency=code, statement=data, issued_at=statement.issued_at, log_index=index
        )
        return index, True

    index, created = await relay.store.write(job)
    return {"agency": code, "log_index": index, "issued_at": statement.issued_at}, created


async def get_home(relay: Relay, code: str) -> dict[str, Any]:
    """GET /v1/agencies/{code}/home: the agency's newest home statement and its log index."""
    await agency_record(relay, code)
    held = await relay.store.home_statement(code)
    if held is None:
        raise NotFound("no_home_statement", "This agency has no home statement on this relay.")
    data, issued_at, index = held
    return {"agency": code, "statement": b64e(data), "issued_at": issued_at, "log_index": index}
