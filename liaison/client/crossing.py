"""`liaison audit verify --across ID`: a cross-border message in both relays' logs (PROTOCOL.md
§16.6, "Audit across the border"). The sending relay's `envelope` entry and the receiving
relay's `forwarded_in` entry must name the same envelope hash, each included in a checkpoint
signed by its relay: the own relay's with the pinned key (and consistent with the stored
checkpoint), the peer's with the peer's log key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crypto.checkpoint import Checkpoint, verify_checkpoint
from crypto.encoding import b64d, b64e
from crypto.errors import CryptoError
from crypto.federation import RelayIdentity
from crypto.log_entries import EnvelopeEntry, ForwardedInEntry, LogEntry, parse_log_entry
from crypto.merkle import leaf_hash, verify_inclusion
from liaison.client import foreign, transparency
from liaison.client.errors import ClientError
from liaison.client.home import Home
from liaison.client.officer import authenticated
from liaison.client.transport import ApiClient
from liaison.i18n import _


@dataclass
class CrossingReport:
    message_id: str
    envelope_hash: str | None = None
    sides: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and len(self.sides) >= 2

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "message_id": self.message_id,
            "envelope_hash": self.envelope_hash,
            "sides": list(self.sides),
            "problems": list(self.problems),
        }


def _included(side: dict[str, Any], cp: Checkpoint) -> LogEntry:
    """The side's log entry, once its inclusion proof leads to the checkpoint's root."""
    try:
        data = b64d(side["entry"])
        index = side["index"]
        proof = [b64d(h) for h in side["inclusion_proof"]]
        if not isinstance(index, int) or side.get("tree_size") != cp.size:
            raise CryptoError("the proof is for another tree size")
        verify_inclusion(leaf_hash(data), index, cp.size, proof, cp.root_hash)
        return parse_log_entry(data)
    except (CryptoError, KeyError, TypeError, ValueError) as exc:
        raise ClientError(
            _("The log entry of {relay} is not included in its signed checkpoint.").format(
                relay=side.get("origin")
            )
        ) from exc


def _peer_checkpoint(side: dict[str, Any]) -> Checkpoint:
    origin = side.get("origin")
    try:
        identity = RelayIdentity(str(origin), b64d(side["log_public_key"]))
        return verify_checkpoint(
            side["checkpoint"],
            key_name=identity.key_name,
            public_key=identity.public_key,
            origin=identity.origin,
        )
    except (CryptoError, KeyError, TypeError, ValueError) as exc:
        raise ClientError(
            _("The checkpoint of the peer relay {relay} is not signed by its log key.").format(
                relay=origin
            )
        ) from exc


def _pair(report: CrossingReport, own_origin: str, own: LogEntry, peer: LogEntry, peer_origin: str):
    """The sending side's `envelope` entry and the receiving side's `forwarded_in` entry."""
    if isinstance(own, EnvelopeEntry) and isinstance(peer, ForwardedInEntry):
        sent, received, sender_relay, forwarded_by = own, peer, own_origin, peer.from_relay
    elif isinstance(own, ForwardedInEntry) and isinstance(peer, EnvelopeEntry):
        sent, received, sender_relay, forwarded_by = peer, own, peer_origin, own.from_relay
    else:
        report.problems.append(
            _("The two relays' entries are not a sent envelope and its forwarded copy.")
        )
        return
    if sent.message_id != report.message_id or received.message_id != report.message_id:
        report.problems.append(_("A relay's entry names another message."))
    if forwarded_by != sender_relay:
        report.problems.append(_("The forwarded copy names another sending relay."))
    if sent.envelope_hash != received.envelope_hash:
        report.problems.append(_("The two relays' logs name different envelope hashes."))
    else:
        report.envelope_hash = sent.envelope_hash.hex()


async def verify_across(home: Home, api: ApiClient, message_id: str) -> CrossingReport:
    report = CrossingReport(message_id)
    identity = await transparency.pin_server(home, api)
    answer = await authenticated(
        home, api, lambda: api.request("GET", f"/v1/foreign/log/messages/{message_id}")
    )
    own_side = answer.get("own") or {}
    try:
        own_cp = await transparency.advance(home, api, own_side.get("checkpoint"))
        own = _included({**own_side, "origin": identity.origin}, own_cp)
    except ClientError as exc:
        report.problems.append(str(exc))
        return report
    report.sides.append(
        {"origin": identity.origin, "kind": own.KIND, "index": own_side.get("index")}
    )
    peers = answer.get("peers") or []
    if not peers:
        report.problems.append(_("No peer relay answered for this message."))
    for side in peers:
        if "entry" not in side:
            report.problems.append(
                _("The peer relay {relay} did not give its entry ({code}).").format(
                    relay=side.get("origin"), code=side.get("code")
                )
            )
            continue
        known = foreign.known_relay_key(home, str(side.get("origin")))
        if known is None or side.get("log_public_key") != b64e(known):
            # The own relay's word on its peer's key counts for nothing (PROTOCOL.md §16.6):
            # only a home statement signed by a pinned root names it.
            report.problems.append(
                _(
                    "The log key of relay {relay} is not the one the home statement of an "
                    "agency pinned here names (pin an agency homed there first)."
                ).format(relay=side.get("origin"))
            )
            continue
        try:
            peer = _included(side, _peer_checkpoint(side))
        except ClientError as exc:
            report.problems.append(str(exc))
            continue
        report.sides.append(
            {"origin": side.get("origin"), "kind": peer.KIND, "index": side.get("index")}
        )
        _pair(report, identity.origin, own, peer, str(side.get("origin")))
    return report
