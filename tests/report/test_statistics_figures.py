"""Every figure of the report, and every case list behind one, against a generated year whose
answers the generator planted (tests/report/history.py)."""

from __future__ import annotations

from datetime import date

import pytest

from liaison.domain.cases import Case, derive_cases
from liaison.domain.statistics import (
    FIGURE_CODES,
    Period,
    StatisticsError,
    StatisticsReport,
    age_band,
    compute_statistics,
    parse_day,
)
from liaison.i18n.report import render_explain_text
from tests.report.history import (
    PERIOD,
    VN_SOCIAL,
    History,
    countersignature_check,
    local,
)

VN_PERIOD = Period(PERIOD[0], PERIOD[1], "Asia/Ho_Chi_Minh")


def derive(history: History) -> dict[str, Case]:
    return derive_cases(history.logged(), verify_countersignature=countersignature_check)


@pytest.fixture(scope="module")
def history() -> History:
    return History(seed=7).build(300)


@pytest.fixture(scope="module")
def report(history: History) -> StatisticsReport:
    return compute_statistics(derive(history).values(), VN_PERIOD)


def test_the_generated_year_plants_every_figure(history: History) -> None:
    # A figure with nothing planted would pass without proving anything.
    for code in FIGURE_CODES:
        assert history.expected.get(code), code
    assert any(code.startswith("handed_over.at.marker-") for code in history.expected)


def test_every_figure_counts_exactly_the_planted_persons(
    history: History, report: StatisticsReport
) -> None:
    for code in set(history.expected) | set(report.figures):
        assert report.figures[code].members == history.expected.get(code, set()), code


def test_every_explanation_lists_exactly_the_planted_cases(
    history: History, report: StatisticsReport
) -> None:
    for code in history.expected:
        assert report.figure(code).cases() == history.expected_cases(code), code
        text = render_explain_text(report, code, ("vi", "zh"))
        for case_ref, persons in history.expected_cases(code).items():
            assert any(
                line.split()[:2] == [case_ref, str(persons)] for line in text.splitlines()
            ), (code, case_ref)


def test_a_person_named_in_several_notices_counts_once(
    history: History, report: StatisticsReport
) -> None:
    # Handover persons appear in the proposal, the record and often a verification request.
    received = report.figure("received")
    assert received.count == len(history.expected["received"])
    assert received.count == sum(received.cases().values())


def test_the_period_is_counted_in_the_agencys_zone() -> None:
    edges = History(seed=5, prefix="BD")
    # Planted at 23:30 Vietnam time (00:30 Beijing time) on 31 December and on 30 September.
    late, early = edges.boundary_cases(1)
    cases = derive(edges)
    vn = compute_statistics(cases.values(), VN_PERIOD)
    cn = compute_statistics(cases.values(), Period(PERIOD[0], PERIOD[1], "Asia/Shanghai"))
    assert late in vn.figure("received").cases() and late not in cn.figure("received").cases()
    assert early in cn.figure("received").cases() and early not in vn.figure("received").cases()


def test_agency_filter_keeps_only_that_agencys_cases(history: History) -> None:
    theirs = {
        ref
        for ref, events in history.case_events.items()
        if any(VN_SOCIAL in (e.sender_agency, e.header.get("recipient_unit")) for e in events)
    }
    assert theirs
    report = compute_statistics(derive(history).values(), VN_PERIOD, agency=VN_SOCIAL)
    for code, members in history.expected.items():
        assert report.figures[code].members == {m for m in members if m[0] in theirs}, code


def test_statistics_notices_are_no_case(history: History) -> None:
    extra = History(seed=99, prefix="ST")
    extra.emit(
        "STAT-2026-10-01-2026-12-31",
        "VN-QN-CA",
        "statistics",
        {"period_start": {"date": "2026-10-01"}},
        to="CN-GX-DXGA",
        sent=local(2027, 1, 5),
    )
    cases = derive_cases(
        history.logged(history.all_events() + extra.all_events()),
        verify_countersignature=countersignature_check,
    )
    report = compute_statistics(cases.values(), VN_PERIOD)
    assert "STAT-2026-10-01-2026-12-31" not in report.held


@pytest.mark.parametrize(
    ("person", "on", "band", "estimated"),
    [
        ({"birth": {"date": "2012-12-03"}}, date(2026, 12, 3), "14-17", False),  # birthday
        ({"birth": {"date": "2012-12-04"}}, date(2026, 12, 3), "0-13", False),  # a day short
        ({"birth": {"date": "2008-12-03", "estimated": True}}, date(2026, 12, 3), "18+", True),
        ({"birth": {"year": 2012}}, date(2026, 6, 30), "0-13", True),  # before 1 July
        ({"birth": {"year": 2012}}, date(2026, 7, 1), "14-17", True),  # from 1 July
        ({"under_14": True}, date(2026, 7, 1), "0-13", True),
        ({"minor": True, "under_14": False}, date(2026, 7, 1), "14-17", True),
        ({"minor": True}, date(2026, 7, 1), "unknown", False),
        ({"minor": False}, date(2026, 7, 1), "18+", True),
        ({}, date(2026, 7, 1), "unknown", False),
    ],
)
def test_age_at_the_event(person: dict, on: date, band: str, estimated: bool) -> None:
    assert age_band(person, on) == (band, estimated)


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(StatisticsError) as caught:
        Period(date(2026, 12, 31), date(2026, 10, 1), "Asia/Ho_Chi_Minh")
    assert caught.value.code == "period_reversed"


@pytest.mark.parametrize(
    "value", ["2026-13-01", "2026-02-30", "01/10/2026", "", "2026-1-1", "0001-01-01", "٢٠٢٦-10-01"]
)
def test_bad_days_are_refused(value: str) -> None:
    with pytest.raises(StatisticsError) as caught:
        parse_day(value)
    assert caught.value.code == "bad_date"
