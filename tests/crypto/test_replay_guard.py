"""The replay guard refuses repeated message ids and counters that do not advance."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from crypto.errors import MalformedError, ReplayError
from crypto.replay import ReplayGuard

A = "VN-QN-CA:alice:laptop"
B = "CN-GX-FCG:chen:laptop"


@dataclass
class H:
    message_id: str
    sender_device: str
    counter: int


def mid(n: int) -> str:
    return f"{n:032x}"


def test_repeat_and_regression_are_refused_per_sender_device():
    guard = ReplayGuard()
    guard.record(H(mid(1), A, 5))
    with pytest.raises(ReplayError):
        guard.check(H(mid(1), B, 1))  # same message id from anywhere
    with pytest.raises(ReplayError):
        guard.check(H(mid(2), A, 5))
    with pytest.raises(ReplayError):
        guard.check(H(mid(2), A, 4))
    guard.check(H(mid(2), B, 1))  # other sender device has its own counter
    guard.record(H(mid(3), A, 6))
    assert guard.last_counter(A) == 6


def test_record_itself_refuses_a_replay():
    guard = ReplayGuard()
    guard.record(H(mid(1), A, 1))
    with pytest.raises(ReplayError):
        guard.record(H(mid(1), A, 2))


def test_state_survives_serialisation():
    guard = ReplayGuard()
    guard.record(H(mid(1), A, 3))
    restored = ReplayGuard.from_dict(guard.to_dict())
    with pytest.raises(ReplayError):
        restored.check(H(mid(1), B, 1))
    with pytest.raises(ReplayError):
        restored.check(H(mid(2), A, 3))


@pytest.mark.parametrize(
    "state",
    [
        {"version": 2, "counters": {}, "seen": []},
        {"version": 1, "counters": {"nope": 1}, "seen": []},
        {"version": 1, "counters": {A: -1}, "seen": []},
        {"version": 1, "counters": {}, "seen": ["XYZ"]},
    ],
)
def test_corrupt_state_is_malformed(state):
    with pytest.raises(MalformedError):
        ReplayGuard.from_dict(state)
