"""`liaison db upgrade` and `liaison db purge`: relay database maintenance without serving."""

from __future__ import annotations

import argparse

from liaison.cli import hold
from liaison.cli._common import add_json_option, run
from liaison.cli.serve import add_database_options, database_schema
from liaison.i18n import _


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("db", help=_("Relay database maintenance"))
    commands = parser.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    upgrade = commands.add_parser("upgrade", help=_("Apply pending schema migrations"))
    add_database_options(upgrade)
    upgrade.set_defaults(func=run_upgrade)

    # `liaison db purge`: the retention purge once, as the server's periodic task runs it.
    purge = commands.add_parser(
        "purge", help=_("Delete ciphertext past its retention (holds respected); log each")
    )
    add_database_options(purge)
    purge.add_argument(
        "--now", type=int, default=None, help=_("Clock for the purge, Unix seconds (tests)")
    )
    add_json_option(purge)
    purge.set_defaults(func=hold.cmd_purge)


async def _upgrade(url: str, schema: str | None) -> str | None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from liaison.store.engine import current_revision, schema_connect_args, upgrade

    engine = create_async_engine(url, connect_args=schema_connect_args(url, schema))
    try:
        await upgrade(engine)
        return await current_revision(engine)
    finally:
        await engine.dispose()


def run_upgrade(args: argparse.Namespace) -> int:
    from liaison.store.engine import database_url

    schema = database_schema(args)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    revision = run(_upgrade(database_url(args.data_dir, args.database_url), schema))
    print(_("Database schema is at revision {revision}.").format(revision=revision))
    return 0
