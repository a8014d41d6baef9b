"""`liaison send`, `inbox`, `read`, `ack`, `watch`: the officer's encrypted mailbox."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from liaison.cli._common import (
    CommandError,
    add_relay_options,
    command,
    describe,
    home_from_args,
    on_session,
    print_json,
    print_result,
)
from liaison.client.errors import ClientError
from liaison.i18n import _, current_language
from liaison.i18n.labels import inbox_status

if TYPE_CHECKING:
    from liaison.client.outbox import SendReport
    from liaison.client.payload import Payload
    from liaison.client.read import OpenedMessage
    from liaison.client.records import MessageRecord
    from liaison.client.session import OfficerSession


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    send = subparsers.add_parser("send", help=_("Encrypt, sign and send a message"))
    add_recipients_option(send)
    # Not required here: other command groups may add content options (e.g. --notice) to
    # `send` and a builder to PAYLOAD_BUILDERS; exactly one content option is checked later.
    send.add_argument("--text", help=_("Message text"))
    send.add_argument(
        "--file",
        metavar="F",
        action="append",
        default=[],
        help=_("Attach file F (any size up to 2 GiB, encrypted); repeat for several"),
    )
    send.add_argument(
        "--queue",
        action="store_true",
        help=_(
            "When the server cannot be reached, keep the message in the encrypted outbox and "
            "send it in order when it answers (see liaison outbox)"
        ),
    )
    add_relay_options(send)
    send.set_defaults(func=cmd_send)

    inbox = subparsers.add_parser("inbox", help=_("Fetch and list received messages"))
    inbox.add_argument(
        "--offline",
        action="store_true",
        help=_("List the local cache without contacting the server"),
    )
    inbox.add_argument(
        "--unacknowledged", action="store_true", help=_("Only messages not acknowledged yet")
    )
    add_relay_options(inbox)
    inbox.set_defaults(func=cmd_inbox)

    read = subparsers.add_parser("read", help=_("Verify, decrypt and show a message"))
    add_message_id_argument(read)
    read.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help=_("Write the content to FILE instead of the terminal"),
    )
    read.add_argument(
        "--save",
        metavar="DIR",
        help=_("Download, verify and decrypt the message's attachments into DIR"),
    )
    add_relay_options(read)
    read.set_defaults(func=cmd_read)

    ack = subparsers.add_parser("ack", help=_("Acknowledge a received message"))
    add_message_id_argument(ack)
    add_relay_options(ack)
    ack.set_defaults(func=cmd_ack)

    watch = subparsers.add_parser("watch", help=_("Show messages as they arrive"))
    watch.add_argument("--count", type=int, default=None, help=_("Stop after this many messages"))
    add_relay_options(watch)
    watch.set_defaults(func=cmd_watch)


def add_recipients_option(parser: argparse.ArgumentParser) -> None:
    """--to, repeated: `send` and `forward`."""
    parser.add_argument(
        "--to",
        action="append",
        required=True,
        metavar="CODE[/OFFICER]",
        help=_("Recipient agency, or one officer of it; repeat for several"),
    )


def add_message_id_argument(parser: argparse.ArgumentParser) -> None:
    """ID of a message received on this device: `read`, `ack`, `forward`, `export`."""
    parser.add_argument("message_id", metavar="ID", help=_("Message id (or its first digits)"))


# Extension points for other content types (notices): a builder returns the payload named by
# its own options, or None; a renderer shows a decrypted payload of its own content type (or
# writes it to `args.output` when set, so that it can apply its own handling rules) and returns
# True, or returns False for any other payload, which then gets the plain display. Both are
# lists, so that registering one imports nothing: each checks the content type when it runs.
PayloadBuilder = Callable[[argparse.Namespace], "Payload | None"]
Renderer = Callable[["OpenedMessage", argparse.Namespace], bool]


def _text(args: argparse.Namespace) -> Payload | None:
    from liaison.client.payload import Payload

    if getattr(args, "text", None) is not None:
        return Payload.text(args.text)
    return None


PAYLOAD_BUILDERS: list[PayloadBuilder] = [_text]
RENDERERS: list[Renderer] = []


def payload_from_args(args: argparse.Namespace) -> Payload:
    """The one content given (--text or --notice); files alone travel with an empty text."""
    from liaison.client.payload import Payload

    payloads = [p for p in (build(args) for build in PAYLOAD_BUILDERS) if p is not None]
    if not payloads and attached_files(args):
        return Payload.text("")
    if len(payloads) != 1:
        raise CommandError(
            _("Give exactly one content: --text, --file or --notice."), code="bad_input"
        )
    return payloads[0]


def format_time(timestamp: Any) -> str:
    """A listing's time, read the same on both sides of the border: ISO date (never a numeric
    date the two sides read differently), 24-hour clock, in Vietnam and in China time."""
    from liaison.i18n.dates import CN_ZONE, VN_ZONE

    if not isinstance(timestamp, int):
        return str(timestamp or "")
    moment = datetime.fromtimestamp(timestamp, UTC)
    vietnam = moment.astimezone(ZoneInfo(VN_ZONE))
    china = moment.astimezone(ZoneInfo(CN_ZONE))
    china_date = "" if china.date() == vietnam.date() else f"{china:%Y-%m-%d} "
    return f"{vietnam:%Y-%m-%d %H:%M} UTC+7 / {china_date}{china:%H:%M} UTC+8"


def attached_files(args: argparse.Namespace) -> list[Path]:
    """The --file paths, each checked readable before anything is sealed or uploaded."""
    paths = [Path(name) for name in getattr(args, "file", None) or []]
    for path in paths:
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise ClientError(
                _("Cannot read {path}: {reason}").format(path=path, reason=exc.strerror)
            ) from exc
    return paths


def transfer_progress(args: argparse.Namespace) -> Callable[[str], Any] | None:
    """Progress of each file's transfer on stderr (never with --json on a pipe: stdout stays
    the JSON); a redrawn line on a terminal, a line per 10 % otherwise."""
    import time

    from liaison.client.attachments import ProgressPrinter

    def for_file(name: str) -> ProgressPrinter:
        sys.stderr.write(name + "\n")
        return ProgressPrinter(
            lambda text: (sys.stderr.write(text), sys.stderr.flush()),
            tty=sys.stderr.isatty(),
            clock=time.monotonic,
        )

    return for_file


@command
def cmd_send(args: argparse.Namespace) -> int:
    payload = payload_from_args(args)
    files = attached_files(args)
    if getattr(args, "queue", False):
        return send_queued(args, payload, files)
    progress = transfer_progress(args) if files else None
    sent = on_session(
        args, lambda session: session.send(args.to, payload, files=files, progress=progress)
    )
    print_result(
        args,
        {
            "message_id": sent.message_id,
            "log_index": sent.log_index,
            "recipients": list(sent.recipients),
            "review_agencies": list(sent.review_agencies),
        },
        _("Sent {id} to {count} devices (log entry {index}).").format(
            id=sent.message_id, count=len(sent.recipients), index=sent.log_index
        ),
    )
    return 0


def send_queued(args: argparse.Namespace, payload: Payload, files: list[Path]) -> int:
    """`send --queue`: through the outbox, behind any waiting item; kept when unreachable.
    Files are encrypted into the outbox now (their blobs; never a plaintext copy)."""
    item, report = on_session(
        args, lambda session: session.send_or_queue(args.to, payload, files=files)
    )
    sent = [s for i, s in report.sent if i.name == item.name]
    if sent:
        if report.stopped_at is None:
            print_result(
                args,
                {
                    "message_id": sent[0].message_id,
                    "log_index": sent[0].log_index,
                    "recipients": list(sent[0].recipients),
                    "review_agencies": list(sent[0].review_agencies),
                    "queued": False,
                },
                _("Sent {id} to {count} devices (log entry {index}).").format(
                    id=sent[0].message_id,
                    count=len(sent[0].recipients),
                    index=sent[0].log_index,
                ),
            )
            return 0
        return finish(args, report)
    if report.error is not None:
        return finish(args, report)
    print_result(
        args,
        {"queued": True, "id": item.item_id, "waiting": report.waiting},
        _(
            "The server cannot be reached: message {id} waits in the encrypted outbox and is "
            "sent in order when the server answers (liaison outbox send)."
        ).format(id=item.item_id),
    )
    return 0


def report_text(report: SendReport) -> str:
    parts = [
        _("Waiting messages sent: {count}.").format(count=len(report.sent))
        if report.sent
        else _("Nothing was sent.")
    ]
    if report.busy:
        parts.append(_("Another Liaison program is sending the outbox now."))
    elif report.unreachable:
        parts.append(_("The server cannot be reached: the messages stay waiting."))
    parts.append(_("{count} still waiting.").format(count=report.waiting))
    return " ".join(parts)


def report_json(report: SendReport) -> dict[str, Any]:
    return {
        "sent": [
            {"id": item.item_id, "message_id": sent.message_id, "log_index": sent.log_index}
            for item, sent in report.sent
        ],
        "waiting": report.waiting,
        "busy": report.busy,
        "unreachable": report.unreachable,
        "stopped_at": report.stopped_at.item_id if report.stopped_at else None,
        "error_code": report.error.code if report.error else None,
    }


def finish(args: argparse.Namespace, report: SendReport) -> int:
    """Print what a run did; a refused or damaged item is the command's error (exit 1)."""
    print_result(args, report_json(report), report_text(report))
    if report.error is not None and report.stopped_at is not None:
        raise CommandError(
            _("The outbox item {id} stops the sending: {reason}").format(
                id=report.stopped_at.item_id, reason=describe(report.error)
            ),
            code=report.error.code,
        )
    return 0


