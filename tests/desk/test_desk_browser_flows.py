"""The desk's main flows in a real browser (Debian's Chromium through Playwright), each desk a
`liaison desk` process on one relay: a handover from proposal to countersignature across two
desks (vi and zh), a supervisor's review in the officer's audit log, the administrator
certifying and revoking a device, the supervisor pages in Chinese, keyboard-only compose,
visible labels, and the layout at phone and laptop widths.

Screenshots go to `artifacts_dir()` ($LIAISON_SCREENSHOT_DIR when set), never the repository.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from browser import artifacts_dir, chromium_or_skip, desk_process

from liaison.cli.demo.tour import DEMO_PASSPHRASE, DemoContext
from liaison.client import officer as officer_ops
from liaison.client.home import Home
from liaison.client.transport import ApiClient

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")

pytestmark = pytest.mark.slow
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoContext]:
    """The demo up to its review step: An, Lý Vĩ, the supervisor Phạm Thu Hà, the agencies'
    administrators."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
    from e2e_relay import RelayThread, demo_world

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIAISON_KDF_PROFILE", "test")
        relay = RelayThread(tmp_path_factory.mktemp("relay"))
        relay.start()
        try:
            yield demo_world(relay, tmp_path_factory.mktemp("world"), "review")
        finally:
            relay.stop()


@pytest.fixture(scope="module")
def browser(world: DemoContext) -> Iterator[Any]:
    path = chromium_or_skip()
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path)
        yield chromium
        chromium.close()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIAISON_", "LANG", "LC_"))}
    env.update(
        LIAISON_KDF_PROFILE="test", LIAISON_LANG="en", LIAISON_PASSPHRASE=DEMO_PASSPHRASE, **extra
    )
    return env


def _page(browser: Any, url: str, language: str, problems: list[str], **context: Any) -> Any:
    """A new browser page on the desk at `url` (its launch link), in `language`."""
    page = browser.new_context(viewport=context.pop("viewport", LAPTOP), **context).new_page()

    def console(message: Any) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            problems.append(message.text)

    page.on("console", console)
    page.set_default_timeout(10_000)
    page.goto(url)
    page.click(f'form.languages button[value="{language}"]')
    page.wait_for_selector(f'html[lang^="{language}"]')
    return page


def _go(page: Any, path: str) -> None:
    page.goto(urlsplit(page.url)._replace(path=path, query="", fragment="").geturl())


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(artifacts_dir() / f"{name}.png"), full_page=True)


def _sent_id(page: Any) -> str:
    page.wait_for_selector("p.done, .failure, .field-error")
    problems = page.locator(".failure, .field-error").all_inner_texts()
    assert problems == [], problems
    found = re.search(r"[0-9a-f]{32}", page.locator("p.done").first.inner_text())
    assert found is not None
    return found.group(0)


def _set(page: Any, name: str, value: str) -> None:
    field = page.locator(f'[name="{name}"]')
    if field.evaluate("e => e.tagName") == "SELECT":
        field.select_option(value)
    else:
        field.fill(value)


def _step(page: Any, case_url: str, step: str, **fill: str) -> None:
    """Open a handover step on the case page, fill it, check it, then send it."""
    _go(page, case_url)
    form = page.locator(f'form[action$="/{step}"]')
    form.locator("xpath=ancestor::details").locator("summary").click()
    for name, value in fill.items():
        _set(form, name, value)
    form.locator('button[value="check"]').click()
    page.wait_for_selector("section.confirm")
    page.locator('section.confirm button[value="send"]').click()
    page.wait_for_selector('p.done[role="status"]')


