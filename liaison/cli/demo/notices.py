"""The demo's notice steps: a verification request, its result and a handover proposal, sent as
notices between VN-QN-CA and CN-GX-DXGA and shown in both languages on the receiving side."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from liaison.i18n import _, current_language, translate

if TYPE_CHECKING:
    from liaison.cli.demo.context import DemoContext

CASE_REF = "QN-2026-0117"
VIETNAM_ZONE = "Asia/Ho_Chi_Minh"


def vietnam_time(days_from_today: int, hour: int, minute: int) -> dict[str, str]:
    """A notice DATETIME at `hour:minute` Vietnam time, `days_from_today` days after today: the
    demo's dates follow the day it runs, so its handover is never already in the past."""
    today = datetime.now(ZoneInfo(VIETNAM_ZONE)).date() + timedelta(days=days_from_today)
    local = datetime(
        today.year, today.month, today.day, hour, minute, tzinfo=ZoneInfo(VIETNAM_ZONE)
    )
    return {"utc": f"{local.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}", "tz": VIETNAM_ZONE}


PERSON = {
    "name": "Lò Thị Mai",
    "name_zh": "罗氏梅",
    "sex": "female",
    "birth": {"year": 2004, "estimated": True},
    "ethnicity": "Thái",
    "nationality": "VN",
    "nationality_status": "claimed",
    "id_document": {"type": "none"},
    "wishes": {"text": "Muốn về nhà với mẹ ở Bình Liêu", "lang": "vi"},
}


def _header(our_ref: str, sender: str, recipient: str, **extra: Any) -> dict[str, Any]:
    return {
        "our_ref": our_ref,
        "sender_unit": sender,
        "recipient_unit": recipient,
        "case_ref": CASE_REF,
        "handling": "H1",
        "priority": "normal",
        **extra,
    }


def _notice(notice_type: str, header: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    from liaison.domain.notices import FORMAT_VERSION

    return {
        "liaison_notice": FORMAT_VERSION,
        "type": notice_type,
        "header": header,
        "fields": fields,
    }


async def _send_and_show(
    ctx: DemoContext, key: str, sender: str, to: str, reader: str, notice: dict[str, Any]
) -> None:
    """`sender` seals the checked notice to agency `to`; `reader` syncs, opens and shows it."""
    from liaison.client import messages as message_ops
    from liaison.client import notices as notice_ops
    from liaison.domain.notices import parse_notice
    from liaison.i18n.render import render_text

    checked = parse_notice(notice)
    sent = await message_ops.send(
        ctx.officers[sender], ctx.client, [to], notice_ops.notice_payload(checked)
    )
    ctx.sent[key] = sent
    home = ctx.officers[reader]
    await message_ops.sync(home, ctx.client)
    opened = await message_ops.read(home, ctx.client, sent.message_id)
    received = notice_ops.open_notice(opened)
    if received != checked:
        raise RuntimeError(f"notice {sent.message_id} changed on its way")
    ctx.say(
        _("{home} opened notice {id}, identical to what was sent:").format(
            home=reader, id=sent.message_id
        )
    )
    meta = notice_ops.message_meta(opened, home.load_message(sent.message_id))
    ctx.say(render_text(received, "both", message_meta=meta))


async def verification_request(ctx: DemoContext) -> None:
    header = _header(
        "45/XM-PA08",
        "VN-QN-CA",
        "CN-GX-DXGA",
        reply_by=vietnam_time(14, 16, 0),
    )
    fields = {"persons": [PERSON], "biometrics": ["fingerprints"]}
    notice = _notice("verification_request", header, fields)
    await _send_and_show(ctx, "notice-request", "an-phone", "CN-GX-DXGA", "li", notice)


async def verification_result(ctx: DemoContext) -> None:
    header = _header("DX-2026-311", "CN-GX-DXGA", "VN-QN-CA", their_ref="45/XM-PA08")
    fields: dict[str, Any] = {
        "outcome": "confirmed",
        "verifying_unit": "CN-GX-DXGA",
        "remarks": {"text": "经核实，该人员系越南公民。", "lang": "zh"},
    }
    request = ctx.sent.get("notice-request")
    if request is not None:
        fields["in_reply_to"] = request.message_id
    notice = _notice("verification_result", header, fields)
    await _send_and_show(ctx, "notice-result", "li", "VN-QN-CA", "an-phone", notice)


async def handover_proposal(ctx: DemoContext) -> None:
    header = _header("DX-2026-312", "CN-GX-DXGA", "VN-QN-CA", their_ref="45/XM-PA08")
    fields = {
        # Tomorrow 23:30 in Móng Cái is 00:30 the day after in Dongxing: the rendering shows
        # both, and the proposing officer is warned that Dongxing is closed then.
        "slot": vietnam_time(1, 23, 30),
        "place": {"kind": "gate", "gate": "mong-cai--dongxing"},
        "persons": [{**PERSON, "nationality_status": "confirmed"}],
        "escorts": [{"name": "王伟", "officer_id": "045123"}],
        "vehicle": {"text": "桂P·12345 白色面包车", "lang": "zh"},
    }
    notice = _notice("handover_proposal", header, fields)
    show_scheduling_warnings(ctx, fields)
    await _send_and_show(ctx, "notice-proposal", "li", "VN-QN-CA", "an-phone", notice)


def show_scheduling_warnings(ctx: DemoContext, fields: dict[str, Any]) -> None:
    """The warnings a real officer sees before sending this slot and place (gate hours, a slot
    in the past), as `liaison handover propose` prints them."""
    import time

    from liaison.domain.case_events import Slot
    from liaison.domain.warnings import slot_warnings

    slot = Slot.from_notice(fields["slot"])
    for warning in slot_warnings(slot, fields["place"], now=int(time.time())):
        text = translate(warning.message, current_language())
        ctx.say(_("Warning: {message}").format(message=text))
