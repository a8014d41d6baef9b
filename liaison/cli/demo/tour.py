"""`liaison demo`'s tour: its steps in order, run against a relay on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liaison.cli import _audit_bundle
from liaison.cli.demo import cases as demo_cases
from liaison.cli.demo import notices as demo_notices
from liaison.cli.demo import review as demo_review
from liaison.cli.demo.context import (
    AGENCIES,
    DEMO_PASSPHRASE,
    OFFICERS,
    DemoContext,
    create_agency,
    enrol,
)
from liaison.i18n import N_, _


@dataclass(frozen=True)
class Relayed:
    """A demo relay as its operator and the steps see it."""

    url: str
    admin_token: str
    relay: Any  # liaison.server.relay.Relay (the server is imported only when the demo runs)


@dataclass(frozen=True)
class Step:
    """One step of the tour: `title` is marked for translation and shown before `run`."""

    name: str
    title: str
    run: Callable[[DemoContext], Awaitable[None]]


async def create_agencies(ctx: DemoContext) -> None:
    for spec in AGENCIES:
        await create_agency(ctx, spec)
        fp = ctx.fingerprints[spec["code"]]
        ctx.say(
            _("{code} ({name_vi} / {name_zh}) created its root key; fingerprint {number}.").format(
                code=spec["code"],
                name_vi=spec["name_vi"],
                name_zh=spec["name_zh"],
                number=fp.safety_number,
            )
        )


async def enrol_officers(ctx: DemoContext) -> None:
    for member in OFFICERS:
        device = await enrol(ctx, member)
        ctx.say(
            _("{name} enrolled device {device} with {code}.").format(
                name=member[3], device=device, code=member[1]
            )
        )


async def pin_roots(ctx: DemoContext) -> None:
    from liaison.client import trust as trust_ops

    for home_name, own_code, *_rest in OFFICERS:
        for spec in AGENCIES:
            code = spec["code"]
            if code == own_code:
                continue
            await trust_ops.add(
                ctx.officers[home_name], ctx.client, code, ctx.fingerprints[code].safety_number
            )
        ctx.say(
            _("{home} pinned the roots of the other agencies after comparing fingerprints.").format(
                home=home_name
            )
        )


async def vietnam_writes(ctx: DemoContext) -> None:
    from liaison.client import messages as message_ops
    from liaison.client.payload import Payload

    text = "Đề nghị xác minh nhân thân một công dân tại Đông Hưng. 请协助核实身份。"
    sent = await message_ops.send(
        ctx.officers["an-phone"],
        ctx.client,
        ["CN-GX-DXGA", "VN-QN-BP/tran.thi.binh"],
        Payload.text(text),
    )
    ctx.sent["request"] = sent
    ctx.say(
        _(
            "Nguyễn Văn An sent message {id}, encrypted to {count} devices (his own laptop "
            "included), with review wraps for {agencies}; the server logged it at {index}."
        ).format(
            id=sent.message_id,
            count=len(sent.recipients),
            agencies=", ".join(sent.review_agencies),
            index=sent.log_index,
        )
    )


async def china_reads_and_replies(ctx: DemoContext) -> None:
    from liaison.client import messages as message_ops
    from liaison.client.payload import Payload

    li = ctx.officers["li"]
    await message_ops.sync(li, ctx.client)
    opened = await message_ops.read(li, ctx.client, ctx.sent["request"].message_id)
    ctx.say(_("Lý Vĩ (李伟) verified and opened it: {text}").format(text=opened.payload.as_text()))
    await message_ops.ack(li, ctx.client, opened.message_id)
    reply = "已收到，正在核实。Đã nhận, đang xác minh."
    sent = await message_ops.send(li, ctx.client, ["VN-QN-CA/nguyen.van.an"], Payload.text(reply))
    ctx.sent["reply"] = sent
    ctx.say(_("He acknowledged it and replied with message {id}.").format(id=sent.message_id))


async def vietnam_reads(ctx: DemoContext) -> None:
    from liaison.client import messages as message_ops

    for home_name in ("an-phone", "an-laptop", "binh"):
        home = ctx.officers[home_name]
        new = await message_ops.sync(home, ctx.client)
        for record in new:
            opened = await message_ops.read(home, ctx.client, record["message_id"])
            ctx.say(
                _("{home} opened {id} from {sender}: {text}").format(
                    home=home_name,
                    id=record["message_id"][:8],
                    sender=opened.sender_device,
                    text=opened.payload.as_text(),
                )
            )


async def verify_log(ctx: DemoContext) -> None:
    from liaison.client import audit as audit_ops

    for home_name, home in ctx.officers.items():
        report = await audit_ops.verify(home, ctx.client)
        if not report.ok:
            raise RuntimeError("; ".join(report.problems))
        ctx.say(
            _(
                "{home}: the log (size {size}) extends the checkpoint it stored and includes every "
                "message it holds ({count})."
            ).format(home=home_name, size=report.checkpoint_size, count=report.messages_checked)
        )


# Later work appends steps here (notices, handovers, supervisor review).
STEPS: list[Step] = [
    Step("agencies", N_("Three agencies create their root keys and register"), create_agencies),
    Step("officers", N_("Officers create device keys and are certified"), enrol_officers),
    Step("pins", N_("Agencies pin each other's roots by fingerprint"), pin_roots),
    Step("send", N_("A Vietnamese officer writes to Dongxing"), vietnam_writes),
    Step(
        "reply", N_("The Chinese officer reads, acknowledges and replies"), china_reads_and_replies
    ),
    Step("read", N_("The Vietnamese side reads on every device"), vietnam_reads),
    Step("audit", N_("Every officer verifies the server's log"), verify_log),
    Step(
        "review",
        N_("A supervisor of VN-QN-CA reviews a message; the officer sees the review"),
        demo_review.supervisor_reviews,
    ),
    Step(
        "notice-request",
        N_("VN-QN-CA sends a verification request notice; Dongxing reads it in both languages"),
        demo_notices.verification_request,
    ),
    Step(
        "notice-result",
        N_("Dongxing answers with a verification result notice"),
        demo_notices.verification_result,
    ),
    Step(
        "notice-proposal",
        N_("Dongxing proposes a handover at 23:30 Móng Cái time (00:30 in Dongxing)"),
        demo_notices.handover_proposal,
    ),
    Step(
        "handover-agree",
        N_("Vietnam counters, China accepts, a reschedule is accepted"),
        demo_cases.agree_handover,
    ),
    Step("agenda", N_("The agenda of Nguyễn Văn An"), demo_cases.show_agenda),
    Step(
        "handover-record",
        N_("The handover record is signed by one side and countersigned by the other"),
        demo_cases.record_and_countersign,
    ),
    Step(
        "export",
        N_("Dongxing exports an audit bundle; it verifies offline, and fails once altered"),
        _audit_bundle.demo_export,
    ),
]


async def run_steps(ctx: DemoContext, steps: list[Step] | None = None) -> DemoContext:
    """Run `steps` (all of STEPS by default) against the relay at `ctx.url`."""
    from liaison.client.transport import ApiClient

    async with ApiClient(ctx.url) as api:
        ctx.api = api
        try:
            for number, step in enumerate(steps if steps is not None else STEPS, start=1):
                ctx.say("")
                ctx.say(f"{number}. {_(step.title)}")
                await step.run(ctx)
        finally:
            ctx.api = None
    return ctx


def steps_until(name: str) -> list[Step]:
    """The steps up to and including the one called `name`."""
    names = [step.name for step in STEPS]
    return STEPS[: names.index(name) + 1]


@asynccontextmanager
async def relay_on_loopback(data_dir: Path, origin: str | None = None) -> AsyncIterator[Relayed]:
    """A relay serving on a free loopback port with its data in `data_dir`, for the demo."""
    from aiohttp import web

    from liaison.server.app import Settings, create_app
    from liaison.server.keys import RELAY_KEY

    tokens: list[str] = []
    app = create_app(Settings(data_dir=data_dir, origin=origin, announce_admin_token=tokens.append))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield Relayed(f"http://127.0.0.1:{port}", tokens[0], app[RELAY_KEY])
    finally:
        await runner.cleanup()


async def run_demo(
    folder: Path, *, say: Callable[[str], None] = print, steps: list[Step] | None = None
) -> DemoContext:
    """Start a relay on a free loopback port with its data in `folder`, then run the steps."""
    async with relay_on_loopback(folder / "server") as relayed:
        ctx = DemoContext(folder=folder, say=say, url=relayed.url, admin_token=relayed.admin_token)
        say(
            _("A relay server is running at {url}, data in {folder}.").format(
                url=ctx.url, folder=folder
            )
        )
        return await run_steps(ctx, steps)


__all__ = [
    "DEMO_PASSPHRASE",
    "STEPS",
    "DemoContext",
    "Relayed",
    "Step",
    "enrol",
    "relay_on_loopback",
    "run_demo",
    "run_steps",
    "steps_until",
]
