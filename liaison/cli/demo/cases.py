"""`liaison demo` steps for a handover: countered, accepted, moved, recorded and countersigned."""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from liaison.cli import handover as handover_cli
from liaison.cli.agenda import print_agenda
from liaison.cli.cases import slot_text
from liaison.i18n import _, current_language, translate

if TYPE_CHECKING:
    from liaison.cli.demo.context import DemoContext
    from liaison.client.cases import CaseBook

# The handover answered here is the proposal of the notices steps (demo_notices).
VIEWERS = ("an-phone", "an-laptop", "li")


def _day(offset: int) -> str:
    from liaison.domain.case_events import VIETNAM_ZONE

    return (datetime.now(ZoneInfo(VIETNAM_ZONE)) + timedelta(days=offset)).strftime("%Y-%m-%d")


async def _book(ctx: DemoContext, home_name: str) -> CaseBook:
    from liaison.client import cases as case_ops

    return await case_ops.load_book(ctx.officers[home_name], ctx.client)


async def _act(ctx: DemoContext, home_name: str, step: str, **options: Any) -> str:
    """What `liaison handover STEP` does, in-process: read the case, check, warn, send."""
    from liaison.client import cases as case_ops
    from liaison.client import officer

    home = ctx.officers[home_name]
    book = await _book(ctx, home_name)
    defaults = {"handover": ctx.extra.get("handover", ""), "copy": [], "handling": "H2"}
    args = argparse.Namespace(step=step, **{**defaults, **options})
    prepared = handover_cli.prepare_step(args, book, officer.device_keys(home), int(time.time()))
    for warning in prepared.warnings:
        text = translate(warning.message, current_language())
        ctx.say("   " + _("Warning: {message}").format(message=text))
    sent, event = await case_ops.send_notice(home, ctx.client, prepared.notice, prepared.addresses)
    return prepared.handover_id or event.message_id


async def agree_handover(ctx: DemoContext) -> None:
    proposal = ctx.sent.get("notice-proposal")
    if proposal is None:
        raise RuntimeError("the handover steps answer the proposal of the notices steps")
    handover = proposal.message_id
    ctx.extra["handover"] = handover
    ctx.say(
        _("Nguyễn Văn An counters handover {id} at 09:30 Móng Cái time:").format(id=handover[:12])
    )
    await _act(ctx, "an-phone", "counter", at=f"{_day(4)} 09:30", tz=None, place=None, reception=[])
    await _act(ctx, "li", "accept", reception=["Zhang San"])
    ctx.say(_("Lý Vĩ (李伟) accepts, then moves it a day for the weather; An accepts."))
    await _act(
        ctx, "li", "reschedule", at=f"{_day(5)} 10:30", tz=None, reason_code="weather", reason=None
    )
    await _act(ctx, "an-phone", "accept", reception=[])
    book = await _book(ctx, "an-laptop")
    agreed = book.handover(handover)
    ctx.say(
        _("an-laptop sees: {state}, {time}, calendar sequence {sequence}.").format(
            state=translate(agreed.state.message, current_language()),
            time=slot_text(agreed.slot.to_notice()),
            sequence=agreed.sequence,
        )
    )


async def show_agenda(ctx: DemoContext) -> None:
    from liaison.domain.agenda import build_agenda
    from liaison.domain.warnings import warnings_for_handover

    book = await _book(ctx, "an-phone")
    now = int(time.time())
    agenda = build_agenda(book.cases, now=now, days=7)
    handovers = {h: book.handover(h) for h in (item.handover_id for item in agenda.handovers)}
    warnings = {
        key: [
            translate(w.message, current_language())
            for w in warnings_for_handover(h, cases=book.cases, now=now)
        ]
        for key, h in handovers.items()
    }
    print_agenda(agenda, warnings, say=lambda line: ctx.say("   " + line))


async def record_and_countersign(ctx: DemoContext) -> None:
    from liaison.domain.case_events import VIETNAM_ZONE

    book = await _book(ctx, "li")
    persons = [dict(person) for person in book.handover(ctx.extra["handover"]).persons]
    record = {
        "completed_at": {"utc": f"{_day(5)}T02:40:00Z", "tz": VIETNAM_ZONE},
        "place": {"kind": "gate", "gate": "mong-cai--dongxing"},
        "persons": persons,
        "belongings": [],
        "documents": [],
        "condition": {"text": "Sức khỏe bình thường", "lang": "vi"},
        "signatories": [
            {"side": "cn", "name": "Lý Vĩ", "agency": "CN-GX-DXGA"},
            {"side": "vn", "name": "Nguyễn Văn An", "agency": "VN-QN-CA"},
        ],
    }
    await _act(ctx, "li", "complete", record="-", record_fields=record)
    ctx.say(_("Lý Vĩ (李伟) sent the handover record; Nguyễn Văn An countersigns its hash."))
    await _act(ctx, "an-phone", "countersign")
    for home_name in VIEWERS:
        book = await _book(ctx, home_name)
        handover = book.handover(ctx.extra["handover"])
        ctx.say(
            _("{home} sees handover {id}: {state} (record and countersignature verified).").format(
                home=home_name,
                id=handover.handover_id[:12],
                state=translate(handover.state.message, current_language()),
            )
        )
