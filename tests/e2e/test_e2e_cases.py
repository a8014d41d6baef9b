"""Cases and handovers over a real relay: the command line, three officers' views, .ics files."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest

from liaison.cli import handover as handover_cli
from liaison.cli.demo.tour import DEMO_PASSPHRASE, DemoContext
from liaison.client import cases as case_ops
from liaison.client import officer
from liaison.client.handover_steps import PreparedStep
from liaison.client.home import Home
from liaison.client.transport import ApiClient
from tests.e2e.e2e_relay import Cli, RelayThread, demo_world
from tests.golden import regenerate

VN = "Asia/Ho_Chi_Minh"
CN = "Asia/Shanghai"
CASE = "QN-2026-0042"
GATE = "gate:mong-cai--dongxing"
# The demo's cast: VN-QN-CA (an-phone, an-laptop), VN-QN-BP (binh), CN-GX-DXGA (li).
VIEWERS = ("an-phone", "an-laptop", "binh", "li")


def day(offset: int) -> str:
    """A date `offset` days ahead on the Vietnamese clock (slots stay in the future)."""
    return (datetime.now(ZoneInfo(VN)) + timedelta(days=offset)).strftime("%Y-%m-%d")


@pytest.fixture
def world(relay: RelayThread, tmp_path: Path) -> Iterator[tuple[Cli, DemoContext]]:
    """Three agencies, four officer homes, roots pinned: the demo's first steps, in-process."""
    ctx = demo_world(relay, tmp_path / "world", "pins")
    yield Cli(tmp_path / "world" / "homes"), ctx


