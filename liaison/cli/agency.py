"""`liaison agency`: the administrator's root key, registration, certificates, revocations."""

from __future__ import annotations

import argparse
import os

from liaison.cli.review import add_agency_commands
from liaison.client import agency as agency_ops
from liaison.client.console import (
    add_home_option,
    add_json_option,
    add_server_option,
    command,
    home_from_args,
    print_json,
    read_input,
    run,
    with_api,
    write_output,
)
from liaison.i18n import _

ADMIN_TOKEN_ENV = "LIAISON_ADMIN_TOKEN"  # noqa: S105 (a variable name, not a secret)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "agency",
        help=_("Agency administrator: root key, registration, certificates, revocations"),
        description=_("Agency administrator: root key, registration, certificates, revocations"),
    )
    group = parser.add_subparsers(dest="agency_command", metavar="ACTION", required=True)

    init = group.add_parser("init", help=_("Create the agency root key and review key"))
    init.add_argument("--code", required=True, help=_("Agency code, e.g. VN-QN-CA"))
    init.add_argument("--country", required=True, help=_("Country code, VN or CN"))
    init.add_argument("--name-vi", required=True, help=_("Agency name in Vietnamese"))
    init.add_argument("--name-zh", required=True, help=_("Agency name in Chinese"))
    add_home_option(init)
    add_json_option(init)
    init.set_defaults(func=cmd_init)

    reg = group.add_parser("register", help=_("Register the agency with a relay server"))
    add_server_option(reg, required=True)
    reg.add_argument(
        "--admin-token",
        default=None,
        help=_("The server operator's admin token (default: $LIAISON_ADMIN_TOKEN)"),
    )
    add_home_option(reg)
    add_json_option(reg)
    reg.set_defaults(func=cmd_register)

    fp = group.add_parser(
        "fingerprint", help=_("Show the agency root fingerprint to compare in person")
    )
    add_home_option(fp)
    add_json_option(fp)
    fp.set_defaults(func=cmd_fingerprint)
    from liaison.cli import hold

    hold.register_agency(group)

    certify = group.add_parser("certify", help=_("Certify an officer's device request"))
    certify.add_argument("request", metavar="REQUEST", help=_("Request file from `officer init`"))
    certify.add_argument(
        "--role",
        choices=("officer", "supervisor"),
        default="officer",
        help=_("Role of the device's officer"),
    )
    certify.add_argument(
        "--days",
        type=int,
        default=agency_ops.DEFAULT_VALIDITY_DAYS,
        help=_("Days the certificate stays valid"),
    )
    certify.add_argument(
        "-o", "--output", required=True, metavar="CERT", help=_("Certificate file to write")
    )
    add_home_option(certify)
    certify.set_defaults(func=cmd_certify)

    revoke = group.add_parser("revoke", help=_("Revoke a device of this agency"))
    revoke.add_argument("device_id", metavar="DEVICE_ID", help=_("Device to revoke"))
    revoke.add_argument(
        "--reason", default="unspecified", help=_("Reason recorded in the revocation")
    )
    add_server_option(revoke)
    add_home_option(revoke)
    add_json_option(revoke)
    revoke.set_defaults(func=cmd_revoke)
    add_agency_commands(group)


@command
def cmd_init(args: argparse.Namespace) -> int:
    home = home_from_args(args)
    fp = agency_ops.init_agency(
        home, code=args.code, country=args.country, name_vi=args.name_vi, name_zh=args.name_zh
    )
    if args.json:
        print_json(fp.to_dict())
    else:
        print(_("Agency {code} created in {home}.").format(code=fp.agency, home=home.root))
        print(
            _("Root fingerprint (read it aloud when pinning): {number}").format(
                number=fp.safety_number
            )
        )
    return 0


@command
def cmd_register(args: argparse.Namespace) -> int:
    from liaison.cli import CommandError

    token = args.admin_token or os.environ.get(ADMIN_TOKEN_ENV)
    if not token:
        raise CommandError(_("Give the operator's admin token with --admin-token."))
    home = home_from_args(args)
    result = run(with_api(args.server, lambda api: agency_ops.register_agency(home, api, token)))
    if args.json:
        print_json(result)
    else:
        print(
            _("Agency {code} registered on {server} (log entry {index}).").format(
                code=result["agency"], server=result["server"], index=result["log_index"]
            )
        )
    return 0


@command
def cmd_fingerprint(args: argparse.Namespace) -> int:
    fp = agency_ops.agency_fingerprint(home_from_args(args))
    if args.json:
        print_json(fp.to_dict())
    else:
        print(_("Agency {code}").format(code=fp.agency))
        print(_("Safety number: {number}").format(number=fp.safety_number))
        print(_("Compact: {compact}").format(compact=fp.compact))
    return 0


@command
def cmd_certify(args: argparse.Namespace) -> int:
    home = home_from_args(args)
    data = agency_ops.certify(home, read_input(args.request), role=args.role, days=args.days)
    write_output(args.output, data)
    if args.output != "-":
        print(
            _("Certificate written to {path}: hand it to the officer with the fingerprint.").format(
                path=args.output
            )
        )
    return 0


@command
def cmd_revoke(args: argparse.Namespace) -> int:
    home = home_from_args(args)
    url = home.server_url(args.server)
    result = run(
        with_api(url, lambda api: agency_ops.revoke(home, api, args.device_id, reason=args.reason))
    )
    if args.json:
        print_json(result)
    else:
        print(
            _("Device {device} revoked (log entry {index}).").format(
                device=result["device_id"], index=result["log_index"]
            )
        )
    return 0
