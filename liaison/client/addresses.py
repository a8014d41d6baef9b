"""Recipient addresses as officers type them: `CODE` (a whole agency) or `CODE/OFFICER`."""

from __future__ import annotations

from dataclasses import dataclass

from crypto.errors import CryptoError
from crypto.keys import validate_agency_code, validate_officer_id
from liaison.client.errors import BadInput
from liaison.i18n import _


@dataclass(frozen=True)
class Address:
    """`CODE` (every officer of an agency) or `CODE/OFFICER` (one officer, all their devices)."""

    agency: str
    officer_id: str | None = None

    @classmethod
    def parse(cls, text: str) -> Address:
        agency, _sep, officer_id = text.strip().partition("/")
        try:
            validate_agency_code(agency)
            if officer_id:
                validate_officer_id(officer_id)
        except CryptoError as exc:
            raise BadInput(
                _("{value} is not an address: give CODE or CODE/OFFICER.").format(value=text)
            ) from exc
        return cls(agency, officer_id or None)

    def __str__(self) -> str:
        return f"{self.agency}/{self.officer_id}" if self.officer_id else self.agency
