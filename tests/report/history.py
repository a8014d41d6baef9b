"""A generated year of cases with known answers for the statistics report.

Every person and event is planted by this generator, which records, as it plants them, the
figures each must count in (docs/statistics.md states the rules it follows). The expected
figures are never computed by liaison.domain.statistics: the tests compare the two.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from liaison.domain.case_events import LoggedNotice

VN_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
CN_ZONE = ZoneInfo("Asia/Shanghai")
PERIOD = (date(2026, 10, 1), date(2026, 12, 31))
VN_POLICE = "VN-QN-CA"
VN_BORDER = "VN-QN-BP-MC"
VN_SOCIAL = "VN-QN-SYT"
CN_PSB = "CN-GX-DXGA"
GATES = ("mong-cai--dongxing", "hoanh-mo--dongzhong", "bac-phong-sinh--lihuo")
VALID = "valid-countersignature"

Member = tuple[str, str]


def countersignature_check(record: LoggedNotice, ack: LoggedNotice) -> bool:
    """The generator marks a good countersignature; the crypto is tested elsewhere."""
    return ack.fields.get("countersignature") == VALID


def in_period(moment: datetime) -> bool:
    return PERIOD[0] <= moment.astimezone(VN_ZONE).date() <= PERIOD[1]


def by_period_end(moment: datetime) -> bool:
    return moment.astimezone(VN_ZONE).date() <= PERIOD[1]


def before_period(moment: datetime) -> bool:
    return moment.astimezone(VN_ZONE).date() < PERIOD[0]


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VN_ZONE)


def utc_field(moment: datetime, zone: str = "Asia/Ho_Chi_Minh") -> dict[str, str]:
    return {"utc": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "tz": zone}


@dataclass
class Person:
    name: str
    sex: str
    band: str  # the age band planted for the day it is received
    estimated: bool
    block: dict[str, Any]


@dataclass
class History:
    """One device's notices and the figures they must give for PERIOD (in the VN zone)."""

    seed: int = 7
    prefix: str = "QN"
    events: list[LoggedNotice] = field(default_factory=list)
    expected: dict[str, set[Member]] = field(default_factory=dict)
    case_events: dict[str, list[LoggedNotice]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    _seq: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # --- recording expectations ---------------------------------------------------------------
    def expect(self, figure: str, case_ref: str, person: Person | str) -> None:
        name = person.name if isinstance(person, Person) else person
        self.expected.setdefault(figure, set()).add((case_ref, " ".join(name.casefold().split())))

    def expected_cases(self, figure: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for case_ref, _person in sorted(self.expected.get(figure, ())):
            out[case_ref] = out.get(case_ref, 0) + 1
        return out

    def covered(self) -> set[str]:
        return {ref for members in self.expected.values() for ref, _p in members}

    # --- notices ------------------------------------------------------------------------------
    def emit(
        self,
        case_ref: str,
        sender: str,
        notice_type: str,
        fields: Mapping[str, Any],
        *,
        to: str,
        sent: datetime,
    ) -> LoggedNotice:
        self._seq += 1
        message_id = f"{self.prefix.lower()}{self.seed:03d}m{self._seq:06d}"
        event = LoggedNotice(
            log_index=0,  # set by `logged` once every event is planted
            message_id=message_id,
            sender_device=f"{sender}:officer-{sender[-2:].lower()}:desk",
            sender_agency=sender,
            sender_officer=f"officer-{sender[-2:].lower()}",
            sent_at=int(sent.timestamp()),
            notice={
                "liaison_notice": 1,
                "type": notice_type,
                "header": {
                    "our_ref": f"{sender}/{self._seq}",
                    "sender_unit": sender,
                    "recipient_unit": to,
                    "case_ref": case_ref,
                    "handling": "H2",
                    "priority": "normal",
                },
                "fields": dict(fields),
            },
        )
        self.case_events.setdefault(case_ref, []).append(event)
        return event

    def logged(self, events: list[LoggedNotice] | None = None) -> list[LoggedNotice]:
        """`events` (default: all planted) with log indexes in send order."""
        chosen = events if events is not None else self.all_events()
        ordered = sorted(chosen, key=lambda e: (e.sent_at, e.message_id))
        return [
            LoggedNotice(
                log_index=i + 1,
                message_id=e.message_id,
                sender_device=e.sender_device,
                sender_agency=e.sender_agency,
                sender_officer=e.sender_officer,
                sent_at=e.sent_at,
                notice=e.notice,
            )
            for i, e in enumerate(ordered)
        ]

    def all_events(self) -> list[LoggedNotice]:
        return [e for events in self.case_events.values() for e in events]

    # --- persons ------------------------------------------------------------------------------
    def person(self, case_ref: str, n: int, event_day: date) -> Person:
        rng = self.rng
        name = f"Nguyễn Thị Mai {case_ref} {n}"
        sex = rng.choice(("female", "female", "male", "unknown"))
        band = rng.choice(("0-13", "14-17", "18+", "18+"))
        age = {"0-13": rng.randint(1, 13), "14-17": rng.randint(14, 17), "18+": rng.randint(18, 60)}
        years = age[band]
        form = rng.choice(("date", "date", "birthday", "year", "estimated", "flags", "none"))
        block: dict[str, Any] = {"name": name, "sex": sex}
        estimated = True
        if form in ("date", "estimated"):
            # Turned `years` 1..300 days before the day: exactly `years` old that day.
            anniversary = event_day.replace(year=event_day.year - years)
            born = anniversary - timedelta(days=rng.randint(1, 300))
            block["birth"] = {"date": born.isoformat()}
            if form == "estimated":
                block["birth"]["estimated"] = True
            else:
                estimated = False
        elif form == "birthday":
            # Turns `years` on the very day.
            block["birth"] = {"date": event_day.replace(year=event_day.year - years).isoformat()}
            estimated = False
        elif form == "year":
            # A year-only date counts as 1 July of that year.
            before_july = (event_day.month, event_day.day) < (7, 1)
            block["birth"] = {"year": event_day.year - years - (1 if before_july else 0)}
        elif form == "flags":
            if band == "0-13":
                block["under_14"] = True
                block["minor"] = True
            elif band == "14-17":
                block["minor"] = True
                block["under_14"] = False
            else:
                block["minor"] = False
        else:
            band, estimated = "unknown", False
        return Person(name, sex, band, estimated, block)

    # --- one case of each kind ----------------------------------------------------------------
    def handover(
        self,
        case_ref: str,
        when: datetime,
        *,
        into_vietnam: bool = True,
        persons: int = 1,
        place: Mapping[str, Any] | None = None,
        outcome: str = "completed",  # completed | bad_countersignature | cancelled
    ) -> list[Person]:
        """A cross-border handover proposed by the side handing over, completed at `when`."""
        giver, taker = (CN_PSB, VN_POLICE) if into_vietnam else (VN_POLICE, CN_PSB)
        day = when.astimezone(VN_ZONE).date()
        people = [self.person(case_ref, n, day) for n in range(persons)]
        place = dict(place or {"kind": "gate", "gate": self.rng.choice(GATES)})
        blocks = [p.block for p in people]
        proposal = self.emit(
            case_ref,
            giver,
            "handover_proposal",
            {"slot": utc_field(when), "place": place, "persons": blocks, "escorts": []},
            to=taker,
            sent=when - timedelta(days=5),
        )
        accept = {"in_reply_to": proposal.message_id, "decision": "accept"}
        self.emit(case_ref, taker, "handover_response", accept, to=giver, sent=when - timedelta(3))
        if outcome == "cancelled":
            cancel = {
                "in_reply_to": proposal.message_id,
                "action": "cancel",
                "reason_code": "weather",
            }
            self.emit(case_ref, giver, "reschedule_cancellation", cancel, to=taker, sent=when)
            return people
        record = self.emit(
            case_ref,
            giver,
            "handover_record",
            {
                "in_reply_to": proposal.message_id,
                "completed_at": utc_field(when),
                "place": place,
                "persons": blocks,
            },
            to=taker,
            sent=when + timedelta(minutes=30),
        )
        signature = VALID if outcome == "completed" else "forged"
        self.emit(
            case_ref,
            taker,
            "receipt_ack",
            {"in_reply_to": record.message_id, "received": "person", "countersignature": signature},
            to=giver,
            sent=when + timedelta(hours=1),
        )
        if outcome == "completed" and in_period(when):
            direction = "cn_to_vn" if into_vietnam else "vn_to_cn"
            where = place["gate"] if place["kind"] == "gate" else f"marker-{place['number']}"
            for person in people:
                self.expect("handed_over", case_ref, person)
                self.expect(f"handed_over.{direction}", case_ref, person)
                self.expect(f"handed_over.at.{where}", case_ref, person)
                if into_vietnam:
                    self.receive(case_ref, person)
        return people

    def receive(self, case_ref: str, person: Person) -> None:
        self.expect("received", case_ref, person)
        self.expect(f"received.sex.{person.sex}", case_ref, person)
        self.expect(f"received.age.{person.band}", case_ref, person)
        if person.estimated:
            self.expect("received.age.estimated", case_ref, person)

    def self_return(self, case_ref: str, when: datetime, *, referred: bool) -> list[Person]:
        day = when.astimezone(VN_ZONE).date()
        people = [self.person(case_ref, 0, day)]
        fields: dict[str, Any] = {
            "persons": [p.block for p in people],
            "found_at": {"kind": "marker", "number": "1300"},
            "found_when": utc_field(when),
            "reporting_post": VN_BORDER,
        }
        if referred:
            fields["referred_to"] = VN_SOCIAL
        self.emit(case_ref, VN_BORDER, "self_return", fields, to=VN_POLICE, sent=when)
        if in_period(when):
            for person in people:
                self.expect("self_returned", case_ref, person)
                self.receive(case_ref, person)
                if referred:
                    self.expect("referred", case_ref, person)
        return people

    def verification(
        self, case_ref: str, people: list[Person], asked: datetime, answers: list[tuple[int, str]]
    ) -> str | None:
        """A request by the VN police and the CN answers `(days after asking, outcome)`; answers
        the outcome in force at the period's end."""
        blocks = [p.block for p in people]
        request = self.emit(
            case_ref,
            VN_POLICE,
            "verification_request",
            {"persons": blocks},
            to=CN_PSB,
            sent=asked,
        )
        last_in_period: str | None = None
        at_end: str | None = None
        for days, outcome in answers:
            sent = asked + timedelta(days=days)
            fields = {
                "in_reply_to": request.message_id,
                "outcome": outcome,
                "verifying_unit": CN_PSB,
            }
            self.emit(case_ref, CN_PSB, "verification_result", fields, to=VN_POLICE, sent=sent)
            if in_period(sent):
                last_in_period = outcome
            if by_period_end(sent):
                at_end = outcome
        if last_in_period is not None:
            for person in people:
                self.expect(f"verified.{last_in_period}", case_ref, person)
        return at_end

    def referral(self, case_ref: str, person: Person, first: datetime, then: str | None) -> None:
        """in_shelter at `first`, then (optionally, 10..150 days later) `then`: a closing status,
        `exhausted` (120 days used) or `staying` (still in the shelter, 30 days used)."""
        block = [person.block]
        opened = {"persons": block, "receiving_agency": VN_SOCIAL, "status": "in_shelter"}
        self.emit(case_ref, VN_SOCIAL, "referral_status", opened, to=VN_POLICE, sent=first)
        second = first + timedelta(days=self.rng.randint(10, 150)) if then else None
        if then is not None and second is not None:
            status = then if then in ("returned_home", "left", "transferred") else "in_shelter"
            fields: dict[str, Any] = {
                "persons": block,
                "receiving_agency": VN_SOCIAL,
                "status": status,
                "support_given": ["essential_needs"],
            }
            fields["days_used"] = {"exhausted": 120, "staying": 30}.get(then, 40)
            self.emit(case_ref, VN_SOCIAL, "referral_status", fields, to=VN_POLICE, sent=second)
        closes = then is not None and then != "staying"
        # The rules of docs/statistics.md, one by one.
        if in_period(first) or (second is not None and in_period(second)):
            self.expect("referred", case_ref, person)
        shelter = in_period(first) or (second is not None and in_period(second))
        open_at_start = before_period(first) and not (
            closes and second is not None and before_period(second)
        )
        if shelter or open_at_start:
            self.expect("shelter", case_ref, person)
        if closes and second is not None and in_period(second):
            self.expect("support.closed", case_ref, person)
        if by_period_end(first) and not (closes and second is not None and by_period_end(second)):
            self.expect("support.open", case_ref, person)

    # --- a year ---------------------------------------------------------------------------------
    def moment(self) -> datetime:
        """A time in 2026 (VN wall clock), half of them in the fourth quarter."""
        rng = self.rng
        month = rng.choice((10, 11, 12)) if rng.random() < 0.5 else rng.randint(1, 12)
        return local(2026, month, rng.randint(1, 28), rng.randint(0, 23), rng.choice((0, 30)))

    def case(self, number: int) -> str:
        rng = self.rng
        case_ref = f"{self.prefix}-2026-{number:04d}"
        when = self.moment()
        kind = rng.choice(("in", "in", "in", "out", "self", "self"))
        self.kinds[case_ref] = kind
        if kind in ("in", "out"):
            outcome = rng.choice(("completed",) * 8 + ("bad_countersignature", "cancelled"))
            place = (
                {"kind": "marker", "number": rng.choice(("450", "1116/2"))}
                if rng.random() < 0.2
                else None
            )
            people = self.handover(
                case_ref,
                when,
                into_vietnam=kind == "in",
                persons=rng.randint(1, 3),
                place=place,
                outcome=outcome,
            )
            received = kind == "in" and outcome == "completed"
        else:
            people = self.self_return(case_ref, when, referred=rng.random() < 0.5)
            received = True
        at_end: str | None = None
        if rng.random() < 0.6:
            asked = when - timedelta(days=rng.randint(20, 60))
            first = rng.randint(1, 40)
            answers = [(first, rng.choice(("confirmed", "not_confirmed", "pending")))]
            if rng.random() < 0.3:
                answers.append((first + rng.randint(10, 90), rng.choice(("confirmed", "pending"))))
            at_end = self.verification(case_ref, people, asked, answers)
        if received and at_end == "confirmed" and in_period(when):
            for person in people:
                self.expect("identified", case_ref, person)
        if received and rng.random() < 0.6:
            then = rng.choice(
                (None, "returned_home", "left", "transferred", "exhausted", "staying")
            )
            for person in people:
                first = when + timedelta(days=rng.randint(1, 3))
                self.referral(case_ref, person, first, then)
        return case_ref

    def boundary_cases(self, start: int) -> list[str]:
        """Handovers into Vietnam at 23:30 VN time on the period's edges: the CN zone moves
        each across the boundary."""
        refs = []
        for number, when in (
            (start, local(2026, 12, 31, 23, 30)),
            (start + 1, local(2026, 9, 30, 23, 30)),
        ):
            case_ref = f"{self.prefix}-2026-{number:04d}"
            self.kinds[case_ref] = "boundary"
            self.handover(case_ref, when, persons=1)
            refs.append(case_ref)
        return refs

    def build(self, cases: int) -> History:
        for number in range(1, cases + 1):
            self.case(number)
        self.boundary_cases(cases + 1)
        return self
