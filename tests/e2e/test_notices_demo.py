"""The demo's notice steps exchange the three notices and print each in both languages."""

from __future__ import annotations

import asyncio
from pathlib import Path

from liaison.cli.demo.tour import STEPS, run_demo, steps_until
from liaison.domain.notices import CATALOGUE
from liaison.i18n import gettext_for

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
    # 23:30 in Móng Cái is 00:30 the next day in Dongxing, in both languages.
    assert "23 giờ 30 ngày 3 tháng 12 năm 2026" in out
    assert "2026年12月4日 00:30" in out
