"""The agencies catalogue (codes and names in vi/zh/en) from liaison/data/agencies.json."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

from liaison.domain._data import load

# COUNTRY-PROVINCE-AGENCY[-UNIT]: the country prefix lets servers of two countries federate later.
AGENCY_CODE = re.compile(r"^[A-Z]{2,3}(-[A-Z0-9]{1,12}){1,4}$")


@dataclass(frozen=True)
class Agency:
    code: str
    country: str
    names: Mapping[str, str]
    unverified: frozenset[str]
    # Where the agency writes from: the place of a letter's place-and-date line.
    seat: Mapping[str, str] = field(default_factory=dict)

    def name(self, language: str) -> str:
        return self.names.get(language[:2]) or self.names.get("en") or self.code

    def seat_name(self, language: str) -> str:
        return self.seat.get(language[:2]) or self.seat.get("vi", "")

    def name_verified(self, language: str) -> bool:
        return language[:2] not in self.unverified


@cache
def agencies() -> dict[str, Agency]:
    """Every agency of the data file, by code, in file order."""
    return {
        raw["code"]: Agency(
            raw["code"],
            raw["country"],
            dict(raw["names"]),
            frozenset(raw.get("unverified", ())),
            dict(raw.get("seat", {})),
        )
        for raw in load("agencies")["agencies"]
    }


def agency(code: str) -> Agency | None:
    """The catalogue entry for `code`; None for a well-formed code this catalogue lacks."""
    return agencies().get(code)


@cache
def reason_codes() -> dict[str, Mapping[str, str]]:
    """Reschedule/cancellation reason codes and their names by language, from the data file."""
    return {raw["code"]: dict(raw["names"]) for raw in load("reason_codes")["reason_codes"]}
