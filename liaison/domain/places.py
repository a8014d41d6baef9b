"""Border gate pairs and places (gate, border marker, named point) from liaison/data/gates.json."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from functools import cache

from liaison.domain._data import load

VN_ZONE = "Asia/Ho_Chi_Minh"
CN_ZONE = "Asia/Shanghai"
SIDES = ("vn", "cn")


@dataclass(frozen=True)
class OpeningHours:
    open: time
    close: time


@dataclass(frozen=True)
class GateSide:
    """One side's crossing of a gate pair: names by language, province, zone, known hours."""

    names: Mapping[str, str]
    unverified: frozenset[str]
    province: Mapping[str, str]
    tz: str
    hours: OpeningHours | None

    def name(self, language: str) -> str:
        lang = language[:2]
        return self.names.get(lang) or self.names["en"]

    def name_verified(self, language: str) -> bool:
        return language[:2] not in self.unverified


@dataclass(frozen=True)
class GatePair:
    id: str
    status: str
    vn: GateSide
    cn: GateSide

    def side(self, side: str) -> GateSide:
        return self.vn if side == "vn" else self.cn


def _hours(raw: Mapping[str, str] | None) -> OpeningHours | None:
    if raw is None:
        return None
    return OpeningHours(time.fromisoformat(raw["open"]), time.fromisoformat(raw["close"]))


def _side(raw: Mapping[str, object]) -> GateSide:
    return GateSide(
        names=dict(raw["names"]),  # type: ignore[call-overload]
        unverified=frozenset(raw.get("unverified", ())),  # type: ignore[call-overload]
        province=dict(raw["province"]),  # type: ignore[call-overload]
        tz=str(raw["tz"]),
        hours=_hours(raw.get("hours")),  # type: ignore[arg-type]
    )


@cache
def gate_pairs() -> dict[str, GatePair]:
    """Every gate pair of the data file, by id, in file order."""
    return {
        raw["id"]: GatePair(raw["id"], raw.get("status", ""), _side(raw["vn"]), _side(raw["cn"]))
        for raw in load("gates")["gate_pairs"]
    }


def gate_pair(gate_id: str) -> GatePair | None:
    return gate_pairs().get(gate_id)


@dataclass(frozen=True)
class NamedPoint:
    """A handover point that is not a gate pair (a bridge management line), from
    liaison/data/named_points.json: named in each language like a gate, with its gate pair."""

    id: str
    kind: str
    gate_pair: str | None
    names: Mapping[str, str]
    unverified: frozenset[str]
    coordinates: tuple[float, float] | None

    def name(self, language: str) -> str:
        return self.names.get(language[:2]) or self.names["en"]

    def name_verified(self, language: str) -> bool:
        return language[:2] not in self.unverified


def _coordinates(raw: object) -> tuple[float, float] | None:
    if not isinstance(raw, Mapping):
        return None
    return float(raw["lat"]), float(raw["lon"])


@cache
def named_points() -> dict[str, NamedPoint]:
    """Every named point of the data file, by id, in file order."""
    return {
        raw["id"]: NamedPoint(
            id=raw["id"],
            kind=str(raw.get("kind", "")),
            gate_pair=raw.get("gate_pair"),
            names=dict(raw["names"]),
            unverified=frozenset(raw.get("unverified", ())),
            coordinates=_coordinates(raw.get("coordinates")),
        )
        for raw in load("named_points")["named_points"]
    }


def named_point(point_id: str) -> NamedPoint | None:
    return named_points().get(point_id)
