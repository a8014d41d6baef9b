"""Notices over the relay: `send --notice`, `read --lang/--html/--pdf`, `inbox --search`, `forward`,
`export` (H2 notices are neither forwarded beyond their units nor exported)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from liaison.cli import messages as message_cli
from liaison.cli._common import (
    add_pdf_option,
    add_relay_options,
    command,
    describe,
    home_from_args,
    notice_refusals,
    on_session,
    print_json,
    print_result,
    read_input,
    write_output,
    write_pdf,
)
from liaison.client.errors import ClientError
from liaison.i18n import _, current_language

if TYPE_CHECKING:
    from liaison.client.notices import SearchResult
    from liaison.client.payload import Payload
    from liaison.client.read import OpenedMessage
    from liaison.client.session import OfficerSession

LANG_CHOICES = ("vi", "zh", "en", "both")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parsers = subparsers.choices
    parsers["send"].add_argument(
        "--notice",
        metavar="FILE.json",
        help=_("Notice file (see: liaison notice template); checked before anything is sealed"),
    )
    read = parsers["read"]
    add_notice_lang_option(read)
    read.add_argument(
        "--html", metavar="FILE", help=_("Write the notice as printable HTML to FILE")
    )
    add_pdf_option(read)
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
    if render_notice not in message_cli.RENDERERS:
        message_cli.RENDERERS.append(render_notice)

    forward = subparsers.add_parser(
        "forward",
        help=_("Pass a received notice on to other recipients, as a new notice from you"),
    )
    message_cli.add_message_id_argument(forward)
    message_cli.add_recipients_option(forward)
    add_relay_options(forward)
    forward.set_defaults(func=cmd_forward)

    subparsers.add_parser(
        "export",
        help=_("Write a received notice to a file (refused for handling code H2)"),
        options=_export_options,  # its --format choices come from the client's notices module
    )


def _export_options(export: argparse.ArgumentParser) -> None:
    from liaison.client.notices import EXPORT_FORMATS

    message_cli.add_message_id_argument(export)
    export.add_argument(
        "-o", "--output", required=True, metavar="FILE", help=_("File to write, or - for stdout")
    )
    export.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        default=None,
        help=_("json, text or html (default: from the file name, else text)"),
    )
    export.add_argument(
        "--lang",
        choices=LANG_CHOICES,
        default="both",
        help=_("Language of a text or HTML export (default: both)"),
    )
    add_relay_options(export, json=False)
    export.set_defaults(func=cmd_export)


def add_notice_lang_option(parser: argparse.ArgumentParser) -> None:
    """--lang of a notice shown on the terminal: `read` and `review read`."""
    parser.add_argument(
        "--lang",
        choices=LANG_CHOICES,
        default=None,
        help=_(
            "Language of a notice: vi, zh, en or both (default: yours, from LIAISON_LANG "
            "or the locale)"
        ),
    )


def _language(args: argparse.Namespace) -> str:
    return getattr(args, "lang", None) or current_language()


# --- send --notice ------------------------------------------------------------------------------
def _notice_payload(args: argparse.Namespace) -> Payload | None:
    path = getattr(args, "notice", None)
    if path is None:
        return None
    from liaison.client import notices as notice_ops
    from liaison.client import officer
    from liaison.domain.notices import parse_notice

    data = read_input(path)
    with notice_refusals():
        # Attachment indexes count the --file options, in their order (0 is the first).
        notice = parse_notice(data, attachments=len(getattr(args, "file", None) or []))
    own_agency = officer.own_certificate(home_from_args(args)).agency
    notice_ops.check_addressing(notice, own_agency, args.to)
    return notice_ops.notice_payload(notice)


# --- read, watch, review read -------------------------------------------------------------------
def render_notice(message: OpenedMessage, args: argparse.Namespace) -> bool:
    """A notice in the language of --lang (else the officer's), under its handling banner;
    `-o` writes its JSON (refused for H2), `--html` a printable page. False for other content.

    Reading is not passing on: an H2 notice is shown on the reader's own terminal, also to a
    supervisor reviewing it, whose home folder does not hold the message (no received time)."""
    from liaison.client import notices as notice_ops

    if not notice_ops.is_notice(message.payload):
        return False
    from liaison.i18n.render import render_text

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
    pdf = getattr(args, "pdf", None)
    with notice_refusals():
        if pdf:
            write_pdf(pdf, lambda: notice_ops.export_bytes(notice, "pdf", lang, meta))
            return True
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

    async def sync_and_search(session: OfficerSession) -> SearchResult:
        if not args.offline:
            await session.sync()
        return await session.search(
            args.search, include_acknowledged=not args.unacknowledged, on_error=not_opened
        )

    # Searching checks each sender with the relay, so it connects even with --offline.
    result = on_session(args, sync_and_search, home=home)
    if args.json:
        print_json(
            [
                {
                    **record.metadata(),
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
            f"{record.message_id}  {message_cli.format_time(record.sent_at)}  "
            f"{record.sender_device or '?'}"
        )
        if notice is not None:
            line += f"  {_(notice.spec().label)} · {notice.case_ref} · {notice.handling}"
        print(line)
    return 0


# --- forward, export ----------------------------------------------------------------------------
@command
def cmd_forward(args: argparse.Namespace) -> int:
    with notice_refusals():
        notice, sent = on_session(args, lambda session: session.forward(args.message_id, args.to))
    original = notice.header["forwarded_from"]["message_id"]
    print_result(
        args,
        {
            "message_id": sent.message_id,
            "forwarded_from": original,
            "log_index": sent.log_index,
            "recipients": list(sent.recipients),
        },
        _("Forwarded {original} as {id} to {count} devices (log entry {index}).").format(
            original=original,
            id=sent.message_id,
            count=len(sent.recipients),
            index=sent.log_index,
        ),
    )
    return 0


@command
def cmd_export(args: argparse.Namespace) -> int:
    from liaison.client import notices as notice_ops

    home = home_from_args(args)
    message, notice = on_session(
        args, lambda session: session.read_notice(args.message_id), home=home
    )
    fmt = notice_ops.export_format(args.output, args.format)
    meta = notice_ops.message_meta(message, home.load_message(message.message_id))
    with notice_refusals():
        data = notice_ops.export_bytes(notice, fmt, args.lang, meta)
    write_output(args.output, data)
    if args.output != "-":
        print(_("Written: {path}").format(path=args.output), file=sys.stderr)
    return 0
