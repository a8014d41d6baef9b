"""The desk's statistics pages over HTTP against a real relay: the figures table in the
officer's language beside the other border language, the charts inline and escaped, the cases
behind a figure, and a counterpart's statistics notice compared figure by figure."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest
from conftest import OpenDesk

from liaison.client.cases import CaseBook, derive_cases
from liaison.desk.officer import DeskOfficer
from liaison.domain.statistics import Period, compute_statistics, statistics_fields
from liaison.i18n.report import figure_label
from tests.report.history import PERIOD, VN_BORDER, VN_POLICE, History, countersignature_check
from tests.report.test_statistics_reconcile import statistics_event

HOSTILE_GATE = '"><script>alert(1)</script>'
PERIOD_QUERY = "from=2026-10-01&to=2026-12-31"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def history() -> History:
    return History(seed=11).build(60)


@pytest.fixture
def book(history: History, monkeypatch: pytest.MonkeyPatch) -> tuple[CaseBook, str]:
    """The desk's case book: the generated history (the handovers at one gate under an id that is
    markup)
    and a counterpart's statistics notice that leaves one case out. Returns it and that case."""
    events = history.logged()
    for event in events:
        place = event.notice["fields"].get("place")
        if isinstance(place, dict) and place.get("gate") == "mong-cai--dongxing":
            place["gate"] = HOSTILE_GATE
    cases = derive_cases(events, verify_countersignature=countersignature_check)
    dropped = sorted(history.covered())[0]
    theirs = compute_statistics(
        [c for ref, c in cases.items() if ref != dropped],
        Period(PERIOD[0], PERIOD[1], "Asia/Ho_Chi_Minh"),
    )
    counterpart = statistics_event(statistics_fields(theirs), sender=VN_BORDER)
    case_book = CaseBook(
        agency=VN_POLICE,
        officer_id="an",
        device_id=f"{VN_POLICE}:an:desk",
        cases=cases,
        events=[*events, counterpart],
    )

    async def held_cases(self: DeskOfficer) -> CaseBook:
        self._open()  # still refused while the desk is locked
        return case_book

    monkeypatch.setattr(DeskOfficer, "case_book", held_cases)
    return case_book, dropped


async def test_the_figures_table_is_in_the_officers_language_with_the_other_beside_it(
    open_desk: OpenDesk, book: tuple[CaseBook, str]
) -> None:
    an, _s = await open_desk("an-phone")
    page = await (await an.get(f"/statistics?{PERIOD_QUERY}")).text()
    assert 'href="/statistics"' in page  # the navigation links the page
    expected = compute_statistics(
        book[0].cases.values(), Period(PERIOD[0], PERIOD[1], "Asia/Ho_Chi_Minh")
    )
    received = expected.figure("received")
    assert received.count > 0
    for code in ("received", "handed_over", "verified.confirmed"):
        assert figure_label(code, "vi") in page and figure_label(code, "zh") in page
    row = re.search(
        r"<tr>\s*<td lang=\"vi\">" + re.escape(figure_label("received", "vi")) + r".*?</tr>",
        page,
        re.S,
    )
    assert row is not None
    numbers = re.findall(r'<td class="number">(?:<a [^>]*>)?(\d+)', row.group(0))
    assert numbers == [str(received.count), str(received.case_count)]


async def test_the_charts_are_inline_svg_with_every_label_escaped(
    open_desk: OpenDesk, book: tuple[CaseBook, str]
) -> None:
    an, _s = await open_desk("an-phone")
    answer = await an.get(f"/statistics?{PERIOD_QUERY}")
    assert "script-src" in answer.headers["Content-Security-Policy"]
    page = await answer.text()
    charts = re.findall(r"<svg .*?</svg>", page, re.S)
    assert len(charts) == 3
    for chart in charts:
        root = ElementTree.fromstring(chart)  # well-formed: nothing broke out of a label
        assert not list(root.iter(f"{SVG}script"))
    gates = "".join(ElementTree.fromstring(charts[1]).itertext())
    assert HOSTILE_GATE in gates  # drawn as text…
    assert "<script>" not in page and "&lt;script&gt;" in page  # …never as markup


async def test_a_figure_links_to_the_cases_behind_it(
    open_desk: OpenDesk, book: tuple[CaseBook, str], history: History
) -> None:
    an, _s = await open_desk("an-phone")
    page = await (await an.get(f"/statistics?{PERIOD_QUERY}")).text()
    link = re.search(r'href="(/statistics/explain\?[^"]*figure=identified[^"]*)"', page)
    assert link is not None
    explained = await an.get(link.group(1).replace("&amp;", "&"))
    assert explained.status == 200
    text = await explained.text()
    listed = re.findall(r'<a href="/cases/([^"]+)">', text)
    assert listed == list(history.expected_cases("identified"))
    case_page = await an.get(f"/cases/{listed[0]}")
    assert case_page.status == 200
    unknown = await an.get(f"/statistics/explain?{PERIOD_QUERY}&figure=nonsense")
    assert unknown.status == 404


async def test_a_bad_period_is_refused_in_the_officers_language(
    open_desk: OpenDesk, book: tuple[CaseBook, str]
) -> None:
    an, _s = await open_desk("an-phone")
    answer = await an.get("/statistics?from=2026-12-31&to=2026-10-01")
    assert answer.status == 400
    page = await answer.text()
    assert 'class="failure"' in page and "<svg" not in page


async def test_a_received_statistics_notice_is_compared_with_the_differences_marked(
    open_desk: OpenDesk, book: tuple[CaseBook, str]
) -> None:
    an, _s = await open_desk("an-phone")
    listing = await (await an.get("/statistics")).text()
    assert 'href="/statistics/compare/stat-counterpart-01"' in listing
    page = await (await an.get("/statistics/compare/stat-counterpart-01")).text()
    dropped = book[1]
    disputed = re.findall(r'<tr class="disputed">.*?</tr>', page, re.S)
    assert disputed
    assert all(f'href="/cases/{dropped}"' in row for row in disputed)
    assert '<tr class="agreed">' in page
    (chart,) = re.findall(r"<svg .*?</svg>", page, re.S)
    assert "≠" in "".join(ElementTree.fromstring(chart).itertext())
    assert (await an.get("/statistics/compare/nothing-here")).status == 404