def test_a_handover_from_proposal_to_countersignature_across_two_desks(
    browser: Any, world: DemoContext
) -> None:
    problems: list[str] = []
    case_ref = "QN-2026-0700"
    day = (datetime.now(UTC) + timedelta(days=3)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    with (
        desk_process(_env(), world.officers["an-phone"].root) as an_url,
        desk_process(_env(), world.officers["li"].root) as li_url,
    ):
        an = _page(browser, an_url, "vi", problems, locale="vi-VN")
        li = _page(browser, li_url, "zh", problems, locale="zh-CN")

        # An proposes 23:30 in Móng Cái: the form shows 00:30 the next day in Dongxing.
        _go(an, "/compose/notice/handover_proposal")
        an.fill('[name="header.our_ref"]', "96/BG-QN")
        an.fill('[name="header.recipient_unit"]', "CN-GX-DXGA")
        an.fill('[name="header.case_ref"]', case_ref)
        an.select_option('[name="fields.slot.tz"]', "Asia/Ho_Chi_Minh")
        an.fill('[name="fields.slot.local"]', day.strftime("%Y-%m-%dT23:30"))
        next_day = (day + timedelta(days=1)).strftime("%Y-%m-%d")
        assert f"{next_day} 00:30" in an.locator("#f-fields-slot-other").inner_text()
        an.select_option('[name="fields.place.kind"]', "gate")
        an.select_option('[name="fields.place.gate"]', "mong-cai--dongxing")
        an.fill('[name="fields.persons[0].name"]', "Lò Thị Mai")
        an.select_option('[name="fields.persons[0].sex"]', "female")
        an.fill('[name="fields.escorts[0].name"]', "Nguyễn Văn An")
        _shot(an, "handover-proposal-vi")
        an.click('button[name="action"][value="send"]')
        # The gate is closed at 23:30: the warning comes first, sending needs a second click.
        an.wait_for_selector('section.confirm p.warning[role="alert"]')
        _shot(an, "handover-proposal-warnings-vi")
        an.click('button[name="action"][value="send"]')
        handover_id = _sent_id(an)

        # Dongxing counter-proposes the next morning, its own time.
        case_url = f"/cases/{case_ref}"
        li.wait_for_selector(f'tr[data-id="{handover_id}"]', timeout=10000)
        morning = (day + timedelta(days=1)).strftime("%Y-%m-%dT10:00")
        _step(li, case_url, "counter", at=morning, tz="Asia/Shanghai", team="王伟/GX-7")
        _shot(li, "case-countered-zh")

        # An accepts, records the handover on the record form, Dongxing countersigns.
        _step(an, case_url, "accept", team="Nguyễn Văn An/VN-123")
        _go(an, case_url)
        an.click(f'a[href="/compose/notice/handover_record?handover={handover_id}"]')
        assert an.input_value('[name="fields.in_reply_to"]') == handover_id
        an.fill('[name="header.our_ref"]', "97/BB-QN")
        an.select_option('[name="fields.completed_at.tz"]', "Asia/Ho_Chi_Minh")
        an.fill(
            '[name="fields.completed_at.local"]',
            (day + timedelta(days=1)).strftime("%Y-%m-%dT09:20"),
        )
        an.select_option('[name="fields.place.kind"]', "gate")
        an.select_option('[name="fields.place.gate"]', "mong-cai--dongxing")
        an.fill('[name="fields.persons[0].name"]', "Lò Thị Mai")
        an.select_option('[name="fields.persons[0].sex"]', "female")
        an.fill('[name="fields.belongings"]', "Một ba lô màu xanh")
        _set(an, "fields.documents[0].type", "none")
        an.fill('[name="fields.condition.text"]', "Tỉnh táo, không có thương tích")
        for index, (side, name, agency) in enumerate(
            (("vn", "Nguyễn Văn An", "VN-QN-CA"), ("cn", "王伟", "CN-GX-DXGA"))
        ):
            if index:
                an.click('button[name="add"][value="fields.signatories"]')
            an.select_option(f'[name="fields.signatories[{index}].side"]', side)
            an.fill(f'[name="fields.signatories[{index}].name"]', name)
            an.fill(f'[name="fields.signatories[{index}].agency"]', agency)
        _shot(an, "handover-record-vi")
        an.click('button[name="action"][value="send"]')
        record_id = _sent_id(an)
        _go(li, "/")
        li.wait_for_selector(f'tr[data-id="{record_id}"]', timeout=10000)
        _step(li, case_url, "countersign")
        _go(an, case_url)
        an.wait_for_selector("ol.timeline li")
        assert (
            an.locator(f'a[href="/compose/notice/handover_record?handover={handover_id}"]').count()
            == 0
        )
        assert an.locator('form[action$="/countersign"]').count() == 0
        _shot(an, "case-completed-vi")
        assert problems == []


def test_a_supervisors_review_shows_in_the_officers_audit_log_and_zh_pages_render(
    browser: Any, world: DemoContext
) -> None:
    problems: list[str] = []
    message_id = world.sent["request"].message_id
    with (
        desk_process(_env(), world.officers["supervisor"].root) as supervisor_url,
        desk_process(_env(), world.officers["an-phone"].root) as an_url,
    ):
        supervisor = _page(browser, supervisor_url, "vi", problems)
        _go(supervisor, "/review")
        _shot(supervisor, "review-list-vi")
        supervisor.click(f'a[href="/review/{message_id}"]')
        supervisor.fill("#reason", "Kiểm tra định kỳ tháng 12")
        supervisor.click("button.primary")
        supervisor.wait_for_selector("section.verify.good")
        _shot(supervisor, "review-opened-vi")

        an = _page(browser, an_url, "vi", problems)
        _go(an, "/audit")
        review_rows = an.locator("tr.review", has_text=message_id)
        assert review_rows.count() >= 2  # the demo's review and this one
        _shot(an, "audit-vi")

        # The supervisor's pages in Chinese: list, review form, holds, audit log.
        supervisor.click('form.languages button[value="zh"]')
        supervisor.wait_for_selector('html[lang="zh-Hans-CN"]')
        for path, name in (
            ("/review", "review-list-zh"),
            (f"/review/{message_id}", "review-form-zh"),
            ("/holds", "holds-zh"),
            ("/audit", "audit-zh"),
        ):
            _go(supervisor, path)
            assert supervisor.locator("html").get_attribute("lang") == "zh-Hans-CN"
            heading = supervisor.locator("h1").inner_text()
            assert re.search(r"[\u4e00-\u9fff]", heading), (path, heading)
            _shot(supervisor, name)
        _check_layout(browser, supervisor, "/review", "/holds", f"/review/{message_id}")
        assert problems == []


def test_the_administrator_certifies_and_revokes_a_device_and_its_desk_is_refused(
    browser: Any, world: DemoContext, tmp_path: Path
) -> None:
    problems: list[str] = []
    home = Home(tmp_path / "cuong", passphrase=lambda confirm: DEMO_PASSPHRASE)
    request = officer_ops.init_officer(
        home,
        agency="VN-QN-CA",
        name_vi="Phạm Văn Cường",
        name_zh="范文强（音）",
        server=world.url,
        officer_id="pham.van.cuong",
        device_name="laptop",
    )
    request_file = tmp_path / "cuong.request"
    request_file.write_text(json.dumps(request), encoding="utf-8")
    device_id = request["device_id"]
    with desk_process(_env(), world.admins["VN-QN-CA"].root) as admin_url:
        admin = _page(browser, admin_url, "vi", problems)
        admin.wait_for_selector("table.devices")
        _shot(admin, "agency-vi")
        _check_layout(browser, admin, "/agency", "/agency/certify", "/trust")
        _go(admin, "/agency/certify")
        admin.set_input_files("#request", str(request_file))
        admin.select_option("#role", "officer")
        admin.click('button[value="check"]')
        shown = admin.locator("#request-fingerprint").inner_text()
        from liaison.client import agency as agency_ops

        assert shown == agency_ops.describe_request(request_file.read_bytes()).fingerprint
        _shot(admin, "agency-certify-compare-vi")
        admin.check("#compared")
        admin.click('button[value="certify"]')
        link = admin.locator(f'p.done a[href="/agency/devices/{device_id}/certificate"]')
        with admin.expect_download() as download:
            link.click()
        certificate = Path(download.value.path()).read_bytes()

        async def activate() -> None:
            async with ApiClient(world.url) as api:
                await officer_ops.activate(
                    home,
                    api,
                    certificate,
                    root_fingerprint=world.fingerprints["VN-QN-CA"].safety_number,
                )

        # Playwright's sync API runs an event loop in this thread: the client gets its own.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, activate()).result()
        with desk_process(_env(), home.root) as cuong_url:
            cuong = _page(browser, cuong_url, "vi", problems)
            cuong.wait_for_selector("table#inbox")

            _go(admin, "/agency")
            admin.click(f'a[href="/agency/devices/{device_id}/revoke"]')
            admin.wait_for_selector("#what-title")
            _shot(admin, "agency-revoke-confirm-vi")
            admin.select_option("#reason", "lost")
            admin.click("button.danger")
            admin.wait_for_selector(f"tr.status-revoked >> text={device_id}")

            # The revoked desk learns it from the relay and refuses every page.
            for _attempt in range(50):
                cuong.reload()
                if cuong.locator("#device-revoked").count():
                    break
                cuong.wait_for_timeout(200)
            assert cuong.locator("#device-revoked").is_visible()
            for path in ("/compose", "/cases", "/trust"):
                _go(cuong, path)
                assert cuong.locator("#device-revoked").is_visible(), path
            _shot(cuong, "revoked-desk-vi")
    assert problems == []


# Every control a person can see has a label they can see too (not a placeholder, not only an
# aria-label): controls in a closed "more fields" section are checked once it is opened.
_UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden' && e.checkVisibility())
  .filter(e => ![...(e.labels || [])].some(l => l.checkVisibility() && l.textContent.trim()))
  .map(e => e.name || e.id)"""
_OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
# The elements that stick out to the right, to say which when the page is too wide.
_WIDE = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .filter(e => e.checkVisibility())
  .slice(0, 8)
  .map(e => `${e.tagName}#${e.id}.${e.className} ${e.getBoundingClientRect().width}`)"""


def _check_layout(browser: Any, page: Any, *paths: str) -> None:
    """On each page, at 1366 and at 390 pixels wide: every visible control has a visible label
    (every "more fields" section opened), nothing is wider than the screen. The phone-width
    pages are kept as screenshots."""
    phone = browser.new_context(viewport=PHONE).new_page()
    phone.context.add_cookies(page.context.cookies())
    phone.set_default_timeout(10_000)
    language = page.locator("html").get_attribute("lang")[:2]
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
    for path in paths:
        for shown, width in ((page, 1366), (phone, 390)):
            assert shown.goto(origin + path).status == 200, (path, width)
            closed = shown.locator("details:not([open]) > summary:visible")
            for _section in range(200):
                if not closed.count():
                    break
                closed.first.click()
            assert shown.evaluate(_UNLABELLED) == [], (path, width)
            assert shown.evaluate(_OVERFLOW) <= 0, (path, width, shown.evaluate(_WIDE))
        name = path.strip("/").replace("/", "-") or "inbox"
        _shot(phone, f"{name}-{language}-390")
    phone.context.close()


def test_keyboard_only_compose_visible_labels_and_both_widths(
    browser: Any, world: DemoContext
) -> None:
    problems: list[str] = []
    with desk_process(_env(), world.officers["an-phone"].root) as an_url:
        an = _page(browser, an_url, "vi", problems)
        _go(an, "/compose")

        def tab_to(selector: str) -> None:
            for _press in range(60):
                an.keyboard.press("Tab")
                if an.evaluate(f"() => document.activeElement.matches({selector!r})"):
                    return
            raise AssertionError(f"Tab never reaches {selector}")

        tab_to('form[action="/compose/message"] [name="to"]')
        an.keyboard.type("CN-GX-DXGA")
        tab_to('form[action="/compose/message"] [name="text"]')
        an.keyboard.type("Gửi bằng bàn phím")
        tab_to('form[action="/compose/message"] button[type="submit"]')
        an.keyboard.press("Enter")
        an.wait_for_selector("p.done")
        assert re.search(r"[0-9a-f]{32}", an.locator("p.done").inner_text())

        _check_layout(
            browser,
            an,
            "/",
            "/compose",
            "/compose/notice/verification_request",
            "/compose/notice/handover_proposal",
            "/cases",
            "/agenda",
            "/audit",
            "/trust",
        )
    assert problems == []
