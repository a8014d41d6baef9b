"""The `liaison` command line: one argparse tree, each command group in its own module."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from liaison import __version__
from liaison.cli._common import CommandError, CommandParser
from liaison.i18n import _, language_from_env, set_language
from liaison.i18n.errors import install_argparse_translation


# Every module of this package that defines `register(subparsers)` adds its command group; each
# command sets `func(args) -> int`. Discovery keeps command groups independent of this file.
# Modules starting with "_" are shared parts, not command groups. Each module's top level is
# cheap (see liaison/cli/_common.py): all of them are imported on every call.
def _command_modules() -> list[str]:
    package = importlib.import_module(__name__)
    return sorted(
        f"{__name__}.{info.name}"
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree; a few commands add their options when parsed (CommandParser)."""
    # argparse's own words ("usage", "options", its errors) from our catalogues too.
    install_argparse_translation()
    parser = CommandParser(
        prog="liaison",
        description=_("Secure liaison between border agencies: encrypted, signed, audited."),
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"liaison {__version__}",
        # argparse's default help for --version is not passed through gettext.
        help=_("show program's version number and exit"),
    )
    parser.add_argument(
        "--insecure-http",
        action="store_true",
        help=_("Allow plain http:// to a relay on another machine (tokens travel in clear)"),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _command_modules():
        module = importlib.import_module(name)
        if hasattr(module, "register"):
            module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    set_language(language_from_env())
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "insecure_http", False):
        from liaison.client.transport import allow_insecure_http

        print(
            _("Warning: plain http:// allowed; device and admin tokens travel in clear."),
            file=sys.stderr,
        )
        allow_insecure_http()
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except CommandError as exc:
        print(_("Error: {message}").format(message=exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(_("Interrupted."), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
