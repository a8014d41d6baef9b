"""`liaison db upgrade|purge|backup|restore`: relay database maintenance without serving."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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

    backup = commands.add_parser(
        "backup", help=_("Write the relay's database, keys and blobs to one file (mode 0600)")
    )
    backup.add_argument("out", type=Path, metavar="OUT", help=_("The backup file to write"))
    add_database_options(backup)
    backup.set_defaults(func=run_backup)
    restore = commands.add_parser(
        "restore", help=_("Restore a backup into an empty data folder and database, then migrate")
    )
    restore.add_argument("source", type=Path, metavar="IN", help=_("The backup file to read"))
    add_database_options(restore)
    restore.add_argument(
        "--force",
        action="store_true",
        help=_("Replace the relay already in the data folder and database"),
    )
    restore.set_defaults(func=run_restore)


def run_upgrade(args: argparse.Namespace) -> int:
    from liaison.server.database import upgrade_database

    schema = database_schema(args)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    revision = run(upgrade_database(args.data_dir, args.database_url, schema))
    print(_("Database schema is at revision {revision}.").format(revision=revision))
    return 0


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_backup(args: argparse.Namespace) -> int:
    from liaison.cli._common import CommandError
    from liaison.server.database import BackupError, backup_relay

    schema = database_schema(args)
    try:
        manifest = run(
            backup_relay(args.data_dir, args.database_url, schema, args.out, progress=_progress)
        )
    except BackupError as exc:
        raise CommandError(str(exc), code=exc.code) from exc
    print(
        _("Backup written to {path}: log of {size} entries, schema revision {revision}.").format(
            path=args.out, size=manifest["log_size"], revision=manifest["revision"]
        )
    )
    print(
        _(
            "Warning: this file holds the relay's secret log signing key. Keep it encrypted,"
            " readable only by the operator (it is written with mode 0600)."
        ),
        file=sys.stderr,
    )
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from liaison.cli._common import CommandError
    from liaison.server.database import BackupError, restore_relay

    schema = database_schema(args)
    try:
        manifest = run(
            restore_relay(
                args.source,
                args.data_dir,
                args.database_url,
                schema,
                force=args.force,
                progress=_progress,
            )
        )
    except BackupError as exc:
        raise CommandError(str(exc), code=exc.code) from exc
    print(
        _(
            "Restored a log of {size} entries; schema at revision {revision}. Clients that saw"
            " a later checkpoint will report a rollback: tell the agencies."
        ).format(size=manifest["log_size"], revision=manifest["restored_revision"])
    )
    return 0
