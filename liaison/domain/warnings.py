"""Scheduling warnings for a handover slot: stable codes and the values their messages need."""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from liaison.domain.case_events import Slot, country_side
from liaison.domain.cases import Case, VerificationStatus
from liaison.domain.handover import DEFAULT_HANDOVER_DURATION, Escort, Handover, parse_place
from liaison.domain.messages import N_, Message
from liaison.domain.places import gate_pair


class WarningCode(enum.Enum):
    OUTSIDE_OPENING_HOURS = "outside_opening_hours"
    SLOT_IN_PAST = "slot_in_past"
    ESCORT_DOUBLE_BOOKED = "escort_double_booked"
    VERIFICATION_NOT_CONFIRMED = "verification_not_confirmed"


_MESSAGES = {
    WarningCode.OUTSIDE_OPENING_HOURS: N_(
        "{local_time} is outside the known opening hours of {gate} ({opens}–{closes}, {zone})."
    ),
    WarningCode.SLOT_IN_PAST: N_("The slot {time} is in the past."),
    WarningCode.ESCORT_DOUBLE_BOOKED: N_(
        "Escort officer {escort} is also booked for a handover of case {case} at {time}."
    ),
    WarningCode.VERIFICATION_NOT_CONFIRMED: N_(
        "The verification of case {case} is not confirmed ({status})."
    ),
}

VERIFICATION_LABELS = {
    VerificationStatus.NONE: N_("not requested"),
    VerificationStatus.REQUESTED: N_("requested, no result yet"),
    VerificationStatus.PENDING: N_("pending"),
    VerificationStatus.CONFIRMED: N_("confirmed"),
    VerificationStatus.NOT_CONFIRMED: N_("not confirmed"),
}


@dataclass(frozen=True, slots=True)
class GateOpening:
    """Known opening hours of one side's crossing of a gate pair, on that side's clock."""

    names: Mapping[str, str]  # the crossing's name by language ("vi", "zh", "en")
    zone: str
    opens: time
    closes: time  # before `opens` when the crossing stays open past midnight

    def is_open(self, moment: datetime) -> bool:
        """Whether `moment` (any zone) falls within the hours, read on this side's clock."""
        wall = moment.astimezone(ZoneInfo(self.zone)).time().replace(tzinfo=None)
        if self.opens <= self.closes:
            return self.opens <= wall < self.closes
        return wall >= self.opens or wall < self.closes


# Known opening hours of every side of a gate pair; empty when no source gave them.
GateHours = Callable[[str], Sequence[GateOpening]]


def known_gate_hours(gate_id: str) -> list[GateOpening]:
    """The opening hours that liaison/data/gates.json knows for each side of a gate pair."""
    pair = gate_pair(gate_id)
    if pair is None:
        return []
    return [
        GateOpening(dict(side.names), side.tz, side.hours.open, side.hours.close)
        for side in (pair.vn, pair.cn)
        if side.hours is not None
    ]


@dataclass(frozen=True, slots=True)
class SchedulingWarning:
    """One warning: a stable code and the values its message needs."""

    code: WarningCode
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> Message:
        """The warning for the officer (`liaison.i18n.translate` puts it in a language); the
        gate's names stay a mapping by language, picked there, not translated."""
        params = dict(self.params)
        status = params.get("status")
        if isinstance(status, VerificationStatus):
            params["status"] = Message(VERIFICATION_LABELS[status])
        return Message(_MESSAGES[self.code], params)


# The two border zones by the words an officer reads (catalogue entries); the IANA id stays in
# the data and in --json, never in printed text.
ZONE_WORDS = {"Asia/Ho_Chi_Minh": N_("Vietnam time"), "Asia/Shanghai": N_("Beijing time")}


