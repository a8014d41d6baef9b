"""`liaison serve`: run the relay server (SQLite in the data folder, or PostgreSQL with --db)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from liaison.i18n import _


def add_database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, default=Path("var"), help=_("Data folder (keys, SQLite file)")
    )
    parser.add_argument(
        "--db",
        dest="database_url",
        help=_(
            "Database URL, e.g. postgresql://user@host/liaison (default: SQLite in the data folder)"
        ),
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help=_("Run the relay server"))
    add_database_options(parser)
    parser.add_argument("--host", default="127.0.0.1", help=_("Address to listen on"))
    parser.add_argument("--port", type=int, default=8080, help=_("Port to listen on"))
    parser.set_defaults(func=run)


def _announce(token: str) -> None:
    # Shown once, on the operator's own terminal; afterwards it lives only in admin.token (0600).
    print(_("Operator admin token (shown once; also in the data folder's admin.token):"))
    print(f"  {token}")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    import logging

    from aiohttp import web

    from liaison.server.app import Settings, create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args.data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        data_dir=args.data_dir,
        database_url=args.database_url,
        host=args.host,
        port=args.port,
        announce_admin_token=_announce,
    )
    print(
        _("Liaison relay listening on http://{host}:{port}/v1/health").format(
            host=args.host, port=args.port
        )
    )
    sys.stdout.flush()
    web.run_app(create_app(settings), host=args.host, port=args.port, print=None, access_log=None)
    return 0
