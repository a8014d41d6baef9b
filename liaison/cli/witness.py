"""`liaison witness add|remove|list`: the operator registers the witnesses whose cosignatures
the relay accepts (issue 14, defect 1). Server side: it works on the data folder's database."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from liaison.cli._common import CommandError, add_json_option, print_result, run
from liaison.cli.serve import add_database_options, database_schema
from liaison.i18n import _

T = TypeVar("T")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "witness", help=_("Witnesses whose cosignatures this relay accepts (operator)")
    )
    commands = parser.add_subparsers(dest="witness_command", metavar="COMMAND", required=True)
    add = commands.add_parser("add", help=_("Register a witness's name and public key"))
    remove = commands.add_parser("remove", help=_("Unregister a witness's name and public key"))
    for sub in (add, remove):
        sub.add_argument("name", help=_("The witness's key name, e.g. witness.cn-gx.example"))
        sub.add_argument("key", help=_("The witness's Ed25519 public key, base64"))
    listing = commands.add_parser("list", help=_("List the registered witnesses"))
    for sub in (add, remove, listing):
        add_database_options(sub)
        add_json_option(sub)
    add.set_defaults(func=cmd_add)
    remove.set_defaults(func=cmd_remove)
    listing.set_defaults(func=cmd_list)


def _witness_key(name: str, text: str) -> bytes:
    from crypto.encoding import b64d
    from crypto.errors import CryptoError
    from liaison.server.witness import validate_witness

    try:
        key = b64d(text)
        validate_witness(name, key)
    except CryptoError as exc:
        raise CommandError(
            _("Give a witness name without spaces or '+' and a base64 Ed25519 public key."),
            code="invalid_arguments",
        ) from exc
    return key


async def _with_store(args: argparse.Namespace, action: Callable[[Any], Awaitable[T]]) -> T:
    """`action` on the relay's store (through the server package, which owns it)."""
    from liaison.server.witness import on_witness_store

    data_dir: Path = args.data_dir
    return await on_witness_store(data_dir, args.database_url, database_schema(args), action)


def cmd_add(args: argparse.Namespace) -> int:
    import time

    args.data_dir.mkdir(parents=True, exist_ok=True)
    from liaison.server.witness import register_witness

    key = _witness_key(args.name, args.key)
    added = run(_with_store(args, lambda s: register_witness(s, args.name, key, int(time.time()))))
    text = (
        _("Witness {name} registered; its cosignatures are accepted from now on.")
        if added
        else _("Witness {name} was registered already.")
    )
    print_result(args, {"name": args.name, "added": added}, text.format(name=args.name))
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from liaison.server.witness import unregister_witness

    key = _witness_key(args.name, args.key)
    removed = run(_with_store(args, lambda s: unregister_witness(s, args.name, key)))
    if not removed:
        raise CommandError(
            _("No witness {name} with this key is registered.").format(name=args.name),
            code="unknown_witness",
        )
    print_result(
        args,
        {"name": args.name, "removed": True},
        _("Witness {name} removed.").format(name=args.name),
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from crypto.encoding import b64e
    from liaison.client.bundle import key_fingerprint

    rows = run(_with_store(args, lambda s: s.registered_witnesses()))
    witnesses = [
        {"name": name, "public_key": b64e(key), "fingerprint": key_fingerprint(key), "added_at": at}
        for name, key, at in rows
    ]
    lines = [f"{w['name']}  {w['public_key']}  {w['fingerprint']}" for w in witnesses]
    print_result(args, {"witnesses": witnesses}, "\n".join(lines) or _("No witness is registered."))
    return 0
