"""`liaison officer`: create a device's keys and request, then activate its certificate."""

from __future__ import annotations

import argparse
import json
import sys

from liaison.cli._common import (
    add_local_options,
    add_server_option,
    command,
    home_from_args,
    on_relay,
    print_json,
    print_result,
    read_input,
    write_output,
)
from liaison.i18n import _


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "officer",
        help=_("Officer device: keys, certificate request, activation"),
        description=_("Officer device: keys, certificate request, activation"),
    )
    group = parser.add_subparsers(dest="officer_command", metavar="ACTION", required=True)

    init = group.add_parser("init", help=_("Create this device's keys and a certificate request"))
    init.add_argument("--agency", required=True, help=_("Code of the officer's agency"))
    init.add_argument(
        "--name", required=True, help=_("Officer's name as on the ID document (Latin script)")
    )
    init.add_argument("--name-vi", help=_("Name shown in Vietnamese (default: --name)"))
    init.add_argument("--name-zh", help=_("Name shown in Chinese (default: --name)"))
    init.add_argument(
        "--officer-id",
        help=_("Short id used in addresses like VN-QN-CA/nguyen.van.an (default: from the name)"),
    )
    init.add_argument("--device", help=_("Device name, lower-case (default: random)"))
    add_server_option(init, required=True)
    init.add_argument(
        "-o", "--output", required=True, metavar="REQUEST", help=_("Request file to write")
    )
    add_local_options(init)
    init.set_defaults(func=cmd_init)

    activate = group.add_parser(
        "activate", help=_("Check and upload the certificate issued by the agency")
    )
    activate.add_argument("certificate", metavar="CERT", help=_("Certificate file"))
    activate.add_argument(
        "--root-fingerprint",
        metavar="FINGERPRINT",
        help=_("Agency root fingerprint shown by the administrator (asked for when omitted)"),
    )
    add_local_options(activate)
    activate.set_defaults(func=cmd_activate)

    status = group.add_parser("status", help=_("Show this device's identity and server"))
    add_local_options(status)
    status.set_defaults(func=cmd_status)


@command
def cmd_init(args: argparse.Namespace) -> int:
    from liaison.client import agency as agency_ops
    from liaison.client import officer as officer_ops
    from liaison.client.wire import decode_b64

    home = home_from_args(args)
    request = officer_ops.init_officer(
        home,
        agency=args.agency,
        name_vi=args.name_vi or args.name,
        name_zh=args.name_zh or args.name,
        server=args.server,
        officer_id=args.officer_id,
        device_name=args.device,
    )
    write_output(
        args.output, (json.dumps(request, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    )
    fingerprint = agency_ops.device_fingerprint(decode_b64(request["signing_key"]))
    print_result(
        args,
        {"device_id": request["device_id"], "request": args.output, "fingerprint": fingerprint},
        _("Device {device} created. Give {path} to your agency administrator.").format(
            device=request["device_id"], path=args.output
        )
        + "\n"
        + _(
            "Device fingerprint (the administrator compares it before certifying): {number}"
        ).format(number=fingerprint),
    )
    return 0


def _confirm_on_terminal(agency: str, number: str) -> bool:
    if not sys.stdin.isatty():
        return False
    print(_("Agency {agency} root fingerprint: {number}").format(agency=agency, number=number))
    answer = input(_("Is it the one your administrator showed you? [y/N] "))
    return answer.strip().lower() in ("y", "yes", "c", "có", "co", "是")


@command
def cmd_activate(args: argparse.Namespace) -> int:
    from liaison.client import officer as officer_ops

    home = home_from_args(args)
    data = read_input(args.certificate)
    result = on_relay(
        home,
        args,
        lambda api: officer_ops.activate(
            home,
            api,
            data,
            root_fingerprint=args.root_fingerprint,
            confirm=_confirm_on_terminal,
        ),
    )
    print_result(
        args,
        result,
        _("Device {device} activated as {role} (log entry {index}).").format(
            device=result["device_id"], role=result["role"], index=result["log_index"]
        ),
    )
    return 0


@command
def cmd_status(args: argparse.Namespace) -> int:
    from liaison.client import officer as officer_ops

    home = home_from_args(args)
    config = home.settings()
    status = {
        "device_id": config.device_id,
        "agency": config.agency,
        "officer_id": config.officer_id,
        "role": config.role,
        "server": config.server,
        "activated": home.read_bytes(officer_ops.CERTIFICATE_FILE) is not None,
    }
    if args.json:
        print_json(status)
        return 0
    labels = {
        "device_id": _("Device"),
        "agency": _("Agency"),
        "officer_id": _("Officer id"),
        "role": _("Role"),
        "server": _("Server"),
        "activated": _("Activated"),
    }
    for key, value in status.items():
        if isinstance(value, bool):
            value = _("yes") if value else _("no")
        print(f"{labels[key]}: {value if value is not None else '-'}")
    return 0
