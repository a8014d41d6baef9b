"""`liaison review` (supervisors), `liaison audit log`, and the agency's review-key commands."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from liaison.cli._common import (
    add_relay_options,
    command,
    home_from_args,
    on_relay,
    on_session,
    print_json,
    print_result,
)
from liaison.cli.messages import format_time, show_message
from liaison.cli.notice_exchange import add_notice_lang_option
from liaison.i18n import _
from liaison.i18n.labels import audit_kind

if TYPE_CHECKING:
    pass


def _date(text: str) -> int:
    """YYYY-MM-DD (UTC midnight) or Unix seconds."""
    if text.isdigit():
        return int(text)
    try:
        return int(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            _("{value} is not a date (YYYY-MM-DD).").format(value=text)
        ) from exc


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "review",
        help=_("Supervisor review of the agency's traffic (every review is logged)"),
        description=_("Supervisor review of the agency's traffic (every review is logged)"),
    )
    group = parser.add_subparsers(dest="review_command", metavar="ACTION", required=True)

    listing = group.add_parser("list", help=_("List the agency's messages (metadata only)"))
    listing.add_argument("--officer", default=None, help=_("Only this officer's messages"))
    listing.add_argument(
        "--from", dest="start", type=_date, default=None, help=_("From this date (YYYY-MM-DD)")
    )
    listing.add_argument(
        "--to", dest="end", type=_date, default=None, help=_("Before this date (YYYY-MM-DD)")
    )
    add_relay_options(listing)
    listing.set_defaults(func=cmd_list)

    read = group.add_parser(
        "read", help=_("Open a message with the agency review key; the review is logged first")
    )
    read.add_argument("message_id", metavar="ID", help=_("Message id (or a unique prefix)"))
    read.add_argument("--reason", required=True, help=_("Why you review this message"))
    read.add_argument("-o", "--output", default=None, help=_("Write the content to this file"))
    add_notice_lang_option(read)
    add_relay_options(read)
    read.set_defaults(func=cmd_read)


def add_audit_log_command(group: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`liaison audit log`, added to the `audit` group by liaison/cli/audit.py."""
    log = group.add_parser("log", help=_("Show the log records this device may see, each verified"))
    add_relay_options(log)
    log.set_defaults(func=cmd_audit_log)


