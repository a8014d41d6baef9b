"""The desk in a real browser (Debian's Chromium through Playwright), two desks on one relay.

Screenshots of the main pages in Vietnamese and Chinese are saved to `artifacts_dir()`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from browser import artifacts_dir, chromium_or_skip, desk_process

from liaison.cli.demo.tour import DEMO_PASSPHRASE, DemoContext
from liaison.domain.notices import CATALOGUE
from liaison.i18n import gettext_for

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser(world: DemoContext) -> Iterator[object]:
    path = chromium_or_skip()
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path)
        yield chromium
        chromium.close()


def _env(world: DemoContext, **extra: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIAISON_", "LANG", "LC_"))}
    env.update(LIAISON_KDF_PROFILE="test", LIAISON_LANG="en", **extra)
    return env


def _watch_csp(page: object, problems: list[str]) -> None:
    def console(message: object) -> None:
        text = message.text  # type: ignore[attr-defined]
        if "Content Security Policy" in text or "Refused to" in text:
            problems.append(text)

    page.on("console", console)  # type: ignore[attr-defined]


def _open_optional_fields(page: object) -> None:
    """Click every "more fields" summary open, as an officer would."""
    closed = page.locator("details.optional:not([open]) > summary")  # type: ignore[attr-defined]
    while closed.count():
        closed.first.click()


def _choose_language(page: object, code: str) -> None:
    page.click(f'form.languages button[value="{code}"]')  # type: ignore[attr-defined]
    page.wait_for_selector(f'html[lang^="{code}"]')  # type: ignore[attr-defined]


def test_launch_link_once_then_unlock_page(browser: object, world: DemoContext) -> None:
    home = world.officers["li"].root
    with desk_process(_env(world), home) as url:
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        context = browser.new_context()  # type: ignore[attr-defined]
        page = context.new_page()
        problems: list[str] = []
        _watch_csp(page, problems)
        assert page.goto(origin + "/").status == 403
        answer = page.goto(url)
        assert answer.request.redirected_from is not None
        # No passphrase on the terminal: the desk asks for it on its unlock page.
        assert urlsplit(page.url).path == "/unlock"
        page.fill("#passphrase", "not the passphrase")
        page.click("button.primary")
        assert page.locator(".failure").is_visible()
        page.fill("#passphrase", DEMO_PASSPHRASE)
        page.click("button.primary")
        page.wait_for_selector("table#inbox")
        cookie = next(c for c in context.cookies() if c["name"] == "liaison_desk_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        other = browser.new_context().new_page()  # type: ignore[attr-defined]
        assert other.goto(url).status == 403  # the launch link was spent
        assert problems == []
        context.close()


def test_two_desks_exchange_a_verification_request_live(
    browser: object, world: DemoContext
) -> None:
    env = _env(world, LIAISON_PASSPHRASE=DEMO_PASSPHRASE)
    shots = artifacts_dir()
    with (
        desk_process(env, world.officers["an-phone"].root) as an_url,
        desk_process(env, world.officers["li"].root) as li_url,
    ):
        an = browser.new_context(viewport={"width": 1366, "height": 768}, locale="vi-VN").new_page()  # type: ignore[attr-defined]
        li = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN").new_page()  # type: ignore[attr-defined]
        problems: list[str] = []
        _watch_csp(an, problems)
        _watch_csp(li, problems)
        an.goto(an_url)
        li.goto(li_url)
        _choose_language(an, "vi")
        _choose_language(li, "zh")
        li.wait_for_selector("table#inbox")

        # Nguyễn Văn An fills a verification request through the form.
        an.goto(urlsplit(an.url)._replace(path="/compose/notice/verification_request").geturl())
        an.fill('[name="header.our_ref"]', "47/XM-PA08")
        an.fill('[name="header.recipient_unit"]', "CN-GX-DXGA")
        an.fill('[name="header.case_ref"]', "QN-2026-0300")
        an.fill('[name="fields.persons[0].name"]', "Lò Thị Mai")
        _open_optional_fields(an)
        an.fill('[name="fields.persons[0].name_zh"]', "罗氏梅")
        an.select_option('[name="fields.persons[0].sex"]', "female")
        an.fill('[name="fields.persons[0].birth.year"]', "2004")
        an.check('[name="fields.persons[0].birth.estimated"]')
        an.click('button[name="add"][value="fields.persons"]')
        an.wait_for_selector('[name="fields.persons[1].name"]')
        an.fill('[name="fields.persons[1].name"]', "Lò Văn Páo")
        an.select_option('[name="fields.persons[1].sex"]', "male")
        _open_optional_fields(an)
        an.check('[name="fields.biometrics"][value="fingerprints"]')
        an.screenshot(path=str(shots / "compose-verification-request-vi.png"), full_page=True)
        an.click('button[name="action"][value="send"]')
        sent_text = an.locator("p.done").inner_text()
        message_id = re.search(r"[0-9a-f]{32}", sent_text).group(0)  # type: ignore[union-attr]

        # Lý Vĩ's open inbox shows it without a reload, in Chinese.
        row = li.wait_for_selector(f'tr[data-id="{message_id}"]', timeout=5000)
        label = gettext_for("zh_Hans_CN", CATALOGUE["verification_request"].label)
        assert label in row.inner_text() and "47/XM-PA08" in row.inner_text()
        assert li.locator("h1").inner_text() == gettext_for("zh_Hans_CN", "Inbox")
        li.screenshot(path=str(shots / "inbox-zh.png"), full_page=True)
        li.click(f'tr[data-id="{message_id}"] a')
        li.wait_for_selector("section.verify.good")
        assert li.locator('td[lang="zh-Hans-CN"]').count() > 0
        assert li.locator('td[lang="vi"]').count() > 0
        li.screenshot(path=str(shots / "read-notice-zh.png"), full_page=True)

        # Lý Vĩ answers with a verification result; An sees it arrive.
        an.goto(urlsplit(an.url)._replace(path="/").geturl())
        an.wait_for_selector("table#inbox")
        li.goto(urlsplit(li.url)._replace(path=f"/message/{message_id}").geturl())
        li.click('nav.reply a[href*="verification_result"]')
        li.wait_for_selector('[name="fields.outcome"]')
        _open_optional_fields(li)
        # The reply starts from the request: its case, its sender, its reference.
        assert li.input_value('[name="fields.in_reply_to"]') == message_id
        assert li.input_value('[name="header.recipient_unit"]') == "VN-QN-CA"
        assert li.input_value('[name="header.their_ref"]') == "47/XM-PA08"
        assert li.input_value('[name="header.case_ref"]') == "QN-2026-0300"
        li.fill('[name="header.our_ref"]', "DX-2026-400")
        li.select_option('[name="fields.outcome"]', "confirmed")
        li.fill('[name="fields.verifying_unit"]', "CN-GX-DXGA")
        li.fill('[name="fields.remarks.text"]', "经核实，该人员系越南公民。")
        li.select_option('[name="fields.remarks.lang"]', "zh")
        li.screenshot(path=str(shots / "compose-verification-result-zh.png"), full_page=True)
        li.click('button[name="action"][value="send"]')
        reply_text = li.locator("p.done").inner_text()
        reply_id = re.search(r"[0-9a-f]{32}", reply_text).group(0)  # type: ignore[union-attr]
        an.wait_for_selector(f'tr[data-id="{reply_id}"]', timeout=5000)
        an.screenshot(path=str(shots / "inbox-vi.png"), full_page=True)
        an.click(f'tr[data-id="{reply_id}"] a')
        an.wait_for_selector("section.verify.good")
        an.screenshot(path=str(shots / "read-notice-vi.png"), full_page=True)

        li.goto(urlsplit(li.url)._replace(path="/cases/QN-2026-0300").geturl())
        li.wait_for_selector("ol.timeline li")
        assert li.locator("ol.timeline li").count() == 2  # the request and its result
        li.screenshot(path=str(shots / "case-zh.png"), full_page=True)
        an.goto(urlsplit(an.url)._replace(path="/agenda").geturl())
        an.screenshot(path=str(shots / "agenda-vi.png"), full_page=True)

        # A handover at 23:30 Vietnam time is 00:30 the next day in China, shown as typed.
        an.goto(urlsplit(an.url)._replace(path="/compose/notice/handover_proposal").geturl())
        an.fill('[name="fields.slot.local"]', "2026-12-03T23:30")
        other = an.locator("#f-fields-slot-other")
        assert "2026-12-04 00:30" in other.inner_text()
        an.screenshot(path=str(shots / "compose-handover-vi.png"), full_page=True)
        an.screenshot(path=str(shots / "compose-handover-vi-top.png"))
        phone = browser.new_context(viewport={"width": 390, "height": 844}).new_page()  # type: ignore[attr-defined]
        phone.context.add_cookies(an.context.cookies())
        phone.goto(urlsplit(an.url)._replace(path="/").geturl())
        phone.wait_for_selector("table#inbox")
        phone.screenshot(path=str(shots / "inbox-vi-phone.png"), full_page=True)
        assert problems == []


def test_an_image_sent_from_one_desk_shows_inline_on_the_other(
    browser: object, world: DemoContext, tmp_path: object
) -> None:
    from pathlib import Path

    from test_desk_attachments import PNG

    photo = Path(str(tmp_path)) / "ảnh cửa khẩu.png"
    photo.write_bytes(PNG)
    env = _env(world, LIAISON_PASSPHRASE=DEMO_PASSPHRASE)
    with (
        desk_process(env, world.officers["an-phone"].root) as an_url,
        desk_process(env, world.officers["li"].root) as li_url,
    ):
        an = browser.new_context().new_page()  # type: ignore[attr-defined]
        li = browser.new_context().new_page()  # type: ignore[attr-defined]
        problems: list[str] = []
        _watch_csp(an, problems)
        _watch_csp(li, problems)
        an.goto(an_url)
        li.goto(li_url)
        li.wait_for_selector("table#inbox")
        an.goto(urlsplit(an.url)._replace(path="/compose").geturl())
        an.fill("#to", "CN-GX-DXGA")
        an.fill("#text", "Ảnh cửa khẩu Bắc Luân")
        an.set_input_files("#files", str(photo))
        an.click('button[name="action"][value="send"]')
        message_id = re.search(r"[0-9a-f]{32}", an.locator("p.done").inner_text()).group(0)  # type: ignore[union-attr]

        li.wait_for_selector(f'tr[data-id="{message_id}"]', timeout=5000)
        li.click(f'tr[data-id="{message_id}"] a')
        li.wait_for_selector("section.verify.good")
        image = li.wait_for_selector(".attachments img")
        # (wait_for_function evaluates a string, which the desk's CSP rightly refuses)
        for _attempt in range(50):
            if image.evaluate("img => img.complete"):
                break
            li.wait_for_timeout(100)
        assert image.evaluate("img => img.naturalWidth") == 1  # decoded: the desk served it
        assert "ảnh cửa khẩu.png" in li.locator(".attachments").inner_text()
        li.screenshot(path=str(artifacts_dir() / "message-with-image-vi.png"), full_page=True)
        assert problems == []
