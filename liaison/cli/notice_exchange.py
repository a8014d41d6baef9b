"""Notices over the relay: `send --notice`, `read --lang/--html`, `inbox --search`, `forward`,
`export` (H2 notices are neither forwarded beyond their units nor exported)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from liaison.cli import CommandError
from liaison.cli import messages as message_cli
from liaison.client import messages as message_ops
from liaison.client import notices as notice_ops
from liaison.client import officer
from liaison.client.console import (
    add_home_option,
    add_json_option,
    add_server_option,
    command,
    describe,
    home_from_args,
    print_json,
    read_input,
    run,
    with_api,
    write_output,
)
from liaison.client.errors import ClientError
from liaison.client.payload import NOTICE, Payload
from liaison.domain.fields import NoticeError
from liaison.domain.notices import parse_notice
from liaison.i18n import _, current_language
from liaison.i18n.render import render_text

LANG_CHOICES = ("vi", "zh", "en", "both")


@contextmanager
def _notice_errors() -> Iterator[None]:
    """A notice refused (bad field, H2 handling) becomes a CommandError with the notice's code,
    before the generic handlers see it (HandlingRestricted is also a PermissionError)."""
    try:
        yield
    except NoticeError as exc:
        raise CommandError(str(exc), code=exc.code) from None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parsers = subparsers.choices
    parsers["send"].add_argument(
        "--notice",
        metavar="FILE.json",
        help=_("Notice file (see: liaison notice template); checked before anything is sealed"),
    )
    read = parsers["read"]
    read.add_argument(
        "--lang",
        choices=LANG_CHOICES,
        default=None,
        help=_(
            "Language of a notice: vi, zh, en or both (default: yours, from LIAISON_LANG "
            "or the locale)"
        ),
    )
    read.add_argument(
        "--html", metavar="FILE", help=_("Write the notice as printable HTML to FILE")
    )
    inbox = parsers["inbox"]
    inbox.add_argument(
        "--search",
        metavar="TEXT",
        help=_(
            "Only messages whose content contains every word of TEXT, with or without "
            "Vietnamese diacritics (decrypted in memory, never indexed on disk)"
        ),
    )
    inbox.set_defaults(func=cmd_inbox)
    if _notice_payload not in message_cli.PAYLOAD_BUILDERS:
        message_cli.PAYLOAD_BUILDERS.append(_notice_payload)
    message_cli.RENDERERS[NOTICE] = _render_notice

    forward = subparsers.add_parser(
        "forward",
        help=_("Pass a received notice on to other recipients, as a new notice from you"),
    )
    forward.add_argument("message_id", metavar="ID", help=_("Message id (or its first digits)"))
    forward.add_argument(
        "--to",
        action="append",
        required=True,
        metavar="CODE[/OFFICER]",
        help=_("Recipient agency, or one officer of it; repeat for several"),
    )
    add_server_option(forward)
    add_home_option(forward)
    add_json_option(forward)
    forward.set_defaults(func=cmd_forward)

    export = subparsers.add_parser(
        "export", help=_("Write a received notice to a file (refused for handling code H2)")
    )
    export.add_argument("message_id", metavar="ID", help=_("Message id (or its first digits)"))
    export.add_argument(
        "-o", "--output", required=True, metavar="FILE", help=_("File to write, or - for stdout")
    )
    export.add_argument(
        "--format",
        choices=notice_ops.EXPORT_FORMATS,
        default=None,
        help=_("json, text or html (default: from the file name, else text)"),
    )
    export.add_argument(
        "--lang",
        choices=LANG_CHOICES,
        default="both",
        help=_("Language of a text or HTML export (default: both)"),
    )
    add_server_option(export)
    add_home_option(export)
    export.set_defaults(func=cmd_export)


def _language(args: argparse.Namespace) -> str:
    return getattr(args, "lang", None) or current_language()


# --- send --notice ------------------------------------------------------------------------------
def _notice_payload(args: argparse.Namespace) -> Payload | None:
    path = getattr(args, "notice", None)
    if path is None:
        return None
    data = read_input(path)
    with _notice_errors():
        notice = parse_notice(data)
    own_agency = officer.own_certificate(home_from_args(args)).agency
    notice_ops.check_addressing(notice, own_agency, args.to)
    return notice_ops.notice_payload(notice)


# --- read ---------------------------------------------------------------------------------------
def _render_notice(message: message_ops.OpenedMessage, args: argparse.Namespace) -> bool:
    try:
        notice = notice_ops.open_notice(message)
    except ClientError as exc:
        if not hasattr(args, "message_id"):  # `watch`: report and carry on with the next one
            print(describe(exc), flush=True)
            return True
        raise
    record = home_from_args(args).load_message(message.message_id)
    meta = notice_ops.message_meta(message, record)
    lang = _language(args)
    output = getattr(args, "output", None)
    html = getattr(args, "html", None)
    with _notice_errors():
        if output:
            write_output(output, notice_ops.export_bytes(notice, "json", lang, meta))
            print(_("Written: {path}").format(path=output), file=sys.stderr)
            return True
        if html:
            Path(html).write_bytes(notice_ops.export_bytes(notice, "html", lang, meta))
            print(_("Written: {path}").format(path=html), file=sys.stderr)
            return True
        if getattr(args, "json", False):
            print_json(
                {**meta, "content_type": message.payload.content_type, "notice": notice.to_dict()}
            )
            return True
        sys.stdout.write(render_text(notice, lang, message_meta=meta))
    sys.stdout.flush()
    return True


# --- inbox --search -----------------------------------------------------------------------------
@command
def cmd_inbox(args: argparse.Namespace) -> int:
    if args.search is None:
        return int(message_cli.cmd_inbox(args))
    home = home_from_args(args)
    home.passphrase()

    def not_opened(message_id: str, reason: str) -> None:
        print(
            _("Message {id} not searched: {reason}").format(id=message_id, reason=reason),
            file=sys.stderr,
        )

    async def sync_and_search(api: Any) -> notice_ops.SearchResult:
        if not args.offline:
            await message_ops.sync(home, api)
        return await notice_ops.search(
            home,
            api,
            args.search,
            include_acknowledged=not args.unacknowledged,
            on_error=not_opened,
        )

    result = run(with_api(home.server_url(args.server), sync_and_search))
    if args.json:
        print_json(
            [
                {
                    **{k: v for k, v in record.items() if k not in ("envelope", "inclusion_proof")},
                    **(
                        {"notice_type": notice.type, "case_ref": notice.case_ref}
                        if notice is not None
                        else {}
                    ),
                }
                for record, notice in result.hits
            ]
        )
        return 0
    if not result.hits:
        print(_("No messages match {text}.").format(text=args.search))
    for record, notice in result.hits:
        line = (
            f"{record['message_id']}  {message_cli.format_time(record.get('sent_at'))}  "
            f"{record.get('sender_device', '?')}"
        )
        if notice is not None:
            line += f"  {_(notice.spec().label)} · {notice.case_ref} · {notice.handling}"
        print(line)
    return 0


# --- forward, export ----------------------------------------------------------------------------
@command
def cmd_forward(args: argparse.Namespace) -> int:
    home = home_from_args(args)

    def forward(api: Any) -> Any:
        return notice_ops.forward(home, api, args.message_id, args.to)

    with _notice_errors():
        notice, sent = run(with_api(home.server_url(args.server), forward))
    original = notice.header["forwarded_from"]["message_id"]
    if args.json:
        print_json(
            {
                "message_id": sent.message_id,
                "forwarded_from": original,
                "log_index": sent.log_index,
                "recipients": list(sent.recipients),
            }
        )
    else:
        print(
            _("Forwarded {original} as {id} to {count} devices (log entry {index}).").format(
                original=original,
                id=sent.message_id,
                count=len(sent.recipients),
                index=sent.log_index,
            )
        )
    return 0


@command
def cmd_export(args: argparse.Namespace) -> int:
    home = home_from_args(args)

    def read(api: Any) -> Any:
        return notice_ops.read_notice(home, api, args.message_id)

    message, notice = run(with_api(home.server_url(args.server), read))
    fmt = notice_ops.export_format(args.output, args.format)
    meta = notice_ops.message_meta(message, home.load_message(message.message_id))
    with _notice_errors():
        data = notice_ops.export_bytes(notice, fmt, args.lang, meta)
    write_output(args.output, data)
    if args.output != "-":
        print(_("Written: {path}").format(path=args.output), file=sys.stderr)
    return 0
