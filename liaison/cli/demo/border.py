"""`liaison demo`, across the border: a Vietnamese relay and a Chinese relay on loopback,
peered both ways after their operators compared fingerprints, each holding its own agencies;
each officer pins the other country's agency by fingerprint through its own relay, messages
cross both ways with the ordinary send, sync and read, and each side's log names the same
envelope hash, while a message between two Chinese agencies stays on the Chinese relay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from liaison.cli.demo.context import AGENCIES, DemoContext, catalogue_agency, create_agency, enrol
from liaison.cli.demo.tour import Relayed, relay_on_loopback
from liaison.i18n import N_, _

if TYPE_CHECKING:
    from liaison.client.crossing import CrossingReport

VN_ORIGIN = "relay.vn-qn.liaison.example"
CN_ORIGIN = "relay.cn-gx.liaison.example"
# The first part's agencies, and a second Chinese agency for a message that stays in China.
BORDER_AGENCIES = (*AGENCIES, catalogue_agency("CN-GX-FCGBJ"))
BORDER_OFFICERS = (
    ("an", "VN-QN-CA", "nguyen.van.an", "Nguyễn Văn An", "阮文安（音）", "phone"),
    ("li", "CN-GX-DXGA", "li.wei", "Lý Vĩ", "李伟", "desk"),
    ("wang", "CN-GX-FCGBJ", "wang.fang", "Vương Phương", "王芳", "desk"),
)
OFFICER_NAMES = {member[0]: member[3] for member in BORDER_OFFICERS}
# Bounded wait for a crossing: the peer's worker sends at once, this only covers scheduling.
CROSSING_POLLS = (100, 0.05)


@dataclass
class Side:
    """One country's relay and what happens on it."""

    country: str
    relayed: Relayed
    ctx: DemoContext

    @property
    def origin(self) -> str:
        return str(self.relayed.relay.identity.origin)


@dataclass
class Border:
    """Both sides, and the messages of the crossing (for the demo's test)."""

    vn: Side
    cn: Side
    crossed: dict[str, str] = field(default_factory=dict)  # step -> message id
    reports: dict[str, CrossingReport] = field(default_factory=dict)
    opened: dict[str, str] = field(default_factory=dict)  # step -> text its reader opened

    def side(self, country: str) -> Side:
        return self.vn if country == "VN" else self.cn

    def other(self, side: Side) -> Side:
        return self.cn if side is self.vn else self.vn

    def relay_name(self, side: Side) -> str:
        return _("Vietnamese relay") if side is self.vn else _("Chinese relay")


async def peer_relays(border: Border) -> None:
    """Each operator adds the other relay with the fingerprint read out to it (§16.2)."""
    from liaison.server.federation import forwarding, peering

    vn, cn = border.vn, border.cn
    fingerprints = {
        s.origin: peering.own_identity(s.relayed.relay).compact_fingerprint for s in (vn, cn)
    }
    for side in (vn, cn):
        border.vn.ctx.say(
            _("{relay} {origin} at {url}: key fingerprint {fingerprint}.").format(
                relay=border.relay_name(side),
                origin=side.origin,
                url=side.relayed.url,
                fingerprint=fingerprints[side.origin],
            )
        )
    try:  # a fingerprint misheard on the telephone: the other relay is not peered
        await peering.fetch_peer_identity(cn.relayed.url, fingerprints[vn.origin])
        raise RuntimeError("a wrong fingerprint was accepted")
    except peering.PeeringError as exc:
        if exc.code != "fingerprint_mismatch":
            raise
        vn.ctx.say(_("A fingerprint that does not match is refused: nothing is peered."))
    for side in (vn, cn):
        other = border.other(side)
        fetched = await peering.fetch_peer_identity(other.relayed.url, fingerprints[other.origin])
        await peering.add_peer(side.relayed.relay, other.relayed.url, fetched)
        side.ctx.say(
            _("The operator of the {relay} compared the fingerprint and added {origin}.").format(
                relay=border.relay_name(side), origin=other.origin
            )
        )
    for side in (vn, cn):
        await peering.refresh_peers(side.relayed.relay, force=True)
        await forwarding.sync_workers(side.relayed.relay)


async def agencies_at_home(border: Border) -> None:
    """Each agency registers on its own country's relay and its root names that relay as its
    home (a logged home statement); the other relay's operator records where it lives."""
    from liaison.client import agency as agency_ops
    from liaison.server.federation import peering

    for spec in BORDER_AGENCIES:
        side = border.side(spec["country"])
        ctx = side.ctx
        admin = await create_agency(ctx, spec)
        await agency_ops.publish_home(admin, ctx.client)
        await peering.set_home(border.other(side).relayed.relay, spec["code"], side.origin)
        ctx.say(
            _(
                "{code} registered on the {relay}; its root signed a home statement naming it, "
                "and the other relay's operator recorded that {code} lives there."
            ).format(code=spec["code"], relay=border.relay_name(side))
        )
    for side in (border.vn, border.cn):
        await peering.refresh_peers(side.relayed.relay, force=True)


