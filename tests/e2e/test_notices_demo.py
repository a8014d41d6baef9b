"""The demo's notice steps exchange the three notices and print each in both languages."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from liaison.cli.demo.tour import STEPS, run_demo, steps_until
from liaison.domain.notices import CATALOGUE
from liaison.i18n import gettext_for
from liaison.i18n.dates import vi_document_date

NOTICE_STEPS = ("notice-request", "notice-result", "notice-proposal")


def test_demo_sends_request_result_and_proposal_as_notices_shown_in_vi_and_zh(
    tmp_path: Path,
) -> None:
    lines: list[str] = []
    steps = steps_until("pins") + [step for step in STEPS if step.name in NOTICE_STEPS]
    ctx = asyncio.run(run_demo(tmp_path, say=lines.append, steps=steps))
    out = "\n".join(lines)

    assert [key for key in ctx.sent if key.startswith("notice-")] == list(NOTICE_STEPS)
    for notice_type in ("verification_request", "verification_result", "handover_proposal"):
        for locale in ("vi", "zh_Hans_CN"):
            assert gettext_for(locale, CATALOGUE[notice_type].label) in out
    assert out.count("identical to what was sent") == 3
    # The result answers the request by its message id.
    request_id = ctx.sent["notice-request"].message_id
    assert f"{gettext_for('vi', 'In reply to')}: {request_id}" in out
    assert f"{gettext_for('zh_Hans_CN', 'In reply to')}：{request_id}" in out
    # Tomorrow 23:30 in Móng Cái is 00:30 the day after in Dongxing, in both languages: the
    # demo's slot follows the day it runs, never one already in the past.
    tomorrow = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date() + timedelta(days=1)
    after = tomorrow + timedelta(days=1)
    assert f"23 giờ 30 {vi_document_date(tomorrow)}" in out
    assert f"{after.year}年{after.month}月{after.day}日 00:30" in out
    # The warning an officer proposing that slot sees: Dongxing is closed at 00:30.
    (warning,) = [line for line in lines if line.startswith("Warning: ")]
    assert "outside the known opening hours of Dongxing (08:00–20:00, Beijing time)" in warning
    assert "UTC+8" in warning and "Asia/" not in warning
    assert "is in the past" not in out
