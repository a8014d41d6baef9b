"""`liaison hold`, `liaison agency retention`, `liaison db purge`: retention and legal hold."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from liaison.cli._common import (
    CommandError,
    add_home_option,
    add_json_option,
    add_relay_options,
    admin_token,
    command,
    home_from_args,
    on_session,
    print_json,
    print_result,
    read_input,
    run,
    run_api,
    write_output,
)
from liaison.cli.serve import database_schema
from liaison.i18n import _


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "hold",
        help=_("Legal holds on cases (supervisors)"),
        description=_(
            "Legal holds on cases: the relay keeps the ciphertext of a held case past retention."
        ),
    )
    group = parser.add_subparsers(dest="hold_command", metavar="ACTION", required=True)
    place = group.add_parser("place", help=_("Place a legal hold on a case"))
    place.add_argument("case_ref", metavar="CASE_REF", help=_("The case reference"))
    place.add_argument("--reason", required=True, help=_("Why the case is held (kept locally)"))
    release = group.add_parser("release", help=_("Release the legal hold on a case"))
    release.add_argument("case_ref", metavar="CASE_REF", help=_("The case reference"))
    listing = group.add_parser("list", help=_("List the agency's active holds"))
    add_json_option(listing)
    for sub in (place, release, listing):
        add_relay_options(sub, json=False)
    place.set_defaults(func=cmd_place)
    release.set_defaults(func=cmd_release)
    listing.set_defaults(func=cmd_list)

    secret = group.add_parser(
        "secret", help=_("Create, export or import the agency case secret that keys case tags")
    )
    action = secret.add_mutually_exclusive_group(required=True)
    action.add_argument(
        "--create", metavar="FILE", help=_("Create it (administrator, once) and write it to FILE")
    )
    action.add_argument("--export", metavar="FILE", help=_("Write it to FILE for another device"))
    action.add_argument("--import", dest="import_", metavar="FILE", help=_("Import it from FILE"))
    add_home_option(secret)
    secret.set_defaults(func=cmd_secret)


@command
def cmd_place(args: argparse.Namespace) -> int:
    answer = on_session(args, lambda session: session.place_hold(args.case_ref, args.reason))
    print(
        _("Hold placed on case {case} (log entry {index}).").format(
            case=args.case_ref, index=answer["log_index"]
        )
    )
    return 0


@command
def cmd_release(args: argparse.Namespace) -> int:
    answer = on_session(args, lambda session: session.release_hold(args.case_ref))
    print(
        _("Hold on case {case} released (log entry {index}).").format(
            case=args.case_ref, index=answer["log_index"]
        )
    )
    return 0


@command
def cmd_list(args: argparse.Namespace) -> int:
    found = on_session(args, lambda session: session.holds())
    if args.json:
        print_json({"holds": found})
        return 0
    if not found:
        print(_("No active hold."))
    for hold in found:
        print(
            _("{case}  placed by {device}  (log entry {index})").format(
                case=hold["case_ref"] or _("(case placed from another device)"),
                device=hold["placed_by"],
                index=hold["log_index"],
            )
        )
    return 0


@command
def cmd_secret(args: argparse.Namespace) -> int:
    from liaison.client import holds as hold_ops

    home = home_from_args(args)
    if args.create:
        write_output(args.create, hold_ops.create_case_secret(home))
        print(
            _("Case secret created; give {path} to each device of the agency, in person.").format(
                path=args.create
            )
        )
    elif args.export:
        write_output(args.export, hold_ops.export_case_secret(home))
    else:
        hold_ops.import_case_secret(home, read_input(args.import_))
        print(_("Case secret imported."))
    return 0


@command
def cmd_retention(args: argparse.Namespace) -> int:
    from liaison.client import holds as hold_ops

    token = admin_token(args)
    if not 1 <= args.days <= 36500:
        raise CommandError(_("Give a retention between 1 and 36500 days."))
    answer = run_api(
        args.server, lambda api: hold_ops.set_retention(api, token, args.code, args.days)
    )
    print_result(
        args,
        answer,
        _("Retention of {code}: {days} days (log entry {index}).").format(
            code=args.code, days=args.days, index=answer["log_index"]
        ),
    )
    return 0


async def _purge(
    data_dir: Path, url: str | None, schema: str | None, now: int | None
) -> dict[str, Any]:
    import contextlib

    from liaison.server import app as server_app
    from liaison.server.keys import RELAY_KEY
    from liaison.server.retention import purge

    app = server_app.create_app(
        server_app.Settings(data_dir=data_dir, database_url=url, db_schema=schema, purge_interval=0)
    )
    # The server's own resources (store, log, keys), opened without listening on a port.
    async with contextlib.asynccontextmanager(server_app._resources)(app):
        report = await purge(app[RELAY_KEY], now=now)
    return report.to_dict()


def cmd_purge(args: argparse.Namespace) -> int:
    report = run(_purge(args.data_dir, args.database_url, database_schema(args), args.now))
    print_result(
        args,
        report,
        _("Purged the ciphertext of {purged} envelopes; {held} kept under a legal hold.").format(
            purged=len(report["purged"]), held=len(report["held"])
        ),
    )
    return 0
