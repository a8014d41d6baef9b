"""The demo's review step: a supervisor is certified, reviews a message, the officer sees it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liaison.cli.demo.context import enrol
from liaison.cli.review import describe_record
from liaison.i18n import _

if TYPE_CHECKING:
    from liaison.cli.demo.context import DemoContext

SUPERVISOR = ("supervisor", "VN-QN-CA", "pham.thu.ha", "Phạm Thu Hà", "范秋霞（音）", "desk")


async def supervisor_reviews(ctx: DemoContext) -> None:
    """A supervisor of VN-QN-CA is certified, receives the review keys, reviews the first
    message with a reason, and the officer who sent it sees the review in his audit log."""
    from liaison.client import review as review_ops
    from liaison.client import trust as trust_ops

    home_name, code, _officer_id, name_vi, _name_zh, _device = SUPERVISOR
    await enrol(ctx, SUPERVISOR, role="supervisor")
    home = ctx.officers[home_name]
    admin = ctx.admins[code]
    for other, fp in ctx.fingerprints.items():
        if other != code:
            await trust_ops.add(home, ctx.client, other, fp.safety_number)
    published = await review_ops.publish_wraps(admin, ctx.client)
    ctx.say(
        _(
            "{name} was certified as supervisor; the review key was sealed to her device "
            "({count} wraps, logged)."
        ).format(name=name_vi, count=published["uploaded"])
    )
    traffic = await review_ops.list_traffic(home, ctx.client)
    ctx.say(
        _("She lists {count} messages of her agency (metadata only).").format(count=len(traffic))
    )
    message_id = ctx.sent["request"].message_id
    reviewed = await review_ops.read(
        home, ctx.client, message_id, "Kiểm tra định kỳ / 例行检查 (routine check)"
    )
    ctx.say(
        _(
            "She reviewed {id}: the review record (log entry {index}) was verified before "
            "decryption: {text}"
        ).format(
            id=message_id[:8], index=reviewed.review_log_index, text=reviewed.payload.as_text()
        )
    )
    rows = await review_ops.audit_log(ctx.officers["an-phone"], ctx.client)
    seen = [r for r in rows if r["entry"].get("kind") == "review"]
    if not seen or seen[-1]["entry"].get("message_id") != message_id:
        raise RuntimeError("the officer does not see the review record")
    ctx.say(_("Nguyễn Văn An's audit log shows it: {line}").format(line=describe_record(seen[-1])))