def add_agency_commands(group: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`liaison agency rotate-review-key|rewrap-review-keys`, added by liaison/cli/agency.py."""
    rotate = group.add_parser(
        "rotate-review-key",
        help=_("Create a new review key for new messages and hand it to the supervisors"),
    )
    add_relay_options(rotate)
    rotate.set_defaults(func=cmd_rotate)
    rewrap = group.add_parser(
        "rewrap-review-keys",
        help=_("Hand every review key to every current supervisor device"),
    )
    add_relay_options(rewrap)
    rewrap.set_defaults(func=cmd_rewrap)


@command
def cmd_list(args: argparse.Namespace) -> int:
    messages = on_session(
        args,
        lambda session: session.review_traffic(
            officer_id=args.officer, start=args.start, end=args.end
        ),
    )
    if args.json:
        print_json(messages)
        return 0
    if not messages:
        print(_("No messages."))
    for m in messages:
        recipients = m.get("recipients", [])
        acked = sum(1 for r in recipients if r.get("acknowledged_at") is not None)
        print(
            _(
                "{id}  {time}  {sender} → {count} devices, {size} bytes, {acked} acknowledged"
            ).format(
                id=m["message_id"][:12],
                time=format_time(m.get("received_at")),
                sender=m.get("sender"),
                count=len(recipients),
                size=m.get("size"),
                acked=acked,
            )
        )
        for r in recipients:
            print(f"    {r.get('device_id')}")
    return 0


@command
def cmd_read(args: argparse.Namespace) -> int:
    from liaison.client.read import OpenedMessage

    reviewed = on_session(args, lambda session: session.review(args.message_id, args.reason))
    if not args.json:
        print(
            _("Review logged at entry {index} and verified before decryption.").format(
                index=reviewed.review_log_index
            )
        )
    opened = OpenedMessage(
        message_id=reviewed.message_id,
        sender_device=reviewed.sender_device,
        sender_names=reviewed.sender_names,
        sent_at=reviewed.sent_at,
        log_index=reviewed.review_log_index,
        recipients=reviewed.recipients,
        payload=reviewed.payload,
    )
    # A notice is rendered (and its -o export refused for H2) as by `liaison read`.
    show_message(opened, output=args.output, as_json=args.json, args=args)
    return 0


def describe_record(row: dict[str, Any]) -> str:
    entry = row["entry"]
    kind = entry.get("kind")
    when = format_time(entry.get("at"))
    if kind == "review":
        signed = {True: _("signed"), False: _("SIGNATURE INVALID"), None: _("signer not pinned")}
        return _("{when}  review of {id} by {device} ({signed})").format(
            when=when,
            id=str(entry.get("message_id"))[:12],
            device=entry.get("device_id"),
            signed=signed[row.get("signed")],
        )
    if kind == "review_refused":
        return _("{when}  refused review of {id} by {device} ({why})").format(
            when=when,
            id=str(entry.get("message_id"))[:12],
            device=entry.get("device_id"),
            why=entry.get("refusal"),
        )
    if kind == "review_refusals_counted":
        return _("{when}  {count} further refused reviews by {device} since {since}").format(
            when=when,
            count=entry.get("count"),
            device=entry.get("device_id"),
            since=format_time(entry.get("since")),
        )
    if kind == "envelope":
        return _("{when}  message {id} from {sender} to {count} devices").format(
            when=when,
            id=str(entry.get("message_id"))[:12],
            sender=entry.get("sender"),
            count=len(entry.get("recipients") or []),
        )
    if kind == "ack":
        return _("{when}  {device} acknowledged {id}").format(
            when=when, device=entry.get("device_id"), id=str(entry.get("message_id"))[:12]
        )
    if kind == "forwarded_out":
        return _("{when}  message {id} forwarded to the peer relay {relay}").format(
            when=when, id=str(entry.get("message_id"))[:12], relay=entry.get("to_relay")
        )
    if kind == "forwarded_in":
        return _("{when}  message {id} from {sender}, forwarded by the peer relay {relay}").format(
            when=when,
            id=str(entry.get("message_id"))[:12],
            sender=entry.get("sender"),
            relay=entry.get("from_relay"),
        )
    if kind == "peer_ack" and entry.get("event") == "acknowledged":
        return _("{when}  {device} acknowledged {id} on the peer relay {relay}").format(
            when=when,
            device=entry.get("device_id"),
            id=str(entry.get("message_id"))[:12],
            relay=entry.get("from_relay"),
        )
    if kind == "peer_ack":
        return _("{when}  the peer relay {relay} logged message {id}").format(
            when=when, relay=entry.get("from_relay"), id=str(entry.get("message_id"))[:12]
        )
    if kind == "peer_review":
        return _("{when}  review of {id} by {device} on the peer relay {relay}").format(
            when=when,
            id=str(entry.get("message_id"))[:12],
            device=entry.get("device_id"),
            relay=entry.get("from_relay"),
        )
    subject = entry.get("device_id") or entry.get("key_id") or entry.get("code") or ""
    return f"{when}  {audit_kind(kind)} {subject}".rstrip()


@command
def cmd_audit_log(args: argparse.Namespace) -> int:
    rows = on_session(args, lambda session: session.audit_log())
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        print(f"{row['index']:>6}  {describe_record(row)}")
    print(_("{count} records, each included in the signed log.").format(count=len(rows)))
    return 0


@command
def cmd_rotate(args: argparse.Namespace) -> int:
    from liaison.client import review as review_ops

    home = home_from_args(args)
    result = on_relay(home, args, lambda api: review_ops.rotate_review_key(home, api))
    print_result(
        args,
        result,
        _(
            "New review key {key_id} registered (log entry {index}); handed to {count} "
            "supervisor devices."
        ).format(
            key_id=result["key_id"], index=result["log_index"], count=len(result["wrapped_to"])
        ),
    )
    return 0


@command
def cmd_rewrap(args: argparse.Namespace) -> int:
    from liaison.client import review as review_ops

    home = home_from_args(args)
    result = on_relay(home, args, lambda api: review_ops.publish_wraps(home, api))
    print_result(
        args,
        result,
        _("{count} review-key wraps uploaded for: {devices}").format(
            count=result["uploaded"], devices=", ".join(result["devices"]) or "-"
        ),
    )
    return 0
