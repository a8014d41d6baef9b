"""`liaison demo`: a guided tour on a throw-away server: agencies, officers, messages, audit;
then across the border, a Vietnamese and a Chinese relay peered, messages crossing.

The command lives here; the tour (demo/tour.py, demo/border.py) is imported when it runs.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from liaison.cli._common import command, run
from liaison.client.home import KDF_PROFILE_ENV
from liaison.i18n import _


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help=_("Guided demonstration on a temporary server"),
        description=_(
            "Start a relay in a temporary folder, create three agencies of two countries, enrol "
            "officers, pin roots, exchange messages both ways and verify the log; then start a "
            "Vietnamese relay and a Chinese relay, peer them and show messages crossing the "
            "border, each side logging the same envelope."
        ),
    )
    parser.add_argument(
        "--keep", action="store_true", help=_("Keep the temporary folder to look at it afterwards")
    )
    parser.set_defaults(func=cmd_demo)


@command
def cmd_demo(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from liaison.cli.demo.border import run_border
    from liaison.cli.demo.tour import run_demo

    # Throw-away keys: a cheaper Argon2id setting keeps the tour quick.
    os.environ.setdefault(KDF_PROFILE_ENV, "interactive")
    folder = Path(tempfile.mkdtemp(prefix="liaison-demo-"))
    try:

        def say(line: str) -> None:
            print(line, flush=True)

        run(run_demo(folder, say=say))
        print()
        run(run_border(folder / "border", say=say))
        print()
        print(_("Demo complete: every message was end-to-end encrypted and the log verified."))
    finally:
        if args.keep:
            print(_("The demo folder is kept at {folder}.").format(folder=folder))
        else:
            shutil.rmtree(folder, ignore_errors=True)
            print(_("Temporary folder removed."))
    return 0
