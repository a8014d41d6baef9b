"""`liaison audit verify`: catch a server that rewrites, drops or reorders its log."""

from __future__ import annotations

import argparse
from typing import Any

from liaison.cli import _audit_bundle
from liaison.cli._common import (
    CommandError,
    add_relay_options,
    command,
    home_from_args,
    on_relay,
    print_json,
)
from liaison.cli.review import add_audit_log_command
from liaison.i18n import _


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "audit", help=_("Check the server's log"), description=_("Check the server's log")
    )
    group = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    add_audit_log_command(group)
    verify = group.add_parser(
        "verify",
        help=_("Check the log is consistent with the stored checkpoint and holds every message"),
    )
    verify.add_argument(
        "--across",
        metavar="MESSAGE_ID",
        help=_("Check one cross-border message in both relays' logs (same envelope hash)"),
    )
    add_relay_options(verify)
    verify.set_defaults(func=cmd_verify)
    _audit_bundle.register(group)


@command
def cmd_verify(args: argparse.Namespace) -> int:
    from liaison.client import audit as audit_ops

    home = home_from_args(args)
    if getattr(args, "across", None):
        return _verify_across(args, home)
    report = on_relay(home, args, lambda api: audit_ops.verify(home, api))
    if args.json:
        print_json(report.to_dict())
    elif report.ok:
        print(
            _(
                "Log verified: size {size}, consistent with the stored checkpoint (size {old}); "
                "{count} messages included."
            ).format(
                size=report.checkpoint_size, old=report.previous_size, count=report.messages_checked
            )
        )
    if not report.ok:
        raise CommandError(
            _("The server's log failed the audit:") + "\n  " + "\n  ".join(report.problems),
            code="audit_failed",
        )
    return 0


def _verify_across(args: argparse.Namespace, home: Any) -> int:
    from liaison.client import crossing

    message_id = args.across
    report = on_relay(home, args, lambda api: crossing.verify_across(home, api, message_id))
    if args.json:
        print_json(report.to_dict())
    elif report.ok:
        for side in report.sides:
            print(
                _("{relay}: {kind} entry {index}, included in its signed checkpoint").format(
                    relay=side["origin"], kind=side["kind"], index=side["index"]
                )
            )
        print(
            _("Both logs name envelope hash {hash} for message {id}.").format(
                hash=report.envelope_hash, id=message_id
            )
        )
    if not report.ok:
        problems = report.problems or [_("Only one relay's log was checked.")]
        raise CommandError(
            _("The message failed the audit across the border:") + "\n  " + "\n  ".join(problems),
            code="audit_failed",
        )
    return 0
