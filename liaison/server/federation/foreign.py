"""A foreign agency's directory across relays (PROTOCOL.md §16.5): the home relay serves a peer
the agency's root, home statement, review keys, certificates and revocations, each with its log
entry and inclusion proof against one signed checkpoint; the officer's own relay passes that
answer to its devices unchanged. Nothing here is trusted by the client: every object in the
answer verifies against the pinned root and the peer's checkpoint, whose key the client takes
from the root-signed home statement."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from crypto.encoding import b64d, b64e
from crypto.errors import CryptoError, MalformedError
from crypto.federation import RelayIdentity
from crypto.keys import validate_agency_code
from liaison.federation.agency_proofs import AgencyProofError, home_statement, proved_home
from liaison.server.directory import agency_record
from liaison.server.errors import ApiError, BadRequest, NotFound
from liaison.server.federation import peering
from liaison.server.federation.crossing import PeerUnreachable
from liaison.server.log_queries import proof_tree
from liaison.server.relay import Relay

DIRECTORY_PATH = "/v1/federation/agencies"
# Seconds a peer's proof that an agency is homed on it is believed before it is asked again: a
# move to another relay (a newer home statement there) is seen here within this time.
HOME_PROOF_SECONDS = 300.0


def _code(code: str) -> str:
    try:
        validate_agency_code(code)
    except MalformedError as exc:
        raise BadRequest("invalid_agency_code", "The agency code is not valid.") from exc
    return code


def since_param(value: str | None) -> int:
    """The size of this relay's log the client last verified (0: none yet)."""
    if value is None or value == "":
        return 0
    if not value.isdigit() or len(value) > 18:
        raise BadRequest("invalid_request", "Query parameter since must be a size.")
    return int(value)


async def directory_bundle(relay: Relay, code: str, since: int) -> dict[str, Any]:
    """Everything a client needs to trust `code`'s directory from this relay's log alone: the
    objects, their log entries (leaf data) and inclusion proofs against one checkpoint, and a
    consistency proof from `since` when the client holds an older checkpoint of this log."""
    agency = await agency_record(relay, code)
    held = await relay.store.home_statement(code)
    if held is None:
        raise NotFound("no_home_statement", "This agency has no home statement on this relay.")
    statement, _issued_at, home_index = held
    reviews = await relay.store.review_statements(code)
    devices = await relay.store.agency_devices(code)
    indexes = sorted(
        {
            agency.log_index,
            home_index,
            *(r.log_index for r in reviews),
            *(d.log_index for d in devices),
            *(d.revocation_log_index for d in devices if d.revocation_log_index is not None),
        }
    )
    tree, size, note = await proof_tree(relay, indexes)
    entries = []
    for index in indexes:
        [stored] = await relay.store.log_entries(index, index + 1)
        proof = tree.inclusion_proof(index, size)
        entries.append(
            {
                "index": index,
                "entry": b64e(stored.data),
                "inclusion_proof": [b64e(h) for h in proof],
            }
        )
    consistency: list[str] = []
    if 0 < since < size:
        consistency = [b64e(h) for h in await relay.log.consistency_proof(since, size)]
    return {
        "agency": code,
        "root_key": b64e(agency.root_key),
        "agency_log_index": agency.log_index,
        "home": {"statement": b64e(statement), "log_index": home_index},
        "review_statements": [
            {"statement": b64e(r.statement), "log_index": r.log_index} for r in reviews
        ],
        "devices": [
            {
                "certificate": b64e(d.certificate),
                "log_index": d.log_index,
                "revocation": None if d.revocation is None else b64e(d.revocation),
                "revocation_log_index": d.revocation_log_index,
            }
            for d in devices
        ],
        "entries": entries,
        "tree_size": size,
        "checkpoint": note,
        "consistency_from": since if 0 < since < size else None,
        "consistency_proof": consistency,
    }


async def peer_directory(relay: Relay, request: web.Request, code: str) -> dict[str, Any]:
    """GET /v1/federation/agencies/{code}?since= [peer]: an agency homed here, for a peer's
    officers (its officers' names are no secret from the relay they write to)."""
    await peering.authenticate_peer(relay, request)
    return await directory_bundle(relay, _code(code), since_param(request.query.get("since")))


