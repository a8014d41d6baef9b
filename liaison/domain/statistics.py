"""Periodic statistics computed from cases, the statistics notice they fill, and reconciliation.

Pure: figures are derived from the notices of the cases a device holds (docs/statistics.md
defines each one); nothing here reads files, talks to the relay or translates. Figure codes,
error codes and reconciliation states are stable codes; liaison/i18n/report.py names them.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from crypto.encoding import labelled_hash
from crypto.labels import LABEL_STATISTICS_CASE_TAG, LABEL_STATISTICS_PROFILE
from liaison.domain.case_events import Action, LoggedNotice, country_side
from liaison.domain.cases import Case
from liaison.domain.handover import HandoverState

# The zone a country's agencies count their days in (DOMAIN.md: neither has daylight saving).
COUNTRY_ZONES = {"VN": "Asia/Ho_Chi_Minh", "CN": "Asia/Shanghai"}
DEFAULT_SUPPORT_DAYS = 120  # Decree 162/2025; a referral_status may give another days_limit

SEXES = ("female", "male", "unknown")
AGE_BANDS = ("0-13", "14-17", "18+", "unknown")  # the statistics notice's age_band categories
DIRECTIONS = ("cn_to_vn", "vn_to_cn")
OUTCOMES = ("confirmed", "not_confirmed", "pending")
CLOSING_STATUSES = ("returned_home", "transferred", "left")

PLACE_PREFIX = "handed_over.at."
MONTHLY_FIGURES = frozenset({"received", "handed_over", "self_returned", "referred"})
# Every figure with a fixed code, in report order; `handed_over.at.<place>` figures follow the
# data (one per gate pair, border marker or "point" that a handover of the period used).
FIGURE_CODES: tuple[str, ...] = (
    "received",
    *(f"received.sex.{sex}" for sex in SEXES),
    *(f"received.age.{band}" for band in AGE_BANDS),
    "received.age.estimated",
    "handed_over",
    *(f"handed_over.{direction}" for direction in DIRECTIONS),
    "self_returned",
    *(f"verified.{outcome}" for outcome in OUTCOMES),
    "identified",
    "referred",
    "shelter",
    "support.open",
    "support.closed",
)

# How the statistics notice's `counts` table carries figures: dimension -> category -> figure.
COUNTS_DIMENSIONS: dict[str, dict[str, str]] = {
    "sex": {sex: f"received.sex.{sex}" for sex in SEXES},
    "age_band": {band: f"received.age.{band}" for band in AGE_BANDS},
    "direction": {
        "cn_to_vn": "handed_over.cn_to_vn",
        "vn_to_cn": "handed_over.vn_to_cn",
        "self_return": "self_returned",
    },
}
# Figures the `counts` table has no place for travel in the notice's statistics block.
BLOCK_FIGURES = tuple(
    code
    for code in FIGURE_CODES
    if code not in {f for table in COUNTS_DIMENSIONS.values() for f in table.values()}
)

BLOCK_FORMAT = "liaison-statistics/1"
BLOCK_MAX_CHARS = 4000  # the `discrepancies` text field's limit in the catalogue
_TAG_BYTES = 5  # 40 bits, 8 base32 characters: collisions negligible for thousands of cases
# A case's profile: one base32 character (5 bits) per group of figures, hashing how the case
# counts in that group, so that a difference points at the group's figures only.
FIGURE_GROUPS: tuple[tuple[str, ...], ...] = (
    ("received", "self_returned"),
    ("handed_over",),
    ("verified.", "identified"),
    ("referred", "shelter", "support."),
)


PREFIXES = tuple(prefix for group in FIGURE_GROUPS for prefix in group)


def figure_group(code: str) -> int:
    """The index in FIGURE_GROUPS of the group a figure belongs to."""
    return next(i for i, prefixes in enumerate(FIGURE_GROUPS) if code.startswith(prefixes))


class StatisticsError(ValueError):
    """A bad period, figure or statistics notice; `code` is stable, `params` fill its message."""

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.params = params
        super().__init__(code)


# --- The period -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    """Calendar days `start`..`end` (both included) on the wall clock of `zone`."""

    start: date
    end: date
    zone: str
    # The period as UTC instants [_first, _after) and the zone's offset, set once: comparing
    # each notice's instant stays cheap.
    _first: datetime = field(init=False, repr=False, compare=False)
    _after: datetime = field(init=False, repr=False, compare=False)
    _offset: timedelta = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise StatisticsError("period_reversed", start=self.start, end=self.end)
        tz = ZoneInfo(self.zone)
        first = datetime.combine(self.start, time(), tz).astimezone(UTC)
        after = datetime.combine(self.end + timedelta(days=1), time(), tz).astimezone(UTC)
        object.__setattr__(self, "_first", first)
        object.__setattr__(self, "_after", after)
        # Neither border zone keeps daylight saving (DOMAIN.md): one offset serves the period.
        object.__setattr__(self, "_offset", first.astimezone(tz).utcoffset() or timedelta())

    def local_date(self, instant: datetime) -> date:
        return (instant + self._offset).date()

    def contains(self, instant: datetime) -> bool:
        return self._first <= instant < self._after

    def ended_by(self, instant: datetime) -> bool:
        """Whether `instant` is on or before the period's last day."""
        return instant < self._after

    def before(self, instant: datetime) -> bool:
        return instant < self._first

    @property
    def months(self) -> list[str]:
        """Every month the period touches, as YYYY-MM."""
        out, year, month = [], self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            out.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    def near_boundary(self, instant: datetime, other_zone: str) -> bool:
        """Whether the zone `other_zone` puts `instant` on the other side of a period boundary."""
        here = self.contains(instant)
        there = self.start <= instant.astimezone(ZoneInfo(other_zone)).date() <= self.end
        return here != there