def format_moment(moment: datetime) -> str:
    """An unambiguous wall-clock time with its UTC offset: ISO date, 24-hour clock
    ("2026-12-03 20:30 UTC+8"; neither border zone has daylight saving)."""
    offset = moment.utcoffset()
    hours = int(offset.total_seconds() // 3600) if offset is not None else 0
    minutes = int(offset.total_seconds() % 3600 // 60) if offset is not None else 0
    sign = "+" if hours >= 0 else "-"
    suffix = f"UTC{sign}{abs(hours)}" + (f":{minutes:02d}" if minutes else "")
    return f"{moment:%Y-%m-%d %H:%M} {suffix}"


def zone_word(zone: str) -> Message | str:
    """A border zone as the officer reads it (a message, translated at the edge)."""
    return Message(ZONE_WORDS[zone]) if zone in ZONE_WORDS else zone


def slot_warnings(
    slot: Slot,
    place: Mapping[str, Any],
    *,
    now: int,
    gate_hours: GateHours | None = known_gate_hours,
) -> list[SchedulingWarning]:
    """Warnings that depend on the slot and place alone: in the past, gate closed.

    `gate_hours` defaults to the packaged gate data; None skips the opening-hours check.
    """
    warnings = []
    if slot.timestamp < now:
        warnings.append(
            SchedulingWarning(WarningCode.SLOT_IN_PAST, {"time": format_moment(slot.local())})
        )
    gate_id = place.get("gate") if place.get("kind") == "gate" else None
    if gate_hours is not None and isinstance(gate_id, str):
        for opening in gate_hours(gate_id):
            if not opening.is_open(slot.utc):
                warnings.append(
                    SchedulingWarning(
                        WarningCode.OUTSIDE_OPENING_HOURS,
                        {
                            "local_time": format_moment(slot.local(opening.zone)),
                            "gate": opening.names,
                            "opens": f"{opening.opens:%H:%M}",
                            "closes": f"{opening.closes:%H:%M}",
                            "zone": zone_word(opening.zone),
                        },
                    )
                )
    return warnings


def _escort_key(name: str) -> str:
    folded = unicodedata.normalize("NFC", name).casefold()
    return " ".join(folded.split())


def same_escort(a: Escort, b: Escort) -> bool:
    """Same officer: equal officer ids when both have one, else the same name."""
    if a.officer_id and b.officer_id:
        return a.officer_id == b.officer_id
    return _escort_key(a.name) == _escort_key(b.name)


def _booking_warnings(
    slot: Slot,
    escorts: Iterable[Escort],
    cases: Iterable[Case],
    *,
    exclude_handover: str | None,
    duration: timedelta,
) -> list[SchedulingWarning]:
    warnings = []
    start, end = slot.utc, slot.utc + duration
    for case in cases:
        for other in case.handovers.values():
            if other.handover_id == exclude_handover or not other.active:
                continue
            other_start = other.slot.utc
            if not (start < other_start + duration and other_start < end):
                continue
            for escort in escorts:
                if any(same_escort(escort, booked) for booked in other.escorts):
                    warnings.append(
                        SchedulingWarning(
                            WarningCode.ESCORT_DOUBLE_BOOKED,
                            {
                                "escort": escort.name,
                                "case": case.case_ref,
                                "handover_id": other.handover_id,
                                "time": format_moment(other.slot.local()),
                            },
                        )
                    )
    return warnings


def _verification_warnings(case: Case | None, case_ref: str) -> list[SchedulingWarning]:
    status = case.verification.status if case is not None else VerificationStatus.NONE
    if status is VerificationStatus.CONFIRMED:
        return []
    return [
        SchedulingWarning(
            WarningCode.VERIFICATION_NOT_CONFIRMED, {"case": case_ref, "status": status}
        )
    ]


def warnings_for_proposal(
    fields: Mapping[str, Any],
    *,
    case_ref: str,
    cases: Mapping[str, Case],
    now: int,
    sender_agency: str | None = None,
    gate_hours: GateHours | None = known_gate_hours,
    exclude_handover: str | None = None,
    duration: timedelta = DEFAULT_HANDOVER_DURATION,
) -> list[SchedulingWarning]:
    """Warnings for a handover_proposal's fields about to be sent for `case_ref`.

    Raises `MalformedValue` when `fields` has no readable slot or place (validate first).
    `exclude_handover` leaves one handover out of the double-booking check: the one a counter
    or reschedule is about.
    """
    slot = Slot.from_notice(fields.get("slot"))
    place = parse_place(fields.get("place"))
    side = country_side(sender_agency) if sender_agency else ""
    escorts = [
        Escort(item["name"], item.get("officer_id"), side)
        for item in fields.get("escorts", ())
        if isinstance(item, Mapping) and isinstance(item.get("name"), str)
    ]
    return [
        *slot_warnings(slot, place, now=now, gate_hours=gate_hours),
        *_booking_warnings(
            slot, escorts, cases.values(), exclude_handover=exclude_handover, duration=duration
        ),
        *_verification_warnings(cases.get(case_ref), case_ref),
    ]


def warnings_for_handover(
    handover: Handover,
    *,
    cases: Mapping[str, Case],
    now: int,
    gate_hours: GateHours | None = known_gate_hours,
    duration: timedelta = DEFAULT_HANDOVER_DURATION,
) -> list[SchedulingWarning]:
    """Warnings for a derived handover's current slot (shown in `case show` and the agenda)."""
    if not handover.active:
        return []
    return [
        *slot_warnings(handover.slot, handover.place, now=now, gate_hours=gate_hours),
        *_booking_warnings(
            handover.slot,
            handover.escorts,
            cases.values(),
            exclude_handover=handover.handover_id,
            duration=duration,
        ),
        *_verification_warnings(cases.get(handover.case_ref), handover.case_ref),
    ]
