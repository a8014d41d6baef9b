"""`liaison trust`: pin another agency's root by the fingerprint exchanged in person."""

from __future__ import annotations

import argparse

from liaison.cli._common import (
    add_local_options,
    add_relay_options,
    command,
    home_from_args,
    on_relay,
    print_json,
    print_result,
)
from liaison.i18n import _
from liaison.i18n.labels import trust_how


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "trust",
        help=_("Pinned agency roots"),
        description=_("Pinned agency roots"),
    )
    group = parser.add_subparsers(dest="trust_command", metavar="ACTION", required=True)

    add = group.add_parser(
        "add", help=_("Pin an agency's root after comparing its fingerprint in person")
    )
    add.add_argument("code", metavar="CODE", help=_("Agency code, e.g. CN-GX-DXGA"))
    add.add_argument(
        "fingerprint",
        metavar="FINGERPRINT",
        help=_("Its root fingerprint: safety number (digits) or compact form"),
    )
    add_relay_options(add)
    add.set_defaults(func=cmd_add)

    listing = group.add_parser("list", help=_("List the pinned agency roots"))
    add_local_options(listing)
    listing.set_defaults(func=cmd_list)


@command
def cmd_add(args: argparse.Namespace) -> int:
    from liaison.client import trust as trust_ops

    home = home_from_args(args)
    result = on_relay(home, args, lambda api: trust_ops.add(home, api, args.code, args.fingerprint))
    pinned = _("Agency {code} pinned: {number}").format(
        code=result["agency"], number=result["safety_number"]
    )
    if result.get("home_relay"):
        # Homed on a peer relay: say which one its root's home statement names.
        pinned += "\n" + _("Its home relay (named by its root): {relay}").format(
            relay=result["home_relay"]
        )
    print_result(args, result, pinned)
    return 0


@command
def cmd_list(args: argparse.Namespace) -> int:
    from liaison.client import trust as trust_ops

    pins = trust_ops.list_pins(home_from_args(args))
    if args.json:
        print_json(pins)
        return 0
    if not pins:
        print(_("No agency root is pinned."))
    for pin in pins:
        print(f"{pin['agency']}\t{pin['safety_number']}\t{trust_how(pin.get('how'))}")
    return 0
