"""`liaison serve`: run the relay server."""

from __future__ import annotations

import argparse
from pathlib import Path

from aiohttp import web

from liaison.i18n import _
from liaison.server.app import Settings, create_app


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help=_("Run the relay server"))
    parser.add_argument("--data-dir", type=Path, default=Path("var"), help=_("Data folder"))
    parser.add_argument("--db", dest="database_url", help=_("Database URL (default: SQLite in the data folder)"))
    parser.add_argument("--host", default="127.0.0.1", help=_("Address to listen on"))
    parser.add_argument("--port", type=int, default=8080, help=_("Port to listen on"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    args.data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=args.data_dir, database_url=args.database_url, host=args.host, port=args.port)
    print(_("Liaison relay listening on http://{host}:{port}/v1/health").format(host=args.host, port=args.port))
    web.run_app(create_app(settings), host=args.host, port=args.port, print=None)
    return 0