@command
def cmd_inbox(args: argparse.Namespace) -> int:
    async def listing(session: OfficerSession) -> list[MessageRecord]:
        if not session.offline:
            await session.sync()
        return session.inbox(include_acknowledged=not args.unacknowledged)

    records = on_session(args, listing, offline=args.offline)
    if args.json:
        print_json([record.metadata() for record in records])
        return 0
    if not records:
        print(_("No messages."))
    for record in records:
        # The stored status is a key ("new", "read"…): the officer reads its word.
        flags = inbox_status(record.status)
        if record.acknowledged:
            flags += ", " + _("acknowledged")
        print(
            f"{record.message_id}  {format_time(record.sent_at)}  "
            f"{record.sender_device or '?'}  [{flags}]"
        )
    return 0


def show_message(
    message: OpenedMessage,
    *,
    output: str | None,
    as_json: bool,
    args: argparse.Namespace | None = None,
) -> None:
    """A message on the terminal (or its content in `output`), by a renderer of its content
    type when `args` lets one apply its options."""
    payload = message.payload
    if args is not None and any(render(message, args) for render in RENDERERS):
        return
    names = message.sender_names
    sender = names.get(current_language()[:2]) or names.get("vi") or message.sender_device
    if output:
        Path(output).write_bytes(payload.body)
    if as_json:
        value: dict[str, Any] = {
            "message_id": message.message_id,
            "sender_device": message.sender_device,
            "sender_names": names,
            "sent_at": message.sent_at,
            "log_index": message.log_index,
            "recipients": list(message.recipients),
            "content_type": payload.content_type,
            "filename": payload.filename,
            # Name, size and type only: a file key is never shown.
            "attachments": [attachment_json(ref) for ref in payload.attachments],
        }
        if payload.is_text and not output:
            value["text"] = payload.as_text()
        print_json(value)
        return
    print(_("From: {name} ({device})").format(name=sender, device=message.sender_device))
    print(_("Sent: {time}").format(time=format_time(message.sent_at)))
    print(_("Message: {id}").format(id=message.message_id))
    if output:
        print(
            _("Content ({type}) written to {path}.").format(type=payload.content_type, path=output)
        )
    elif payload.is_text:
        print()
        print(payload.as_text())
    else:
        print(
            _("Content of type {type}, {size} bytes: use -o FILE to save it.").format(
                type=payload.content_type, size=len(payload.body)
            )
        )
    if payload.attachments:
        from liaison.client.attachments import format_bytes

        print()
        print(_("Attachments (save them with --save DIR):"))
        for index, ref in enumerate(payload.attachments):
            print(f"  [{index}] {ref.name}  {format_bytes(ref.size)}  {ref.media_type}")
    sys.stdout.flush()


