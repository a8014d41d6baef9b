"""`liaison audit verify`: catch a server that rewrites, drops or reorders its log."""

from __future__ import annotations

import argparse

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
    add_relay_options(verify)
    verify.set_defaults(func=cmd_verify)
    _audit_bundle.register(group)


@command
def cmd_verify(args: argparse.Namespace) -> int:
    from liaison.client import audit as audit_ops

    home = home_from_args(args)
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
