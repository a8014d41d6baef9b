"""Reconciliation: two agencies' figures for one period side by side; each planted difference
is traced to its cases, and nothing else is reported."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from liaison.domain.case_events import LoggedNotice
from liaison.domain.cases import derive_cases
from liaison.domain.notices import parse_notice
from liaison.domain.statistics import (
    BLOCK_MAX_CHARS,
    Period,
    Reconciliation,
    StatisticsError,
    StatisticsReport,
    compute_statistics,
    read_statistics,
    reconcile,
    statistics_case_tag,
    statistics_fields,
)
from tests.report.history import (
    CN_PSB,
    PERIOD,
    VN_BORDER,
    VN_POLICE,
    History,
    countersignature_check,
    local,
)

VN_PERIOD = Period(PERIOD[0], PERIOD[1], "Asia/Ho_Chi_Minh")
Member = tuple[str, str]


def statistics_event(
    fields: dict[str, Any], sender: str = VN_BORDER, message_id: str = "stat-counterpart-01"
) -> LoggedNotice:
    notice = {
        "liaison_notice": 1,
        "type": "statistics",
        "header": {
            "our_ref": "BP/STAT/Q4",
            "sender_unit": sender,
            "recipient_unit": VN_POLICE,
            "case_ref": "STAT-2026-10-01-2026-12-31",
            "handling": "H2",
            "priority": "normal",
        },
        "fields": fields,
    }
    parse_notice(notice)  # what the counterpart sends is a valid notice
    return LoggedNotice(1, message_id, f"{sender}:bp:desk", sender, "bp", 1_800_000_000, notice)


def report_of(events: list[LoggedNotice], history: History) -> StatisticsReport:
    cases = derive_cases(history.logged(events), verify_countersignature=countersignature_check)
    return compute_statistics(cases.values(), VN_PERIOD)


@dataclass
class Planted:
    ours: History
    only_ours: set[str]
    only_theirs: set[str]  # cases this device does not hold
    held: str  # a case both hold that only the counterpart's notices complete
    different: set[str]
    theirs_expected: dict[str, set[Member]]
    result: Reconciliation


@pytest.fixture(scope="module")
def planted() -> Planted:
    ours = History(seed=7).build(300)
    covered = sorted(ours.covered())
    only_ours = set(covered[3:60:12])  # five cases the counterpart never received
    verified = {
        ref
        for code in ("verified.confirmed", "verified.not_confirmed", "verified.pending")
        for ref, _p in ours.expected[code]
    }
    different = set(sorted(verified - only_ours)[:4])
    theirs_events = [e for e in ours.all_events() if e.case_ref not in only_ours]
    theirs_expected = {
        code: {m for m in members if m[0] not in only_ours}
        for code, members in ours.expected.items()
    }
    # The counterpart holds a later result of each `different` case, the last of the period.
    later = History(seed=10, prefix="DF")
    for ref in sorted(different):
        request = next(e for e in ours.case_events[ref] if e.type == "verification_request")
        persons = {(ref, p["name"].casefold()) for p in request.fields["persons"]}
        old = next(
            c
            for c in ("confirmed", "not_confirmed", "pending")
            if persons & ours.expected[f"verified.{c}"]
        )
        new = "pending" if old != "pending" else "not_confirmed"
        theirs_events.append(
            later.emit(
                ref,
                CN_PSB,
                "verification_result",
                {"in_reply_to": request.message_id, "outcome": new, "verifying_unit": CN_PSB},
                to=VN_POLICE,
                sent=local(2026, 12, 31, 23, 0),
            )
        )
        theirs_expected[f"verified.{old}"] -= persons
        theirs_expected[f"verified.{new}"] = theirs_expected.get(f"verified.{new}", set()) | persons
        theirs_expected["identified"] = {m for m in theirs_expected["identified"] if m[0] != ref}
    # Cases only the counterpart holds.
    extra = History(seed=8, prefix="LC")
    for number in range(1, 9):
        extra.case(number)
    theirs_events += extra.all_events()
    for code, members in extra.expected.items():
        theirs_expected[code] = theirs_expected.get(code, set()) | members
    # A handover both hold, whose countersignature only the counterpart has.
    both = History(seed=9, prefix="HD")
    both.handover("HD-2026-0001", local(2026, 11, 15), persons=2)
    ack = next(e for e in both.all_events() if e.type == "receipt_ack")
    theirs_events += both.all_events()
    for code, members in both.expected.items():
        theirs_expected[code] = theirs_expected.get(code, set()) | members
    our_events = ours.all_events()
    our_events += [e for e in both.all_events() if e.message_id != ack.message_id]
    assert only_ours and len(different) == 4 and extra.covered()  # each kind is planted

    our_report = report_of(our_events, ours)
    their_report = report_of(theirs_events, ours)
    notice = statistics_event(statistics_fields(their_report))
    return Planted(
        ours=ours,
        only_ours=only_ours,
        only_theirs=extra.covered(),
        held="HD-2026-0001",
        different=different,
        theirs_expected=theirs_expected,
        result=reconcile(our_report, notice),
    )


def test_cases_only_this_side_counts_are_named(planted: Planted) -> None:
    assert set(planted.result.only_ours) == planted.only_ours


def test_cases_this_device_does_not_hold_are_named_by_tag(planted: Planted) -> None:
    tags = {statistics_case_tag(ref, VN_PERIOD) for ref in planted.only_theirs}
    assert set(planted.result.only_theirs_unknown) == tags


def test_a_held_case_only_the_counterpart_counts_is_named(planted: Planted) -> None:
    assert planted.result.only_theirs_held == (planted.held,)


def test_cases_counted_under_different_categories_are_named(planted: Planted) -> None:
    assert set(planted.result.different) == planted.different


def test_each_figure_is_agreed_or_disputed_as_planted(planted: Planted) -> None:
    ours_expected = planted.ours.expected
    for figure in planted.result.figures:
        mine = ours_expected.get(figure.code, set())
        theirs = planted.theirs_expected.get(figure.code, set())
        assert figure.theirs == len(theirs), figure.code
        assert figure.state == ("agreed" if len(mine) == len(theirs) else "disputed"), figure.code
        refs = {ref for ref, _p in mine}
        assert set(figure.only_ours) == refs & planted.only_ours, figure.code
        # The planted differences are in verification: named under those figures only.
        verification = figure.code.startswith(("verified.", "identified"))
        assert set(figure.different) == (planted.different if verification else set()), figure.code
    assert not planted.result.agreed


def test_identical_figures_agree_with_nothing_to_trace() -> None:
    ours = History(seed=11).build(60)
    report = report_of(ours.all_events(), ours)
    result = reconcile(report, statistics_event(statistics_fields(report)))
    assert result.agreed and result.coverage_known
    assert not (result.only_ours or result.only_theirs_unknown or result.different)
    assert not result.only_theirs_held


def test_a_hand_typed_notice_is_compared_without_cases() -> None:
    ours = History(seed=11).build(60)
    report = report_of(ours.all_events(), ours)
    counts = {"sex": {"female": report.count("received.sex.female") + 1}}
    fields = {
        "period_start": {"date": "2026-10-01"},
        "period_end": {"date": "2026-12-31"},
        "counts": counts,
        "reconciliation": "proposed",
    }
    result = reconcile(report, statistics_event(fields))
    states = result.states()
    assert states["received.sex.female"] == "disputed"
    assert states["received"] == "proposed"  # not stated by the counterpart
    assert not result.coverage_known and not result.only_ours


def test_another_period_is_refused() -> None:
    ours = History(seed=11).build(20)
    report = report_of(ours.all_events(), ours)
    other = Period(date(2026, 7, 1), date(2026, 9, 30), "Asia/Ho_Chi_Minh")
    fields = statistics_fields(compute_statistics([], other))
    with pytest.raises(StatisticsError) as caught:
        reconcile(report, statistics_event(fields))
    assert caught.value.code == "period_mismatch"


def test_the_prefilled_notice_is_valid_and_reads_back(planted: Planted) -> None:
    ours = planted.ours
    report = report_of(ours.all_events(), ours)
    event = statistics_event(statistics_fields(report), sender=VN_POLICE)
    stated = read_statistics(event)
    assert stated.zone == "Asia/Ho_Chi_Minh"
    for code, figure in report.figures.items():
        assert stated.figures[code] == figure.count, code
    assert set(stated.coverage or {}) == {report.case_tags[r] for r in report.covered_cases()}
    text = event.fields["discrepancies"]["text"]
    for ref in report.covered_cases():
        assert ref not in text  # tags only: no case reference, no name
    assert "Nguyễn" not in text


def test_too_many_cases_for_one_notice_is_refused() -> None:
    ours = History(seed=12).build(900)
    report = report_of(ours.all_events(), ours)
    with pytest.raises(StatisticsError) as caught:
        statistics_fields(report)
    assert caught.value.code == "too_many_cases"
    assert caught.value.params["limit"] == BLOCK_MAX_CHARS


def test_cases_on_the_period_edge_of_the_other_zone_are_marked() -> None:
    edges = History(seed=5, prefix="BD")
    late, early = edges.boundary_cases(1)  # 23:30 Vietnam time = 00:30 Beijing time
    cases = derive_cases(edges.logged(), verify_countersignature=countersignature_check)
    ours = compute_statistics(cases.values(), VN_PERIOD)
    theirs = compute_statistics(cases.values(), Period(PERIOD[0], PERIOD[1], "Asia/Shanghai"))
    result = reconcile(ours, statistics_event(statistics_fields(theirs, lang="zh"), sender=CN_PSB))
    assert result.only_ours == (late,) and result.boundary == (late,)
    assert result.only_theirs_held == (early,)