def parse_day(value: str) -> date:
    """A YYYY-MM-DD day of 1900..2100, or StatisticsError `bad_date`."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise StatisticsError("bad_date", value=str(value)[:40])
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise StatisticsError("bad_date", value=value) from None
    if not 1900 <= day.year <= 2100:  # the notice catalogue's range for dates
        raise StatisticsError("bad_date", value=value)
    return day


def zone_of(agency: str) -> str:
    """The zone an agency counts its days in (its country's; UTC for an unknown country)."""
    return COUNTRY_ZONES.get(country_side(agency), "UTC")


# --- Persons, figures and the report ----------------------------------------------------------
def person_key(person: Mapping[str, Any]) -> str:
    """A person within one case: the name of record, NFC, case-folded, spaces collapsed."""
    name = person.get("name")
    return _folded_name(name) if isinstance(name, str) else ""


@lru_cache(maxsize=65536)
def _folded_name(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


Member = tuple[str, str]  # (case reference, person key)


@dataclass(frozen=True)
class Figure:
    """A count of persons and the persons behind it, by case reference."""

    code: str
    members: frozenset[Member]

    @property
    def count(self) -> int:
        return len(self.members)

    @property
    def case_count(self) -> int:
        return len({case_ref for case_ref, _person in self.members})

    def cases(self) -> dict[str, int]:
        """Case reference -> persons of that case counted here, in reference order."""
        out: dict[str, int] = {}
        for case_ref, _person in sorted(self.members):
            out[case_ref] = out.get(case_ref, 0) + 1
        return out


@dataclass(frozen=True)
class StatisticsReport:
    period: Period
    agency: str | None  # the agency whose cases were counted; None: every case on the device
    figures: dict[str, Figure]
    monthly: dict[str, dict[str, int]]  # figure code -> YYYY-MM -> persons
    held: tuple[str, ...]  # every case reference of the device considered (agency filter)
    boundary: dict[str, datetime]  # case reference -> the instant that placed it in the period

    @cached_property
    def case_tags(self) -> dict[str, str]:
        """Case reference -> statistics case tag, for every case held (only the notice and
        reconciliation need them: hashing is left out of the figures' cost)."""
        return {ref: statistics_case_tag(ref, self.period) for ref in self.held}

    @cached_property
    def profiles(self) -> dict[str, str]:
        """Case reference -> hash of how the case is counted, for every case counted."""
        return _profiles(self.figures)

    def figure(self, code: str) -> Figure:
        found = self.figures.get(code)
        if found is None:
            raise StatisticsError("unknown_figure", figure=code[:80], known=tuple(self.figures))
        return found

    def count(self, code: str) -> int:
        found = self.figures.get(code)
        return found.count if found is not None else 0

    def covered_cases(self) -> list[str]:
        """Every case counted in at least one figure, in reference order."""
        return sorted(self.profiles)

    def profile(self, case_ref: str) -> str:
        """How the case is counted: per group of figures, a hash of its figures and persons."""
        return self.profiles.get(case_ref, "")


def _profiles(figures: Mapping[str, Figure]) -> dict[str, str]:
    per_case: dict[str, list[list[str]]] = {}
    for code, figure in figures.items():
        for case_ref, n in figure.cases().items():
            groups = per_case.setdefault(case_ref, [[] for _group in FIGURE_GROUPS])
            groups[figure_group(code)].append(f"{code}:{n}")
    return {
        case_ref: "".join(_group_hash(parts) for parts in groups)
        for case_ref, groups in per_case.items()
    }


def _group_hash(parts: list[str]) -> str:
    digest = labelled_hash(LABEL_STATISTICS_PROFILE, "|".join(parts).encode())
    return base64.b32encode(digest[:1]).decode()[0].lower()


def statistics_case_tag(case_ref: str, period: Period) -> str:
    """The tag a statistics notice names a case by: both parties holding the case compute the
    same tag from its shared reference; a reader of the notice without the case learns neither
    the reference nor a name (short of guessing references, see docs/statistics.md)."""
    ref = unicodedata.normalize("NFC", case_ref.strip()).encode("utf-8")
    digest = labelled_hash(
        LABEL_STATISTICS_CASE_TAG,
        period.start.isoformat().encode(),
        period.end.isoformat().encode(),
        ref,
        size=16,
    )
    return base64.b32encode(digest[:_TAG_BYTES]).decode().lower()


def _instant(value: object) -> datetime | None:
    """The UTC instant of a notice DATETIME; None when malformed (it then counts nowhere)."""
    utc = value.get("utc") if isinstance(value, Mapping) else None
    if not isinstance(utc, str) or not utc.endswith("Z"):
        return None
    try:
        return datetime.fromisoformat(utc).astimezone(UTC)
    except ValueError:
        return None


def _sent(event: LoggedNotice) -> datetime:
    return datetime.fromtimestamp(event.sent_at, UTC)


def _persons(fields: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    persons = fields.get("persons")
    if not isinstance(persons, list):
        return []
    return [p for p in persons if isinstance(p, Mapping) and person_key(p)]


def age_band(person: Mapping[str, Any], on: date) -> tuple[str, bool]:
    """The person's age band on the day `on`, and whether it is estimated (year-only or
    estimated birth date, or only the minor flags): a year-only birth counts as 1 July."""
    birth = person.get("birth")
    if isinstance(birth, Mapping):
        estimated = bool(birth.get("estimated"))
        born: date | None = None
        if isinstance(birth.get("date"), str):
            try:
                born = date.fromisoformat(birth["date"])
            except ValueError:
                born = None
        elif isinstance(birth.get("year"), int) and not isinstance(birth.get("year"), bool):
            born, estimated = date(birth["year"], 7, 1), True
        if born is not None:
            years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
            band = "0-13" if years < 14 else "14-17" if years < 18 else "18+"
            return band, estimated
    if person.get("under_14") is True:
        return "0-13", True
    if person.get("minor") is True and person.get("under_14") is False:
        return "14-17", True
    if person.get("minor") is False:
        return "18+", True
    return "unknown", False


def place_key(place: object) -> str:
    """A handover place as a figure category: the gate pair id, `marker-N`, or `point` (a
    named point's name is free text and never becomes a category)."""
    if not isinstance(place, Mapping):
        return "point"
    if place.get("kind") == "gate" and isinstance(place.get("gate"), str):
        return str(place["gate"])
    if place.get("kind") == "marker" and isinstance(place.get("number"), str):
        return "marker-" + str(place["number"])
    return "point"


def _direction(proposer: str, parties: Iterable[str]) -> str | None:
    """The proposing side hands the persons over (it holds them and the files to hand over)."""
    others = [p for p in parties if p != proposer]
    if not others:
        return None
    code = f"{proposer.lower()}_to_{others[0].lower()}"
    return code if code in DIRECTIONS else None


class _Tally:
    """Collects members per figure, the month of each, and what a received person looked like."""

    def __init__(self, period: Period) -> None:
        self.period = period
        self.members: dict[str, set[Member]] = {code: set() for code in FIGURE_CODES}
        self.months: dict[str, dict[Member, str]] = {}
        self.received: dict[Member, tuple[datetime, Mapping[str, Any]]] = {}
        self.boundary: dict[str, datetime] = {}

    def add(self, code: str, member: Member, when: datetime | None = None) -> None:
        self.members.setdefault(code, set()).add(member)
        if when is None:
            return
        if code in MONTHLY_FIGURES:
            day = self.period.local_date(when)
            self.months.setdefault(code, {}).setdefault(member, f"{day.year:04d}-{day.month:02d}")
        known = self.boundary.get(member[0])
        if known is None or when < known:
            self.boundary[member[0]] = when

    def receive(self, member: Member, when: datetime, person: Mapping[str, Any]) -> None:
        self.add("received", member, when)
        known = self.received.get(member)
        if known is None or when < known[0]:
            self.received[member] = (when, person)  # first arrival in the period counts


Notices = dict[str, list[LoggedNotice]]  # a case's notices by type, in log order


def _handovers(case: Case, notices: Notices, period: Period, tally: _Tally) -> None:
    by_id = {event.message_id: event for event in notices.get("handover_record", ())}
    for handover in case.handovers.values():
        if handover.state is not HandoverState.COMPLETED or handover.record_id is None:
            continue
        record = by_id.get(handover.record_id)
        if record is None:
            continue
        when = _instant(record.fields.get("completed_at"))
        if when is None or not period.contains(when):
            continue
        persons = _persons(record.fields) or [p for p in handover.persons if person_key(p)]
        direction = _direction(handover.proposer_side, handover.parties)
        if direction is None:
            continue  # a domestic transfer is not a cross-border handover
        place = PLACE_PREFIX + place_key(record.fields.get("place"))
        for person in persons:
            member = (case.case_ref, person_key(person))
            tally.add("handed_over", member, when)
            tally.add(place, member, when)
            tally.add(f"handed_over.{direction}", member, when)
            if direction == "cn_to_vn":
                tally.receive(member, when, person)


def _self_returns(case: Case, notices: Notices, period: Period, tally: _Tally) -> None:
    for event in notices.get("self_return", ()):
        when = _instant(event.fields.get("found_when"))
        if when is None or not period.contains(when):
            continue
        for person in _persons(event.fields):
            member = (case.case_ref, person_key(person))
            tally.add("self_returned", member, when)
            tally.receive(member, when, person)
            if event.fields.get("referred_to"):
                tally.add("referred", member, when)


def _verification(case: Case, notices: Notices, period: Period, tally: _Tally) -> str | None:
    """Counts the persons of the case's latest effective result sent in the period; answers
    the outcome in force at the period's end (for `identified`)."""
    if "verification_result" not in notices:
        return None
    by_id = {
        event.message_id: event
        for kind in ("verification_request", "verification_result")
        for event in notices.get(kind, ())
    }
    requests: dict[str, LoggedNotice] = {}
    last_request: LoggedNotice | None = None
    latest: tuple[LoggedNotice, list[Mapping[str, Any]]] | None = None
    at_end: str | None = None
    for entry in case.timeline:
        if entry.action is not Action.REQUEST_VERIFICATION and (
            entry.action is not Action.REPORT_VERIFICATION or entry.superseded is not None
        ):
            continue
        event = by_id.get(entry.message_id)
        if event is None:
            continue
        if entry.action is Action.REQUEST_VERIFICATION:
            requests[event.message_id] = last_request = event
            continue
        if entry.action is not Action.REPORT_VERIFICATION or entry.superseded is not None:
            continue
        when = _sent(event)
        if period.ended_by(when):
            at_end = entry.state_after
        if period.contains(when):
            request = requests.get(event.in_reply_to or "") or last_request
            persons = _persons(event.fields) or (_persons(request.fields) if request else [])
            latest = (event, persons)
    if latest is not None:
        event, persons = latest
        outcome = str(event.fields.get("outcome"))
        for person in persons:
            tally.add(f"verified.{outcome}", (case.case_ref, person_key(person)), _sent(event))
    return at_end


def _support_window(fields: Mapping[str, Any], sheltered: bool) -> bool:
    """Whether a support window is open after this referral_status (it opens with in_shelter
    and closes on a closing status or when the days used reach the days allowed)."""
    limit = fields.get("days_limit") or DEFAULT_SUPPORT_DAYS
    exhausted = int(fields.get("days_used") or 0) >= int(limit)
    status = fields.get("status")
    if status == "in_shelter" and not exhausted:
        return True
    if status in CLOSING_STATUSES or exhausted:
        return False
    return sheltered


def _referrals(case: Case, notices: Notices, period: Period, tally: _Tally) -> None:
    history: dict[str, list[LoggedNotice]] = {}
    for event in notices.get("referral_status", ()):
        for person in _persons(event.fields):
            history.setdefault(person_key(person), []).append(event)
    for key, events in history.items():
        member = (case.case_ref, key)
        sheltered = at_start = at_end = False
        for event in events:  # log order
            when = _sent(event)
            now_sheltered = _support_window(event.fields, sheltered)
            if period.contains(when):
                tally.add("referred", member, when)
                if now_sheltered:
                    tally.add("shelter", member, when)
                elif sheltered:
                    tally.add("support.closed", member, when)
                    tally.add("shelter", member, when)  # in the shelter until it closed
            if period.before(when):
                at_start = now_sheltered
            if period.ended_by(when):
                at_end = now_sheltered
            sheltered = now_sheltered
        if at_start:  # a window opened before the period and still open when it began
            tally.add("shelter", member)
        if at_end:
            tally.add("support.open", member)


def case_parties(case: Case) -> set[str]:
    """Every agency that sent a notice of the case or was named as its recipient unit."""
    found: set[str] = set()
    for event in case.notices:
        found.add(event.sender_agency)
        recipient = event.header.get("recipient_unit")
        if isinstance(recipient, str):
            found.add(recipient)
    return found


def is_statistics_thread(case: Case) -> bool:
    """A 'case' made only of statistics notices (their required case_ref names the exchange)."""
    return all(event.type == "statistics" for event in case.notices)


def compute_statistics(
    cases: Iterable[Case], period: Period, *, agency: str | None = None
) -> StatisticsReport:
    """The period's figures from `cases` (as `derive_cases` gives them); with `agency`, only the
    cases that agency sent or was sent a notice of. docs/statistics.md defines each figure."""
    tally = _Tally(period)
    held: list[str] = []
    confirmed: set[str] = set()
    for case in cases:
        notices: Notices = {}
        for event in case.notices:
            notices.setdefault(event.type, []).append(event)
        if set(notices) <= {"statistics"}:
            continue  # the exchange of statistics itself (its notices need a case_ref)
        if agency is not None and agency not in case_parties(case):
            continue
        held.append(case.case_ref)
        _handovers(case, notices, period, tally)
        _self_returns(case, notices, period, tally)
        if _verification(case, notices, period, tally) == "confirmed":
            confirmed.add(case.case_ref)
        _referrals(case, notices, period, tally)
    for member, (when, person) in tally.received.items():
        if member[0] in confirmed:
            tally.add("identified", member, when)
        tally.add(f"received.sex.{_sex(person)}", member, when)
        band, estimated = age_band(person, period.local_date(when))
        tally.add(f"received.age.{band}", member, when)
        if estimated:
            tally.add("received.age.estimated", member, when)
    places = sorted(code for code in tally.members if code.startswith(PLACE_PREFIX))
    order = [*FIGURE_CODES[: FIGURE_CODES.index("self_returned")], *places]
    order += FIGURE_CODES[FIGURE_CODES.index("self_returned") :]
    figures = {code: Figure(code, frozenset(tally.members.get(code, ()))) for code in order}
    monthly: dict[str, dict[str, int]] = {}
    for code, by_member in tally.months.items():
        counts = dict.fromkeys(period.months, 0)
        for month in by_member.values():
            counts[month] = counts.get(month, 0) + 1
        monthly[code] = counts
    return StatisticsReport(
        period=period,
        agency=agency,
        figures=figures,
        monthly=monthly,
        held=tuple(held),
        boundary=dict(tally.boundary),
    )


def _sex(person: Mapping[str, Any]) -> str:
    sex = person.get("sex")
    return sex if sex in SEXES else "unknown"


# --- The statistics notice --------------------------------------------------------------------
@dataclass(frozen=True)
class StatedFigures:
    """What a statistics notice states: the period, figures by code, and (when it carries a
    statistics block) the cases it covers by tag with each case's profile."""

    period_start: date
    period_end: date
    figures: dict[str, int]
    zone: str | None = None
    coverage: dict[str, str] | None = None  # tag -> profile; None: the notice names no cases
    states: dict[str, str] = field(default_factory=dict)  # figure -> agreed|disputed (a reply)


def statistics_counts(report: StatisticsReport) -> dict[str, dict[str, int]]:
    """The notice's `counts` table: sex, age band and direction of return of the figures, and
    gate (the route persons travelled is not in the cases, so it stays empty)."""
    counts = {
        dimension: {category: report.count(code) for category, code in table.items()}
        for dimension, table in COUNTS_DIMENSIONS.items()
    }
    counts["gate"] = {
        code[len(PLACE_PREFIX) :]: f.count
        for code, f in report.figures.items()
        if code.startswith(PLACE_PREFIX) and f.count
    }
    return counts


def statistics_block(report: StatisticsReport, states: Mapping[str, str] | None = None) -> str:
    """The machine-readable block the notice's `discrepancies` text carries (the catalogue has
    no field for the cases covered or for the figures beyond `counts`; docs/statistics.md)."""
    lines = [f"{BLOCK_FORMAT} zone={report.period.zone}"]
    lines.append("figures " + " ".join(f"{c}={report.count(c)}" for c in BLOCK_FIGURES))
    for state in ("agreed", "disputed"):
        codes = [code for code, s in (states or {}).items() if s == state]
        if codes:
            lines.append(f"{state} " + " ".join(codes))
    tags = sorted(
        f"{report.case_tags[ref]}.{report.profile(ref)}" for ref in report.covered_cases()
    )
    lines.append("cases " + " ".join(tags))
    text = "\n".join(lines)
    if len(text) > BLOCK_MAX_CHARS:
        raise StatisticsError(
            "too_many_cases", cases=len(tags), limit=BLOCK_MAX_CHARS, chars=len(text)
        )
    return text


def statistics_fields(
    report: StatisticsReport,
    *,
    in_reply_to: str | None = None,
    reconciliation: str = "proposed",
    states: Mapping[str, str] | None = None,
    lang: str = "vi",
) -> dict[str, Any]:
    """The `fields` of a statistics notice stating `report`."""
    fields: dict[str, Any] = {
        "period_start": {"date": report.period.start.isoformat()},
        "period_end": {"date": report.period.end.isoformat()},
        "counts": statistics_counts(report),
        "reconciliation": reconciliation,
        "discrepancies": {"text": statistics_block(report, states), "lang": lang},
    }
    if in_reply_to is not None:
        fields = {"in_reply_to": in_reply_to, **fields}
    return fields


def period_reference(period: Period) -> str:
    """The case_ref a statistics exchange shares (the header needs one): one per period."""
    return f"STAT-{period.start.isoformat()}-{period.end.isoformat()}"


_CATEGORY_FIGURES = {
    (dimension, category): code
    for dimension, table in COUNTS_DIMENSIONS.items()
    for category, code in table.items()
}


def read_statistics(event: LoggedNotice) -> StatedFigures:
    """What a received statistics notice states; StatisticsError `not_statistics` otherwise."""
    if event.type != "statistics":
        raise StatisticsError(
            "not_statistics", message_id=event.message_id, type=event.type
        ) from None
    fields = event.fields
    try:
        start = parse_day(fields["period_start"]["date"])
        end = parse_day(fields["period_end"]["date"])
    except (KeyError, TypeError):
        raise StatisticsError(
            "not_statistics", message_id=event.message_id, type=event.type
        ) from None
    figures: dict[str, int] = {}
    counts = fields.get("counts")
    for dimension, table in (counts if isinstance(counts, Mapping) else {}).items():
        if not isinstance(table, Mapping):
            continue
        for category, count in table.items():
            if not isinstance(count, int) or isinstance(count, bool):
                continue
            if dimension == "gate":
                figures[PLACE_PREFIX + str(category)] = count
            elif (dimension, category) in _CATEGORY_FIGURES:
                figures[_CATEGORY_FIGURES[(dimension, category)]] = count
    zone: str | None = None
    coverage: dict[str, str] | None = None
    states: dict[str, str] = {}
    text = fields.get("discrepancies")
    body = text.get("text") if isinstance(text, Mapping) else None
    if isinstance(body, str) and body.startswith(BLOCK_FORMAT):
        zone, coverage, states = _parse_block(body, figures)
    return StatedFigures(start, end, figures, zone, coverage, states)


_FIGURE_VALUE = re.compile(r"^([a-z_.0-9+\-]{1,120})=([0-9]{1,7})$")
_COVERED = re.compile(rf"^([a-z2-7]{{8}})\.([a-z2-7]{{{len(FIGURE_GROUPS)}}})$")


def _parse_block(
    body: str, figures: dict[str, int]
) -> tuple[str | None, dict[str, str], dict[str, str]]:
    """Untrusted text: anything that does not parse is ignored, never guessed."""
    zone: str | None = None
    coverage: dict[str, str] = {}
    states: dict[str, str] = {}
    for number, line in enumerate(body.splitlines()):
        head, _sep, rest = line.partition(" ")
        words = rest.split()
        if number == 0:
            for word in words:
                if word.startswith("zone="):
                    zone = word[5:] if word[5:] in {*COUNTRY_ZONES.values(), "UTC"} else None
        elif head == "figures":
            for word in words:
                match = _FIGURE_VALUE.match(word)
                if match and match.group(1) in BLOCK_FIGURES:
                    figures[match.group(1)] = int(match.group(2))
        elif head in ("agreed", "disputed"):
            states.update(dict.fromkeys(words, head))
        elif head == "cases":
            for word in words:
                match = _COVERED.match(word)
                if match:
                    coverage[match.group(1)] = match.group(2)
    return zone, coverage, states


# --- Reconciliation ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FigureComparison:
    """One figure on both sides; the case lists say why they differ, as far as tags allow."""

    code: str
    ours: int
    theirs: int | None  # None: the counterpart's notice does not state this figure
    only_ours: tuple[str, ...] = ()  # our cases in this figure the counterpart does not count
    # Cases both count but whose counting differs within this figure's group of figures (the
    # counterpart's categories are not in its notice: these are where to look).
    different: tuple[str, ...] = ()

    @property
    def state(self) -> str:
        """`agreed`, `disputed`, or `proposed` (not stated: still to reconcile)."""
        if self.theirs is None:
            return "proposed"
        return "agreed" if self.theirs == self.ours else "disputed"


@dataclass(frozen=True)
class Reconciliation:
    """Our figures against a counterpart's statistics notice for the same period."""

    message_id: str
    counterpart: str
    stated: StatedFigures
    figures: tuple[FigureComparison, ...]
    only_ours: tuple[str, ...]  # cases we count that their notice does not cover
    only_theirs_held: tuple[str, ...]  # cases we hold, do not count, and they cover
    only_theirs_unknown: tuple[str, ...]  # their tags that match no case on this device
    different: tuple[str, ...]  # cases both count with a different profile
    boundary: tuple[str, ...]  # our only-ours cases the counterpart's zone puts outside
    coverage_known: bool

    @property
    def agreed(self) -> bool:
        return all(f.state == "agreed" for f in self.figures)

    def states(self) -> dict[str, str]:
        return {f.code: f.state for f in self.figures}


def reconcile(report: StatisticsReport, event: LoggedNotice) -> Reconciliation:
    """Set `report` beside the counterpart's statistics notice `event`, figure by figure."""
    stated = read_statistics(event)
    if (stated.period_start, stated.period_end) != (report.period.start, report.period.end):
        raise StatisticsError(
            "period_mismatch",
            theirs=f"{stated.period_start}/{stated.period_end}",
            ours=f"{report.period.start}/{report.period.end}",
        )
    coverage = stated.coverage
    by_tag = {tag: ref for ref, tag in report.case_tags.items()}
    covered = set(report.covered_cases())
    only_ours: set[str] = set()
    different: dict[str, set[int]] = {}  # case -> the figure groups the two sides count apart
    held: set[str] = set()
    unknown: list[str] = []
    if coverage is not None:
        for ref in covered:
            theirs = coverage.get(report.case_tags[ref])
            if theirs is None:
                only_ours.add(ref)
            elif theirs != report.profile(ref):
                ours = report.profile(ref)
                different[ref] = {
                    i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b
                }
        for tag in coverage:
            held_ref = by_tag.get(tag)
            if held_ref is None:
                unknown.append(tag)
            elif held_ref not in covered:
                held.add(held_ref)
    codes = list(report.figures)
    codes += sorted(c for c in stated.figures if c not in report.figures)
    comparisons = []
    for code in codes:
        group = figure_group(code) if code.startswith(PREFIXES) else -1
        ours = report.figures.get(code)
        refs = set(ours.cases()) if ours is not None else set()
        comparisons.append(
            FigureComparison(
                code=code,
                ours=ours.count if ours is not None else 0,
                theirs=stated.figures.get(code),
                only_ours=tuple(sorted(refs & only_ours)),
                different=tuple(
                    sorted(ref for ref, groups in different.items() if group in groups)
                ),
            )
        )
    other_zone = stated.zone or report.period.zone
    boundary = tuple(
        sorted(
            ref
            for ref in only_ours
            if ref in report.boundary
            and report.period.near_boundary(report.boundary[ref], other_zone)
        )
    )
    return Reconciliation(
        message_id=event.message_id,
        counterpart=event.sender_agency,
        stated=stated,
        figures=tuple(comparisons),
        only_ours=tuple(sorted(only_ours)),
        only_theirs_held=tuple(sorted(held)),
        only_theirs_unknown=tuple(sorted(unknown)),
        different=tuple(sorted(different)),
        boundary=boundary,
        coverage_known=coverage is not None,
    )