def attachment_json(ref: Any) -> dict[str, Any]:
    return {"name": ref.name, "size": ref.size, "media_type": ref.media_type}


@command
def cmd_read(args: argparse.Namespace) -> int:
    message = on_session(args, lambda session: session.read(args.message_id))
    show_message(message, output=args.output, as_json=args.json, args=args)
    if getattr(args, "save", None):
        directory = Path(args.save)
        progress = transfer_progress(args)
        saved = on_session(
            args,
            lambda session: session.save_attachments(
                message.message_id, directory, progress=progress
            ),
        )
        print_result(
            args,
            {"saved": [str(path) for path in saved]},
            "\n".join(_("Saved {path} (verified).").format(path=path) for path in saved)
            or _("The message has no attachments."),
        )
    return 0


@command
def cmd_ack(args: argparse.Namespace) -> int:
    result = on_session(args, lambda session: session.acknowledge(args.message_id))
    print_result(
        args,
        result,
        _("Message {id} acknowledged (log entry {index}).").format(
            id=result["message_id"], index=result["log_index"]
        ),
    )
    return 0


@command
def cmd_watch(args: argparse.Namespace) -> int:
    home = home_from_args(args)
    home.passphrase()  # ask before waiting, not when the first message arrives

    def deliver(record: MessageRecord, result: Any) -> None:
        if isinstance(result, ClientError):
            print(
                _("Message {id} refused: {reason}").format(
                    id=record.message_id, reason=describe(result)
                ),
                flush=True,
            )
            return
        show_message(result, output=None, as_json=args.json, args=args)
        if not args.json:
            print("-" * 40, flush=True)

    def ready() -> None:
        print(_("Watching for messages (Ctrl-C to stop)..."), file=sys.stderr, flush=True)

    def retry(seconds: float, error: ClientError) -> None:
        print(
            _("{reason}; trying again in {seconds} s.").format(
                reason=describe(error), seconds=f"{seconds:.1f}"
            ),
            file=sys.stderr,
            flush=True,
        )

    def reconnected() -> None:
        print(_("Connected to the server again."), file=sys.stderr, flush=True)

    on_session(
        args,
        lambda session: session.watch(
            deliver,
            count=args.count,
            on_ready=ready,
            on_retry=retry,
            on_reconnect=reconnected,
        ),
        home=home,
    )
    return 0
