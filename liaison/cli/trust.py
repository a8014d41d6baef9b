"""`liaison trust`: pin another agency's root by the fingerprint exchanged in person."""

from __future__ import annotations

import argparse

from liaison.client import trust as trust_ops
from liaison.client.console import (
    add_home_option,
    add_json_option,
    add_server_option,
    command,
    home_from_args,
    print_json,
    run,
    with_api,
)
from liaison.i18n import _


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
    add_server_option(add)
    add_home_option(add)
    add_json_option(add)
    add.set_defaults(func=cmd_add)

    listing = group.add_parser("list", help=_("List the pinned agency roots"))
    add_home_option(listing)
    add_json_option(listing)
    listing.set_defaults(func=cmd_list)


@command
def cmd_add(args: argparse.Namespace) -> int:
    home = home_from_args(args)
    url = home.server_url(args.server)
    result = run(with_api(url, lambda api: trust_ops.add(home, api, args.code, args.fingerprint)))
    if args.json:
        print_json(result)
    else:
        print(
            _("Agency {code} pinned: {number}").format(
                code=result["agency"], number=result["safety_number"]
            )
        )
    return 0


@command
def cmd_list(args: argparse.Namespace) -> int:
    pins = trust_ops.list_pins(home_from_args(args))
    if args.json:
        print_json(pins)
        return 0
    if not pins:
        print(_("No agency root is pinned."))
    for pin in pins:
        print(f"{pin['agency']}\t{pin['safety_number']}\t{pin.get('how', '')}")
    return 0
