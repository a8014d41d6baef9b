"""iCalendar (RFC 5545) export of handovers: one VEVENT each, stable UID, growing SEQUENCE."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from icalendar import Calendar, Event

from liaison.domain.agenda import local_times
from liaison.domain.case_events import BORDER_ZONES
from liaison.domain.handover import DEFAULT_HANDOVER_DURATION, Handover, HandoverState
from liaison.domain.places import gate_pair
from liaison.domain.warnings import format_moment
from liaison.i18n import N_, gettext_for, translate

PRODID = "-//Liaison//Handover calendar 1//EN"
# The UID must not change when a handover is moved, so it is built from the handover's
# identity (its first proposal's message id) and nothing that a reschedule can alter.
UID_DOMAIN = "handover.liaison"

PlaceLabel = Callable[[Mapping[str, Any]], str]

_STATUS = {
    HandoverState.PROPOSED: "TENTATIVE",
    HandoverState.COUNTERED: "TENTATIVE",
    HandoverState.RESCHEDULED: "TENTATIVE",
    HandoverState.CONFIRMED: "CONFIRMED",
    HandoverState.RECORDED: "CONFIRMED",
    HandoverState.COMPLETED: "CONFIRMED",
    HandoverState.CANCELLED: "CANCELLED",
}


def handover_uid(handover_id: str) -> str:
    return f"{handover_id}@{UID_DOMAIN}"


def default_place_label(place: Mapping[str, Any], language: str) -> str:
    """A place as a short line of text in `language` (gate names, marker number, point name)."""
    kind = place.get("kind")
    if kind == "gate":
        gate_id = str(place.get("gate", ""))
        pair = gate_pair(gate_id)
        if pair is None:
            return gate_id
        return f"{pair.vn.name(language)} – {pair.cn.name(language)}"
    if kind == "marker":
        return gettext_for(language, N_("Border marker {number}")).format(
            number=place.get("number", "")
        )
    name = place.get("name")
    if isinstance(name, Mapping):
        return str(name.get("text", ""))
    return str(name or "")


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def handover_event(
    handover: Handover,
    *,
    now: int,
    language: str,
    zone: str | None = None,
    duration: timedelta = DEFAULT_HANDOVER_DURATION,
    place_label: PlaceLabel | None = None,
) -> Event:
    """The VEVENT of `handover` with its text in `language`, its start on the wall clock of
    `zone` (default: the zone the slot was entered in); `place_label` defaults to
    `default_place_label` in `language`. Persons' names never go into the event: calendars
    get synced to services outside the officer's control."""
    start = handover.slot.local(zone)
    if place_label is None:
        location = default_place_label(handover.place, language)
    else:
        location = place_label(handover.place)
    event = Event()
    event.add("uid", handover_uid(handover.handover_id))
    event.add("sequence", handover.sequence)
    event.add("dtstamp", _utc(now))
    event.add("dtstart", start)
    event.add("dtend", start + duration)
    event.add("status", _STATUS[handover.state])
    summary = gettext_for(language, N_("Handover, case {case_ref}"))
    event.add("summary", summary.format(case_ref=handover.case_ref))
    if location:
        event.add("location", location)
    lines = [translate(handover.state.message, language)]
    lines += [format_moment(moment) for _zone, moment in local_times(handover.slot, BORDER_ZONES)]
    persons = gettext_for(language, N_("Persons: {count}"))
    lines.append(persons.format(count=len(handover.persons)))
    event.add("description", "\n".join(lines))
    effective = [entry for entry in handover.timeline if entry.effective]
    event.add("created", _utc(handover.timeline[0].sent_at))
    event.add("last-modified", _utc(effective[-1].sent_at))
    place = handover.place
    lat, lon = place.get("lat"), place.get("lon")
    coordinates = isinstance(lat, float | int) and isinstance(lon, float | int)
    if place.get("kind") == "point" and coordinates:
        event.add("geo", (float(lat), float(lon)))  # type: ignore[arg-type]
    return event


def _calendar(events: Iterable[Event]) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    latest = 2037
    for event in events:
        calendar.add_component(event)
        latest = max(latest, event.decoded("dtstart").year)
    # VTIMEZONE components built from the zone database, covering every event's year.
    calendar.add_missing_timezones(first_date=date(1970, 1, 1), last_date=date(latest + 1, 1, 1))
    return bytes(calendar.to_ical())


def handover_to_ics(
    handover: Handover,
    *,
    now: int,
    language: str,
    zone: str | None = None,
    duration: timedelta = DEFAULT_HANDOVER_DURATION,
    place_label: PlaceLabel | None = None,
) -> bytes:
    """A calendar file holding one handover; re-export after every change keeps its UID."""
    return _calendar(
        [
            handover_event(
                handover,
                now=now,
                language=language,
                zone=zone,
                duration=duration,
                place_label=place_label,
            )
        ]
    )


def agenda_to_ics(
    handovers: Iterable[Handover],
    *,
    now: int,
    language: str,
    zone: str | None = None,
    duration: timedelta = DEFAULT_HANDOVER_DURATION,
    place_label: PlaceLabel | None = None,
) -> bytes:
    """A calendar file of several handovers (cancelled ones too, so calendars drop them)."""
    return _calendar(
        handover_event(
            handover,
            now=now,
            language=language,
            zone=zone,
            duration=duration,
            place_label=place_label,
        )
        for handover in handovers
    )