def _candidates(relay: Relay, code: str) -> list[str]:
    """The peers to ask for `code`: the one the operator recorded as its home first, then the
    others (the answer proves itself, so asking a wrong peer costs a refusal, no trust)."""
    peers = sorted(relay.federation.peers)
    home = relay.federation.home_of(code)
    return [home, *(p for p in peers if p != home)] if home is not None else peers


async def foreign_directory(relay: Relay, code: str, since: int) -> dict[str, Any]:
    """GET /v1/foreign/agencies/{code}?since= [device]: the peer's answer for an agency homed on
    a peer, unchanged, with the origin of the peer that gave it (a hint only: the client takes
    the peer's origin and key from the home statement)."""
    _code(code)
    await peering.refresh_peers(relay)
    client = relay.federation.client
    target = f"{DIRECTORY_PATH}/{code}" + (f"?since={since}" if since else "")
    unreachable = False
    for origin in _candidates(relay, code):
        record = relay.federation.peers.get(origin)
        if record is None or client is None:
            continue
        try:
            answer = await client.request(
                peer_origin=origin, base_url=record.url, method="GET", target=target
            )
        except (aiohttp.ClientError, TimeoutError, OSError):
            unreachable = True
            continue
        if answer.status == 200 and isinstance(answer.data, dict):
            return {**answer.data, "relay": origin}
    if unreachable:
        raise PeerUnreachable()
    raise NotFound("unknown_agency", "No peer relay is the home of this agency.")


class HomeUnproved(ApiError):
    """The forwarding peer did not answer whether an agency is homed on it (503: the whole
    request is tried again later, nothing was logged)."""

    status = 503

    def __init__(self) -> None:
        super().__init__(
            "home_unproved", "Your relay did not prove the agency's home; try again later."
        )


async def _peer_home_answer(relay: Relay, origin: str, code: str) -> dict[str, Any] | None:
    """The peer's directory answer for `code` (None: it holds no home statement for it; empty:
    it knows no such agency)."""
    record = relay.federation.peers.get(origin)
    client = relay.federation.client
    if record is None or client is None:
        raise HomeUnproved()
    try:
        answer = await client.request(
            peer_origin=origin, base_url=record.url, method="GET", target=f"{DIRECTORY_PATH}/{code}"
        )
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise HomeUnproved() from exc
    if answer.status == 404 and answer.code == "no_home_statement":
        return None
    if answer.status == 404:
        return {}  # not registered there: not homed there
    if answer.status != 200 or not isinstance(answer.data, dict):
        raise HomeUnproved()
    return answer.data


async def _statement_names_peer(relay: Relay, origin: str, code: str) -> bool:
    """Whether the peer proves, from its own log, that `code`'s root named it as home: the
    statement is signed by the root the peer's log registered, names the peer's origin and the
    log key of this relay's peer record, and both entries are in a checkpoint that key signed.
    An agency whose root named this relay (as recently or more) is not the peer's to send for."""
    answer = await _peer_home_answer(relay, origin, code)
    if answer is None:
        # No statement yet: the operator's `peer home` record decides (agencies registered
        # before home statements; PROTOCOL.md §16.6).
        return relay.federation.homes.get(code) == origin
    if not answer:
        return False
    peer = RelayIdentity(origin, relay.federation.peers[origin].log_key)
    try:
        root = b64d(answer.get("root_key", ""))
        _statement, named, _data = home_statement(answer, code, root)
        if named != peer:
            return False
        proved = proved_home(answer, code, root=root, held=None)
    except (AgencyProofError, CryptoError):
        return False
    here = await relay.store.agency(code)
    if here is not None and here.root_key != root:
        return False
    held = await relay.store.home_statement(code)
    return held is None or held[1] < proved.issued_at


async def homed_on(relay: Relay, origin: str, code: str) -> bool:
    """Whether agency `code` is homed on the peer `origin` (PROTOCOL.md §16.6), for a sender or
    a reviewer the peer forwards; a proof is believed for HOME_PROOF_SECONDS. Raises
    HomeUnproved when the peer does not answer."""
    state = relay.federation
    now = state.monotonic()
    known = state.sender_homes.get(code)
    if known is not None and known[0] == origin and known[1] > now:
        return True
    if not await _statement_names_peer(relay, origin, code):
        state.sender_homes.pop(code, None)
        return False
    state.sender_homes[code] = (origin, now + HOME_PROOF_SECONDS)
    return True
