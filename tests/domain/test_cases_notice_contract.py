"""The notices the case tests replay are notices the catalogue accepts (the shared contract)."""

from __future__ import annotations

from liaison.domain.notices import parse_notice
from tests.domain.case_builders import CN, CN_PSB, VN, VN_BORDER_GUARD, VN_POLICE, CaseLog, at


def test_every_notice_of_the_issue_scenario_fits_the_catalogue() -> None:
    log = CaseLog()
    request = log.request_verification(VN_POLICE, CN_PSB, reply_by=at("2026-11-30 17:00", VN))
    log.verification_result(CN_PSB, VN_POLICE, request, "confirmed")
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    counter = log.counter(VN_POLICE, CN_PSB, proposal, slot=at("2026-12-03 09:30", VN))
    log.accept(CN_PSB, VN_POLICE, counter, reception_team=[{"name": "Wang Wei", "officer_id": "7"}])
    reschedule = log.reschedule(VN_BORDER_GUARD, CN_PSB, proposal, at("2026-12-05 09:00", VN))
    log.accept(CN_PSB, VN_BORDER_GUARD, reschedule)
    record = log.record(CN_PSB, VN_POLICE, proposal)
    log.countersign(VN_POLICE, CN_PSB, record)
    cancelled = log.propose(VN_POLICE, CN_PSB, at("2026-12-10 09:00", VN), persons=1)
    log.cancel(VN_POLICE, CN_PSB, cancelled)
    log.referral_status(VN_POLICE, VN_BORDER_GUARD, days_used=100)

    for event in log.events:
        parsed = parse_notice(event.notice)
        assert parsed.type == event.type
        assert parsed.case_ref == log.case_ref
