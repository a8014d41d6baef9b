"""`liaison peer add|remove|list|identity|home`: the operator peers this relay with another
country's relay after comparing key fingerprints out of band (PROTOCOL.md §16.2). Server side:
it works on the data folder's database, like `liaison witness`."""

from __future__ import annotations

import argparse
import time
from typing import Any

from liaison.cli._common import CommandError, add_json_option, print_result, run
from liaison.cli.serve import add_database_options, database_schema
from liaison.i18n import _


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "peer", help=_("Relays of other countries this relay forwards to (operator)")
    )
    commands = parser.add_subparsers(dest="peer_command", metavar="COMMAND", required=True)
    add = commands.add_parser(
        "add", help=_("Peer with the relay at URL after checking its key fingerprint")
    )
    add.add_argument("url", help=_("The peer relay's address, e.g. https://relay.cn-gx.example"))
    add.add_argument(
        "fingerprint",
        help=_("The peer's key fingerprint or safety number, as its operator read it to you"),
    )
    remove = commands.add_parser("remove", help=_("Stop all traffic with a peer relay"))
    remove.add_argument("origin", help=_("The peer relay's origin, as `peer list` shows it"))
    listing = commands.add_parser(
        "list", help=_("List the peer relays with their state and backlog")
    )
    identity = commands.add_parser(
        "identity", help=_("Show this relay's origin and key fingerprint, to read out to a peer")
    )
    home = commands.add_parser(
        "home", help=_("Record that an agency lives on a peer relay (or here, with --here)")
    )
    home.add_argument("agency", help=_("Agency code, e.g. CN-GX-DXGA"))
    home.add_argument("origin", nargs="?", help=_("The peer relay's origin"))
    home.add_argument("--here", action="store_true", help=_("The agency lives on this relay"))
    for sub in (add, remove, listing, identity, home):
        add_database_options(sub)
        add_json_option(sub)
    add.set_defaults(func=cmd_add)
    remove.set_defaults(func=cmd_remove)
    listing.set_defaults(func=cmd_list)
    identity.set_defaults(func=cmd_identity)
    home.set_defaults(func=cmd_home)


def _on_relay(args: argparse.Namespace, action: Any) -> Any:
    from liaison.server.federation.peering import PeeringError, on_relay

    args.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return run(on_relay(args.data_dir, args.database_url, database_schema(args), action))
    except PeeringError as exc:
        raise CommandError(_error_text(exc.code), code=exc.code) from exc


def _error_text(code: str) -> str:
    texts = {
        "fingerprint_mismatch": _(
            "The relay's key fingerprint is not the one given: not peered. Check the address "
            "and compare the fingerprint with the peer's operator again."
        ),
        "peer_unreachable": _("The peer relay cannot be reached or did not answer its identity."),
        "peer_checkpoint_invalid": _(
            "The peer's checkpoint is not signed by its key for its origin: not peered."
        ),
        "peer_is_self": _("A relay does not peer with itself."),
        "unknown_peer": _("No such active peer relay."),
    }
    return texts.get(code, code)


def cmd_add(args: argparse.Namespace) -> int:
    from liaison.server.federation.peering import PeeringError, add_peer, fetch_peer_identity

    try:
        fetched = run(fetch_peer_identity(args.url, args.fingerprint))
    except PeeringError as exc:
        raise CommandError(_error_text(exc.code), code=exc.code) from exc
    index = _on_relay(args, lambda relay: add_peer(relay, args.url, fetched))
    origin = fetched.identity.origin
    print_result(
        args,
        {"origin": origin, "url": args.url, "log_index": index},
        _("Peered with {origin}. Traffic flows once its operator has added this relay too.").format(
            origin=origin
        ),
    )
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from liaison.server.federation.peering import remove_peer

    index = _on_relay(args, lambda relay: remove_peer(relay, args.origin))
    print_result(
        args,
        {"origin": args.origin, "removed": True, "log_index": index},
        _("Peer {origin} removed; no traffic flows with it any more.").format(origin=args.origin),
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from liaison.server.federation.peering import list_peers

    peers = _on_relay(args, list_peers)
    lines = []
    for p in peers:
        mutual = _("mutual") if p["mutual"] else _("not confirmed")
        lines.append(
            _(
                "{origin}  {state} ({mutual})  {url}  backlog {backlog} (oldest {age} s)  "
                "refused {refused}"
            ).format(
                origin=p["origin"],
                state=p["state"],
                mutual=mutual,
                url=p["url"],
                backlog=p["backlog"],
                age=p["backlog_age"],
                refused=p["refused"],
            )
        )
        if p["cosigned_size"] is not None:
            lines.append(
                "  " + _("its log cosigned up to size {size}").format(size=p["cosigned_size"])
            )
        if p["distrusted"]:
            lines.append(
                "  "
                + _(
                    "DISTRUSTED ({reason}): its log does not extend the checkpoint this relay "
                    "cosigned; nothing is forwarded to it. Evidence: `liaison peer list --json`. "
                    "Once settled with its operator: `liaison peer remove`, then `liaison peer "
                    "add` again."
                ).format(reason=p["distrust_reason"])
            )
    print_result(args, {"peers": peers}, "\n".join(lines) or _("No peer relay."))
    return 0


def cmd_identity(args: argparse.Namespace) -> int:
    from crypto.federation import RelayIdentity
    from liaison.server.federation.peering import identity_json
    from liaison.server.identity import ensure_server_identity

    args.data_dir.mkdir(parents=True, exist_ok=True)
    identity, _token = ensure_server_identity(args.data_dir)
    shown = identity_json(RelayIdentity(identity.origin, identity.public_key))
    print_result(
        args,
        shown,
        _("Origin: {origin}\nFingerprint: {fingerprint}\nSafety number: {safety}").format(
            origin=shown["origin"], fingerprint=shown["fingerprint"], safety=shown["safety_number"]
        ),
    )
    return 0


def cmd_home(args: argparse.Namespace) -> int:
    from liaison.server.federation.peering import set_home

    if args.here == (args.origin is not None):
        raise CommandError(
            _("Give either the peer relay's origin or --here."), code="invalid_arguments"
        )
    _on_relay(args, lambda relay: set_home(relay, args.agency, None if args.here else args.origin))
    text = (
        _("Agency {agency} lives on this relay.")
        if args.here
        else _("Agency {agency} lives on {origin}; its messages are forwarded there.")
    )
    print_result(
        args,
        {"agency": args.agency, "home": None if args.here else args.origin, "at": int(time.time())},
        text.format(agency=args.agency, origin=args.origin),
    )
    return 0
