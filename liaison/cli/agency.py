"""`liaison agency`: the administrator's root key, registration, certificates, revocations."""

from __future__ import annotations

import argparse

from liaison.cli import hold
from liaison.cli._common import (
    add_admin_token_option,
    add_json_option,
    add_local_options,
    add_relay_options,
    add_server_option,
    admin_token,
    command,
    home_from_args,
    on_relay,
    print_result,
    read_input,
    run_api,
    write_output,
)
from liaison.cli.review import add_agency_commands
from liaison.i18n import N_, _


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
    add_local_options(init)
    init.set_defaults(func=cmd_init)

    reg = group.add_parser("register", help=_("Register the agency with a relay server"))
    add_server_option(reg, required=True)
    add_admin_token_option(reg)
    add_local_options(reg)
    reg.set_defaults(func=cmd_register)

    home_cmd = group.add_parser(
        "home", help=_("Sign a home statement naming the relay as this agency's home")
    )
    add_server_option(home_cmd, required=True)
    add_local_options(home_cmd)
    home_cmd.set_defaults(func=cmd_home)

    fp = group.add_parser(
        "fingerprint", help=_("Show the agency root fingerprint to compare in person")
    )
    add_local_options(fp)
    fp.set_defaults(func=cmd_fingerprint)

    # `liaison agency retention CODE --days N` (operator); the command is cli/hold.py's.
    retention = group.add_parser(
        "retention", help=_("Set how long the relay keeps an agency's ciphertext (operator)")
    )
    retention.add_argument("code", metavar="CODE", help=_("Agency code, e.g. VN-QN-CA"))
    retention.add_argument("--days", type=int, required=True, help=_("Retention in days"))
    add_admin_token_option(retention)
    add_server_option(retention, required=True)
    add_json_option(retention)
    retention.set_defaults(func=hold.cmd_retention)

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
        default=None,  # the client's DEFAULT_VALIDITY_DAYS, not imported to build the parser
        help=_("Days the certificate stays valid"),
    )
    certify.add_argument(
        "-o", "--output", required=True, metavar="CERT", help=_("Certificate file to write")
    )
    add_local_options(certify, json=False)
    certify.set_defaults(func=cmd_certify)

    revoke = group.add_parser("revoke", help=_("Revoke a device of this agency"))
    revoke.add_argument("device_id", metavar="DEVICE_ID", help=_("Device to revoke"))
    revoke.add_argument(
        "--reason", default="unspecified", help=_("Reason recorded in the revocation")
    )
    add_relay_options(revoke)
    revoke.set_defaults(func=cmd_revoke)

    devices = group.add_parser(
        "devices", help=_("List the devices this agency certified, with their status")
    )
    devices.add_argument(
        "--offline",
        action="store_true",
        help=_("Show what this home folder recorded, without asking the relay"),
    )
    add_relay_options(devices)
    devices.set_defaults(func=cmd_devices)
    add_agency_commands(group)


@command
def cmd_init(args: argparse.Namespace) -> int:
    from liaison.client import agency as agency_ops

    home = home_from_args(args)
    fp = agency_ops.init_agency(
        home, code=args.code, country=args.country, name_vi=args.name_vi, name_zh=args.name_zh
    )
    created = _("Agency {code} created in {home}.").format(code=fp.agency, home=home.root)
    number = _("Root fingerprint (read it aloud when pinning): {number}").format(
        number=fp.safety_number
    )
    print_result(args, fp.to_dict(), f"{created}\n{number}")
    return 0


@command
def cmd_register(args: argparse.Namespace) -> int:
    from liaison.client import agency as agency_ops

    token = admin_token(args)
    home = home_from_args(args)
    result = run_api(args.server, lambda api: agency_ops.register_agency(home, api, token))
    print_result(
        args,
        result,
        _("Agency {code} registered on {server} (log entry {index}).").format(
            code=result["agency"], server=result["server"], index=result["log_index"]
        ),
    )
    return 0


@command
def cmd_home(args: argparse.Namespace) -> int:
    from liaison.client import agency as agency_ops

    home = home_from_args(args)
    result = run_api(args.server, lambda api: agency_ops.publish_home(home, api))
    print_result(
        args,
        result,
        _("Agency {code}: home relay {relay}, statement logged (log entry {index}).").format(
            code=result["agency"], relay=result["relay_origin"], index=result["log_index"]
        ),
    )
    return 0


@command
def cmd_fingerprint(args: argparse.Namespace) -> int:
    from liaison.client import agency as agency_ops

    fp = agency_ops.agency_fingerprint(home_from_args(args))
    lines = (
        _("Agency {code}").format(code=fp.agency),
        _("Safety number: {number}").format(number=fp.safety_number),
        _("Compact: {compact}").format(compact=fp.compact),
    )
    print_result(args, fp.to_dict(), "\n".join(lines))
    return 0


@command
def cmd_certify(args: argparse.Namespace) -> int:
    from liaison.client import agency as agency_ops

    home = home_from_args(args)
    days = agency_ops.DEFAULT_VALIDITY_DAYS if args.days is None else args.days
    data = agency_ops.certify(home, read_input(args.request), role=args.role, days=days)
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
    from liaison.client import agency as agency_ops

    home = home_from_args(args)
    result = on_relay(
        home, args, lambda api: agency_ops.revoke(home, api, args.device_id, reason=args.reason)
    )
    print_result(
        args,
        result,
        _("Device {device} revoked (log entry {index}).").format(
            device=result["device_id"], index=result["log_index"]
        ),
    )
    return 0


@command
def cmd_devices(args: argparse.Namespace) -> int:
    from liaison.client import agency as agency_ops

    home = home_from_args(args)
    if args.offline:
        listed = agency_ops.issued_devices(home)
    else:
        listed = on_relay(home, args, lambda api: agency_ops.agency_devices(home, api))
    lines = []
    for device in listed:
        names = device.display_names
        status = _(agency_ops.DEVICE_STATUSES[device.status])
        lines.append(
            _(
                "{device}  {status}  {role}  {name}\n"
                "    certified {certified} (serial {serial}), valid until {until}\n"
                "    device fingerprint: {fingerprint}"
            ).format(
                device=device.device_id,
                status=status,
                role=_(ROLE_LABELS.get(device.role, device.role)),
                name=names.get("vi") or names.get("zh") or device.officer_id,
                certified=_utc(device.certified_at),
                serial=device.serial,
                until=_utc(device.not_after),
                fingerprint=device.fingerprint,
            )
        )
    if not lines:
        lines.append(_("This agency has not certified any device yet."))
    print_result(args, [device.to_dict() for device in listed], "\n".join(lines))
    return 0


ROLE_LABELS = {"officer": N_("officer"), "supervisor": N_("supervisor")}


def _utc(seconds: int) -> str:
    from datetime import UTC, datetime

    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%d %H:%M} UTC"