async def officers_at_home(border: Border) -> None:
    from liaison.client import trust as trust_ops

    for member in BORDER_OFFICERS:
        side = border.side(member[1][:2])
        device = await enrol(side.ctx, member)
        side.ctx.say(
            _("{name} enrolled device {device} on the {relay}.").format(
                name=member[3], device=device, relay=border.relay_name(side)
            )
        )
    # The two Chinese agencies pin each other's roots on their own relay, as in the first part.
    cn = border.cn.ctx
    for name, code in (("li", "CN-GX-FCGBJ"), ("wang", "CN-GX-DXGA")):
        await trust_ops.add(cn.officers[name], cn.client, code, cn.fingerprints[code].safety_number)


async def crossing_report(ctx: DemoContext, officer_name: str, message_id: str) -> CrossingReport:
    """`liaison audit verify --across`, asked until the peer relay has logged the message."""
    from liaison.client import crossing

    polls, pause = CROSSING_POLLS
    for _attempt in range(polls):
        report = await crossing.verify_across(ctx.officers[officer_name], ctx.client, message_id)
        if report.ok:
            return report
        await asyncio.sleep(pause)
    raise RuntimeError("; ".join(report.problems) or "the message did not cross")


def show_crossing(border: Border, side: Side, report: CrossingReport) -> None:
    for entry in report.sides:
        where = border.vn if entry["origin"] == border.vn.origin else border.cn
        side.ctx.say(
            _("  {relay}: log entry {index} ({kind}), envelope hash {hash}").format(
                relay=border.relay_name(where),
                index=entry["index"],
                kind=entry["kind"],
                hash=(report.envelope_hash or "")[:16],
            )
        )


async def pin_across(border: Border) -> None:
    """Each officer pins the other country's agency by the fingerprint its administrator read
    out, through the own relay (`liaison trust add`, §16.5): the root, its home statement and
    the peer's checkpoint signed with the log key the statement names, all checked before the
    pin; from then on the client knows the peer's log key."""
    from liaison.client import trust as trust_ops

    for side, name, code in ((border.vn, "an", "CN-GX-DXGA"), (border.cn, "li", "VN-QN-CA")):
        ctx = side.ctx
        pinned = await trust_ops.add(
            ctx.officers[name],
            ctx.client,
            code,
            border.other(side).ctx.fingerprints[code].safety_number,
        )
        ctx.say(
            _(
                "{officer} pinned {code} through the {relay} after comparing its fingerprint; "
                "its root's home statement names {origin}, whose log key the client now holds."
            ).format(
                officer=OFFICER_NAMES[name],
                code=code,
                relay=border.relay_name(side),
                origin=pinned["home_relay"],
            )
        )


async def synced(ctx: DemoContext, officer_name: str, message_id: str) -> None:
    """`liaison sync`, asked until the forwarded message is in the officer's mailbox."""
    from liaison.client import messages as message_ops

    home = ctx.officers[officer_name]
    polls, pause = CROSSING_POLLS
    for _attempt in range(polls):
        await message_ops.sync(home, ctx.client)
        if home.load_message(message_id) is not None:
            return
        await asyncio.sleep(pause)
    raise RuntimeError("the forwarded message did not arrive")