def sh(cli: Cli, home: str, line: str, *, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """`liaison LINE` as the officer of `home` (the demo homes' passphrase)."""
    return cli.sh(home, line, ok=ok, LIAISON_PASSPHRASE=DEMO_PASSPHRASE)


def sh_json(cli: Cli, home: str, line: str) -> Any:
    return json.loads(sh(cli, home, f"{line} --json").stdout)


def notice_file(
    folder: Path,
    name: str,
    notice_type: str,
    sender: str,
    to: str,
    fields: dict[str, Any],
    **header: Any,
) -> str:
    value = {
        "liaison_notice": 1,
        "type": notice_type,
        "header": {
            "our_ref": f"{sender}/{name}",
            "sender_unit": sender,
            "recipient_unit": to,
            "case_ref": CASE,
            "handling": "H2",
            "priority": "normal",
            **header,
        },
        "fields": fields,
    }
    path = folder / f"{name}.json"
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    return path.name


PERSONS = [
    {"name": "Nguyễn Thị Hoa", "sex": "female", "birth": {"year": 2007}},
    {"name": "Lò Thị Mai", "sex": "female"},
]


def verification(cli: Cli) -> None:
    """VN police ask (copying the border guard); the Chinese side answers: confirmed."""
    request = notice_file(
        cli.folder, "vr", "verification_request", "VN-QN-CA", "CN-GX-DXGA", {"persons": PERSONS}
    )
    sent = sh_json(cli, "an-phone", f"send --notice {request} --to CN-GX-DXGA --to VN-QN-BP")
    result = notice_file(
        cli.folder,
        "vres",
        "verification_result",
        "CN-GX-DXGA",
        "VN-QN-CA",
        {"in_reply_to": sent["message_id"], "outcome": "confirmed", "verifying_unit": "CN-GX-DXGA"},
    )
    sh(cli, "li", f"send --notice {result} --to VN-QN-CA --to VN-QN-BP")


def record_file(folder: Path) -> str:
    fields = {
        "completed_at": {"utc": f"{day(4)}T02:20:00Z", "tz": VN},
        "place": {"kind": "gate", "gate": "mong-cai--dongxing"},
        "persons": PERSONS,
        "belongings": [{"text": "1 túi xách", "lang": "vi"}],
        "documents": [],
        "condition": {"text": "Sức khỏe bình thường", "lang": "vi"},
        "signatories": [
            {"side": "cn", "name": "Li Wei", "agency": "CN-GX-DXGA"},
            {"side": "vn", "name": "Nguyễn Văn An", "agency": "VN-QN-CA"},
        ],
    }
    (folder / "record.json").write_text(json.dumps({"fields": fields}, ensure_ascii=False), "utf-8")
    return "record.json"


def events(path: Path) -> list[icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(path.read_bytes())
    return list(calendar.walk("VEVENT"))


def propose(cli: Cli, home: str, to: str, place: str, at: str, options: str = "") -> Any:
    return sh_json(
        cli,
        home,
        f"handover propose --case {CASE} --to {to} --place {place} --at '{at}' {options}",
    )


@pytest.mark.slow
def test_full_scenario_over_the_relay_seen_alike_by_every_officer(
    world: tuple[Cli, DemoContext],
) -> None:
    cli, _ctx = world
    verification(cli)

    # China proposes 10:00 Beijing time at Móng Cái–Dongxing, with the persons of the request.
    proposal = propose(
        cli,
        "li",
        "VN-QN-CA",
        GATE,
        f"{day(3)} 10:00",
        f"--tz {CN} --persons 2 --escort 'Wang Wei/DX-7'",
    )
    assert proposal["sent"] and proposal["warnings"] == []
    handover = proposal["handover_id"]
    short = handover[:12]
    sh(cli, "li", f"handover ics {short} -o h0.ics")

    # Vietnam counters at 09:30 Vietnam time; China accepts; the border guard moves it a day.
    sh(cli, "an-phone", f"handover counter {short} --at '{day(3)} 09:30'")
    sh(cli, "li", f"handover accept {short} --reception 'Zhang San'")
    sh(cli, "li", f"handover ics {short} -o h1.ics")
    shown = sh(cli, "binh", f"case show {CASE}").stdout
    assert "confirmed" in shown and "10:30" in shown  # 09:30 in Móng Cái is 10:30 in Dongxing
    sh(cli, "binh", f"handover reschedule {short} --at '{day(4)} 09:00' --reason-code weather")
    sh(cli, "li", f"handover accept {short}")
    sh(cli, "li", f"handover ics {short} -o h2.ics --tz {CN}")

    # The agenda shows it in both local times before it takes place.
    agenda = sh_json(cli, "an-laptop", "agenda --days 7")
    (item,) = agenda["handovers"]
    assert item["handover_id"] == handover and item["state"] == "confirmed"
    assert item["local_times"][VN].startswith(f"{day(4)}T09:00:00+07:00")
    assert item["local_times"][CN].startswith(f"{day(4)}T10:00:00+08:00")

    # China prints the record to sign before sending it (H1: an H2 record is not exported).
    record = record_file(cli.folder)
    draft = f"handover complete {short} --record {record} --dry-run"
    refused = sh(cli, "li", f"{draft} --pdf r.pdf", ok=False)
    assert refused.returncode == 1 and not (cli.folder / "r.pdf").exists()
    if regenerate.pdf_support() is None:
        sh(cli, "li", f"{draft} --handling H1 --pdf r.pdf")
        assert (cli.folder / "r.pdf").read_bytes().startswith(b"%PDF")

    # China signs the record; Vietnam countersigns its hash.
    sh(cli, "li", f"handover complete {short} --record {record}")
    sh(cli, "an-phone", f"handover countersign {short}")

    views = {home: sh_json(cli, home, "cases") for home in VIEWERS}
    assert all(view == views["li"] for view in views.values())
    (case,) = views["li"]
    assert case["case_ref"] == CASE and case["verification"]["status"] == "confirmed"
    (derived,) = case["handovers"]
    assert derived["state"] == "completed" and derived["countersignature_id"]
    actions = [entry["action"] for entry in derived["timeline"]]
    assert actions == [
        "propose",
        "counter",
        "accept",
        "reschedule",
        "accept",
        "record",
        "countersign",
    ]
    assert not any(entry["superseded"] for entry in derived["timeline"])

    # iCalendar: one UID throughout, SEQUENCE grows, the start right in both zones.
    first, agreed, moved = (events(cli.folder / f"h{n}.ics")[0] for n in range(3))
    uid = f"{handover}@handover.liaison"
    assert str(first["UID"]) == str(agreed["UID"]) == str(moved["UID"]) == uid
    assert int(first["SEQUENCE"]) < int(agreed["SEQUENCE"]) < int(moved["SEQUENCE"])
    assert str(first["STATUS"]) == "TENTATIVE" and str(agreed["STATUS"]) == "CONFIRMED"
    start = first.decoded("DTSTART")
    assert (start.hour, str(start.tzinfo)) == (10, CN)
    assert agreed.decoded("DTSTART").astimezone(ZoneInfo(VN)).strftime("%H:%M") == "09:30"
    assert agreed.decoded("DTSTART").astimezone(ZoneInfo(CN)).strftime("%H:%M") == "10:30"
    moved_start = moved.decoded("DTSTART")
    assert str(moved_start.tzinfo) == CN
    assert moved_start.strftime("%Y-%m-%d %H:%M") == f"{day(4)} 10:00"
    assert moved_start.astimezone(ZoneInfo(VN)).strftime("%H:%M") == "09:00"
    sh(cli, "binh", "agenda --ics -o agenda.ics")
    (event,) = events(cli.folder / "agenda.ics")
    assert str(event["UID"]) == uid and int(event["SEQUENCE"]) == int(moved["SEQUENCE"])


Prepared = tuple[Home, PreparedStep]


def prepare(ctx: DemoContext, home_name: str, step: str, handover: str, **options: Any) -> Prepared:
    """What `liaison handover STEP` builds from the officer's current view, not sent yet: two
    officers preparing before either sends is what acting concurrently means."""
    args = argparse.Namespace(
        step=step, handover=handover, copy=[], handling="H2", reception=[], **options
    )
    home = ctx.home(home_name)

    async def go() -> PreparedStep:
        async with ApiClient(ctx.url) as api:
            book = await case_ops.load_book(home, api)
        now = int(time.time())
        return handover_cli.prepare_step(args, book, officer.device_keys(home), now)

    return home, asyncio.run(go())


def send(ctx: DemoContext, prepared: Prepared) -> None:
    home, step = prepared

    async def go() -> None:
        async with ApiClient(ctx.url) as api:
            await case_ops.send_notice(home, api, step.notice, step.addresses)

    asyncio.run(go())


@pytest.mark.slow
def test_concurrent_acceptances_and_crossing_cancellation_resolve_alike(
    world: tuple[Cli, DemoContext],
) -> None:
    cli, ctx = world
    verification(cli)
    first = propose(cli, "li", "VN-QN-CA", GATE, f"{day(3)} 10:00", "--persons 1")["handover_id"]
    # Two Vietnamese officers accept the same proposal, each before seeing the other's answer.
    by_an = prepare(ctx, "an-phone", "accept", first)
    by_binh = prepare(ctx, "binh", "accept", first)
    send(ctx, by_an)
    send(ctx, by_binh)

    second = propose(cli, "li", "VN-QN-CA", "marker:1369", f"{day(5)} 15:00", "--persons 1")
    # China cancels while Vietnam accepts: the cancellation reaches the log first.
    acceptance = prepare(ctx, "binh", "accept", second["handover_id"])
    cancellation = prepare(
        ctx, "li", "cancel", second["handover_id"], reason_code="health", reason=None
    )
    send(ctx, cancellation)
    send(ctx, acceptance)

    views = {home: sh_json(cli, home, "cases") for home in VIEWERS}
    assert all(view == views["an-phone"] for view in views.values())
    handovers = {h["handover_id"]: h for h in views["an-phone"][0]["handovers"]}
    confirmed, cancelled = handovers[first], handovers[second["handover_id"]]
    assert confirmed["state"] == "confirmed"
    assert [e["superseded"] for e in confirmed["timeline"]] == [
        None,
        None,
        "offer_already_accepted",
    ]
    assert cancelled["state"] == "cancelled" and cancelled["cancel_reason"] == "health"
    assert [e["superseded"] for e in cancelled["timeline"]] == [None, None, "handover_cancelled"]
    shown = sh(cli, "binh", f"case show {CASE}").stdout
    assert "SUPERSEDED (handover_cancelled)" in shown
    assert "The handover had already been cancelled." in shown

    # The command line refuses, before sending, a step that could only be superseded.
    refused = sh(cli, "an-phone", f"handover accept {second['handover_id'][:12]}", ok=False)
    assert refused.returncode == 1 and "already been cancelled" in refused.stderr


@pytest.mark.slow
def test_each_warning_is_shown_before_sending(world: tuple[Cli, DemoContext]) -> None:
    cli, _ctx = world
    (cli.folder / "persons.json").write_text(json.dumps(PERSONS, ensure_ascii=False), "utf-8")
    escort = "--persons persons.json --escort 'Phạm Văn Dũng'"
    # Nothing verified yet: sent, with a warning.
    booked = propose(cli, "an-phone", "CN-GX-DXGA", GATE, f"{day(2)} 09:00", escort)
    assert booked["sent"]
    assert [w["code"] for w in booked["warnings"]] == ["verification_not_confirmed"]

    # In the past, and at 23:30 Vietnam time: outside Dongxing's hours (08:00–20:00 Beijing).
    late = propose(cli, "an-phone", "CN-GX-DXGA", GATE, f"{day(-1)} 23:30", f"{escort} --dry-run")
    assert not late["sent"]
    assert {"slot_in_past", "outside_opening_hours"} <= {w["code"] for w in late["warnings"]}

    # The same escort officer an hour later, at a border marker.
    double = propose(
        cli, "an-phone", "CN-GX-DXGA", "marker:450", f"{day(2)} 10:00", f"{escort} --dry-run"
    )
    assert "escort_double_booked" in {w["code"] for w in double["warnings"]}

    # As text, on stderr, before anything would be sent.
    base = f"handover propose --case {CASE} --to CN-GX-DXGA {escort} --dry-run"
    text = sh(cli, "an-phone", f"{base} --place marker:450 --at '{day(2)} 10:00'")
    assert "Escort officer Phạm Văn Dũng is also booked" in text.stderr
    assert "in the past" not in text.stderr and "nothing sent" in text.stdout
    late_text = sh(cli, "an-phone", f"{base} --place {GATE} --at '{day(-1)} 23:30'")
    assert "is in the past" in late_text.stderr and "opening hours" in late_text.stderr
    assert "is not confirmed" in late_text.stderr


@pytest.mark.slow
def test_agenda_lists_overdue_replies_and_support_windows_near_their_limit(
    world: tuple[Cli, DemoContext],
) -> None:
    cli, _ctx = world
    overdue = {"utc": f"{day(-2)}T02:00:00Z", "tz": VN}
    request = notice_file(
        cli.folder,
        "late",
        "verification_request",
        "VN-QN-CA",
        "CN-GX-DXGA",
        {"persons": PERSONS},
        reply_by=overdue,
    )
    sent = sh_json(cli, "an-phone", f"send --notice {request} --to CN-GX-DXGA")
    referral = notice_file(
        cli.folder,
        "shelter",
        "referral_status",
        "VN-QN-CA",
        "VN-QN-BP",
        {
            "persons": PERSONS[:1],
            "receiving_agency": "VN-QN-BP",
            "status": "in_shelter",
            "days_used": 112,
        },
    )
    sh(cli, "an-phone", f"send --notice {referral} --to VN-QN-BP")

    agenda = sh_json(cli, "li", "agenda")
    (reply,) = agenda["replies"]
    assert reply["message_id"] == sent["message_id"] and reply["overdue"]
    assert reply["awaited_from"] == "CN"
    text = sh(cli, "binh", "agenda").stdout
    assert f"case {CASE}, Nguyễn Thị Hoa: 112 of 120 days used, 8 left" in text
    assert "OVERDUE: verification_request" in sh(cli, "an-laptop", "agenda").stdout
