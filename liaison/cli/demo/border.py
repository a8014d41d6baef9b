"""`liaison demo`, across the border: a Vietnamese relay and a Chinese relay on loopback,
peered both ways after their operators compared fingerprints, each holding its own agencies;
messages cross between them and each side's log names the same envelope hash, while a message
between two Chinese agencies stays on the Chinese relay.

The officers' clients do not yet read a foreign agency's directory through their own relay
(`liaison trust add` across relays, issue 15 §2): here the foreign administrator hands over
its root key, the officer's certificate and its review-key statement with the fingerprint, and
the sender's client checks them against the root it pinned (`send_across`). Everything else is
the ordinary client and the two relays' real forwarding.
"""

from __future__ import annotations

import asyncio
import time
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
    from liaison.client.payload import Payload
    from liaison.client.send import SentMessage

VN_ORIGIN = "relay.vn-qn.liaison.example"
CN_ORIGIN = "relay.cn-gx.liaison.example"
# The first part's agencies, and a second Chinese agency for a message that stays in China.
BORDER_AGENCIES = (*AGENCIES, catalogue_agency("CN-GX-FCGBJ"))
BORDER_OFFICERS = (
    ("an", "VN-QN-CA", "nguyen.van.an", "Nguyễn Văn An", "阮文安（音）", "phone"),
    ("li", "CN-GX-DXGA", "li.wei", "Lý Vĩ", "李伟", "desk"),
    ("wang", "CN-GX-FCGBJ", "wang.fang", "Vương Phương", "王芳", "desk"),
)
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


async def send_across(
    ctx: DemoContext, sender: str, foreign: DemoContext, address: str, payload: Payload
) -> SentMessage:
    """`sender` (an officer of `ctx`) writes to `address`, an officer of an agency homed on the
    other relay, through the ordinary send steps; the foreign agency's root, the officer's
    certificates and its review key are the ones its administrator handed over, checked here
    against the root pinned by fingerprint."""
    from crypto.certs import DeviceCertificate, ReviewKeyStatement
    from crypto.encoding import b64e
    from liaison.client import agency as agency_ops
    from liaison.client import directory, officer
    from liaison.client import send as send_ops
    from liaison.client.addresses import Address
    from liaison.client.wire import decode_b64

    home, api = ctx.officers[sender], ctx.client
    target = Address.parse(address)
    record = agency_ops.load_agency(foreign.admins[target.agency])
    now = int(time.time())
    root = decode_b64(record["root_key"])
    if not agency_ops.fingerprint_matches(foreign.fingerprints[target.agency].safety_number, root):
        raise RuntimeError("the handed-over root does not match its fingerprint")
    directory.pin_root(home, target.agency, root, how="in-person", at=now)
    trust = directory.trust_store(home)
    own_cert = officer.own_certificate(home)
    own = await send_ops.resolve_recipients(home, api, [], own_cert, now)
    devices = dict(own.devices)
    for issued in record["issued"].values():
        cert = DeviceCertificate.from_bytes(decode_b64(issued["certificate"]))
        if cert.officer_id == target.officer_id:
            trust.verify_certificate(cert, now=now)
            devices[cert.device_id] = cert
    statement = ReviewKeyStatement.from_bytes(decode_b64(record["review_statement"]))
    trust.verify_review_statement(statement)
    recipients = send_ops.Recipients(devices, sorted({own_cert.agency, target.agency}))
    keys = officer.device_keys(home)
    envelope = await send_ops.seal_envelope(
        home,
        api,
        keys,
        own_cert,
        recipients,
        payload,
        now,
        None,
        review_keys={target.agency: directory.recipient(statement)},
    )
    sealed = send_ops.SealedMessage(
        raw=envelope.to_bytes(),
        message_id=envelope.header.message_id,
        envelope_hash=b64e(envelope.envelope_hash()),
        addresses=(str(target),),
        recipients=tuple(sorted(devices)),
        review_agencies=tuple(recipients.review_agencies),
        tags=(),
        blobs=(),
        sent_at=now,
        content_type=payload.content_type,
    )
    answer = await send_ops.upload_sealed(home, api, sealed)
    return await send_ops.confirm(home, api, sealed, answer, payload, keys=keys)


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


async def cross(border: Border) -> None:
    from liaison.client.payload import Payload

    vn, cn = border.vn, border.cn
    text = "Đề nghị xác minh nhân thân một công dân tại Đông Hưng. 请协助核实身份。"
    sent = await send_across(vn.ctx, "an", cn.ctx, "CN-GX-DXGA/li.wei", Payload.text(text))
    border.crossed["request"] = sent.message_id
    vn.ctx.say(
        _(
            "Nguyễn Văn An sent message {id} to Lý Vĩ through the {relay}, which logged it and "
            "forwarded the ciphertext to the relay of Dongxing."
        ).format(id=sent.message_id, relay=border.relay_name(vn))
    )
    report = await crossing_report(vn.ctx, "an", sent.message_id)
    border.reports["request"] = report
    vn.ctx.say(_("Both relays logged the same envelope:"))
    show_crossing(border, vn, report)

    reply = "已收到，正在核实。Đã nhận, đang xác minh."
    back = await send_across(cn.ctx, "li", vn.ctx, "VN-QN-CA/nguyen.van.an", Payload.text(reply))
    border.crossed["reply"] = back.message_id
    cn.ctx.say(
        _("Lý Vĩ replied with message {id}; it crossed the other way:").format(id=back.message_id)
    )
    report = await crossing_report(cn.ctx, "li", back.message_id)
    border.reports["reply"] = report
    show_crossing(border, cn, report)


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
    (N_("Messages cross the border; each side logs the same envelope"), cross),
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
