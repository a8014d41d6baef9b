"""Liaison client layer; `OfficerSession` (client/session.py) is the facade over it.

Kept light: the command line imports `liaison.client.errors` and `liaison.client.home` on every
call, so the facade (which imports the whole client) loads only when it is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from liaison.client.session import OfficerSession

__all__ = ["OfficerSession"]


def __getattr__(name: str) -> Any:
    if name == "OfficerSession":
        from liaison.client.session import OfficerSession

        return OfficerSession
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
