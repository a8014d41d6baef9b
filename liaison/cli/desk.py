"""`liaison desk`: the officer desk, a local web app in the browser (liaison/desk)."""

from __future__ import annotations

import argparse

from liaison.cli._common import add_home_option, command, home_from_args, run
from liaison.i18n import _


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "desk", help=_("Open the officer desk in the browser (a local web app on 127.0.0.1)")
    )
    add_home_option(parser)
    parser.add_argument(
        "--port", type=int, default=0, help=_("Port on 127.0.0.1 (default: any free port)")
    )
    parser.add_argument(
        "--no-browser", action="store_true", help=_("Only print the one-time address")
    )
    parser.add_argument(
        "--idle-lock",
        type=int,
        default=15,
        metavar="MINUTES",
        help=_("Lock the desk after this many idle minutes (default: 15)"),
    )
    parser.set_defaults(func=cmd_desk)


@command
def cmd_desk(args: argparse.Namespace) -> int:
    import os
    import sys

    from liaison.client.home import PASSPHRASE_ENV, passphrase_from_env_or_prompt
    from liaison.desk.app import DeskSettings
    from liaison.desk.serve import serve

    home = home_from_args(args)
    # The passphrase from the terminal when there is one; otherwise the desk's unlock page.
    passphrase = None
    if os.environ.get(PASSPHRASE_ENV) or sys.stdin.isatty():
        passphrase = passphrase_from_env_or_prompt(False)
    settings = DeskSettings(home=home.root, idle_lock_seconds=max(1, args.idle_lock) * 60.0)
    print(_("The desk is at this one-time address (keep it to yourself):"), flush=True)
    try:
        run(
            serve(
                settings,
                port=args.port,
                passphrase=passphrase,
                open_browser=not args.no_browser,
                say=lambda line: print(line, flush=True),
            )
        )
    except KeyboardInterrupt:
        pass
    return 0