async def send_and_read(
    border: Border, step: str, sender: tuple[Side, str], reader: tuple[Side, str], text: str
) -> None:
    """One crossing with the ordinary client: `liaison send`; `audit verify --across` from the
    sender's side, showing both relays' entries; the reader's `sync` and `read` on the other
    relay; then `audit verify --across` from the reader's side."""
    from liaison.client import messages as message_ops
    from liaison.client.payload import Payload

    (home_side, sender_name), (away_side, reader_name) = sender, reader
    [address] = [f"{m[1]}/{m[2]}" for m in BORDER_OFFICERS if m[0] == reader_name]
    sent = await message_ops.send(
        home_side.ctx.officers[sender_name], home_side.ctx.client, [address], Payload.text(text)
    )
    border.crossed[step] = sent.message_id
    home_side.ctx.say(
        _(
            "{sender} sent message {id} to {reader} with `liaison send`, with review wraps for "
            "{agencies}; the {relay} logged it and forwarded the ciphertext to the {other}."
        ).format(
            sender=OFFICER_NAMES[sender_name],
            id=sent.message_id,
            reader=OFFICER_NAMES[reader_name],
            agencies=", ".join(sent.review_agencies),
            relay=border.relay_name(home_side),
            other=border.relay_name(away_side),
        )
    )
    report = await crossing_report(home_side.ctx, sender_name, sent.message_id)
    border.reports[step] = report
    home_side.ctx.say(_("Both relays logged the same envelope:"))
    show_crossing(border, home_side, report)

    await synced(away_side.ctx, reader_name, sent.message_id)
    reader_home = away_side.ctx.officers[reader_name]
    opened = await message_ops.read(reader_home, away_side.ctx.client, sent.message_id)
    border.opened[step] = opened.payload.as_text()
    away_side.ctx.say(
        _(
            "{reader} synced from the {relay}, verified the sender's certificate against the "
            "root he pinned and opened it: {text}"
        ).format(
            reader=OFFICER_NAMES[reader_name],
            relay=border.relay_name(away_side),
            text=opened.payload.as_text(),
        )
    )
    check = await crossing_report(away_side.ctx, reader_name, sent.message_id)
    border.reports[f"{step} ({reader_name})"] = check
    away_side.ctx.say(
        _(
            "From his side too, `liaison audit verify --across` finds both relays' entries "
            "with envelope hash {hash}."
        ).format(hash=(check.envelope_hash or "")[:16])
    )


async def cross(border: Border) -> None:
    vn, cn = border.vn, border.cn
    request = "Đề nghị xác minh nhân thân một công dân tại Đông Hưng. 请协助核实身份。"
    await send_and_read(border, "request", (vn, "an"), (cn, "li"), request)
    reply = "已收到，正在核实。Đã nhận, đang xác minh."
    await send_and_read(border, "reply", (cn, "li"), (vn, "an"), reply)


async def stays_home(border: Border) -> None:
    """A message between two Chinese agencies is never forwarded: the Vietnamese relay's
    database holds nothing of it."""
    from liaison.client import messages as message_ops
    from liaison.client.payload import Payload

    cn = border.cn.ctx
    sent = await message_ops.send(
        cn.officers["li"],
        cn.client,
        ["CN-GX-FCGBJ/wang.fang"],
        Payload.text("内部协调：明日会商。"),
    )
    border.crossed["domestic"] = sent.message_id
    if await border.vn.relayed.relay.store.envelope_bytes(sent.message_id) is not None:
        raise RuntimeError("a domestic Chinese message reached the Vietnamese relay")
    cn.say(
        _(
            "Lý Vĩ wrote to Vương Phương of CN-GX-FCGBJ (message {id}): it stays on the Chinese "
            "relay; the Vietnamese relay's database holds nothing of it."
        ).format(id=sent.message_id)
    )


# (title marked for translation, step)
BORDER_STEPS: tuple[tuple[str, Callable[[Border], Awaitable[None]]], ...] = (
    (N_("The two relays' operators compare fingerprints and peer both ways"), peer_relays),
    (N_("Each agency registers on its own country's relay"), agencies_at_home),
    (N_("Officers enrol on their own country's relay"), officers_at_home),
    (
        N_("Each officer pins the other country's agency by fingerprint, through its own relay"),
        pin_across,
    ),
    (N_("Messages cross the border and are read; each side logs the same envelope"), cross),
    (N_("A message between two Chinese agencies stays in China"), stays_home),
)


async def _side(
    stack: AsyncExitStack, folder: Path, country: str, origin: str, say: Callable[[str], None]
) -> Side:
    from liaison.client.transport import ApiClient

    relayed = await stack.enter_async_context(relay_on_loopback(folder / "relay", origin))
    ctx = DemoContext(folder=folder, say=say, url=relayed.url, admin_token=relayed.admin_token)
    ctx.api = await stack.enter_async_context(ApiClient(relayed.url))
    return Side(country, relayed, ctx)


async def run_border(folder: Path, *, say: Callable[[str], None] = print) -> Border:
    """Start both relays with their data under `folder`, then run the border steps."""
    async with AsyncExitStack() as stack:
        vn = await _side(stack, folder / "vn", "VN", VN_ORIGIN, say)
        cn = await _side(stack, folder / "cn", "CN", CN_ORIGIN, say)
        say(
            _(
                "Across the border: a Vietnamese relay and a Chinese relay, data in {folder}."
            ).format(folder=folder)
        )
        border = Border(vn, cn)
        for number, (title, step) in enumerate(BORDER_STEPS, start=1):
            say("")
            say(f"{number}. {_(title)}")
            await step(border)
        return border
