"""`liaison outbox list|send|retry|delete`: messages waiting for the relay (poor connectivity).

`liaison send --queue` keeps a message in the encrypted outbox when the relay cannot be reached;
these commands show the waiting items and send them in order once it answers again."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from liaison.cli._common import (
    add_relay_options,
    command,
    on_session,
    print_json,
    print_result,
)
from liaison.cli.messages import finish, format_time
from liaison.i18n import _

if TYPE_CHECKING:
    from liaison.client.outbox import OutboxItem, SendReport
    from liaison.client.session import OfficerSession


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "outbox",
        help=_("Messages waiting for the server (sent in order when it answers)"),
        description=_(
            "The encrypted outbox: messages composed while the server could not be reached "
            "(liaison send --queue), kept encrypted in the home folder and sent in order, "
            "exactly once, when the server answers again."
        ),
    )
    group = parser.add_subparsers(dest="outbox_command", metavar="ACTION", required=True)
    listing = group.add_parser("list", help=_("List the waiting messages (no server needed)"))
    send = group.add_parser("send", help=_("Send the waiting messages in order now"))
    retry = group.add_parser(
        "retry", help=_("Send again a message the server refused, and those behind it")
    )
    retry.add_argument("item_id", metavar="ID", help=_("The outbox item's id"))
    delete = group.add_parser("delete", help=_("Delete a waiting message without sending it"))
    delete.add_argument("item_id", metavar="ID", help=_("The outbox item's id"))
    for sub in (listing, send, retry, delete):
        add_relay_options(sub)
    listing.set_defaults(func=cmd_list)
    send.set_defaults(func=cmd_send)
    retry.set_defaults(func=cmd_retry)
    delete.set_defaults(func=cmd_delete)


def item_json(item: OutboxItem) -> dict[str, Any]:
    """Metadata of an item (never its content, never a key)."""
    return {
        "id": item.item_id,
        "created_at": item.created_at,
        "addresses": list(item.addresses),
        "state": "damaged" if item.damaged else item.state,
        "message_id": item.message_id,
        "attempts": item.attempts,
        "error_code": "outbox_damaged" if item.damaged else item.error_code,
    }


def state_text(item: OutboxItem) -> str:
    if item.damaged:
        return _("damaged: cannot be opened")
    if item.error_code:
        return _("refused ({code}): {message}").format(
            code=item.error_code, message=item.error_message or ""
        )
    if item.state == "sealed":
        return _("sealed, waiting for the server")
    return _("waiting for the server")


@command
def cmd_list(args: argparse.Namespace) -> int:
    items = on_session(args, _items, offline=True)
    if args.json:
        print_json([item_json(item) for item in items])
        return 0
    if not items:
        print(_("The outbox is empty."))
    for item in items:
        if item.damaged:
            print(f"{item.item_id}  [{state_text(item)}]")
            continue
        print(
            f"{item.item_id}  {format_time(item.created_at)}  {', '.join(item.addresses)}  "
            f"[{state_text(item)}]  {item.summary}"
        )
    return 0


async def _items(session: OfficerSession) -> list[OutboxItem]:
    return session.outbox().items()


@command
def cmd_send(args: argparse.Namespace) -> int:
    return finish(args, on_session(args, lambda session: session.send_outbox()))


@command
def cmd_retry(args: argparse.Namespace) -> int:
    async def retry(session: OfficerSession) -> SendReport:
        session.outbox().retry(args.item_id)
        return await session.send_outbox()

    return finish(args, on_session(args, retry))


@command
def cmd_delete(args: argparse.Namespace) -> int:
    async def delete(session: OfficerSession) -> str:
        outbox = session.outbox()
        name = outbox.find(args.item_id)
        outbox.delete(name)
        return name.rsplit("-", 1)[-1]

    deleted = on_session(args, delete, offline=True)
    print_result(
        args,
        {"deleted": deleted},
        _("Deleted {id} from the outbox: it will not be sent.").format(id=deleted),
    )
    return 0
