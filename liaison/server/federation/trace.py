"""Stage timestamps of forwarded envelopes, for bench/federation.py only.

Off unless LIAISON_FEDERATION_TRACE names a file when the relay starts: then each stage of an
envelope's way across the border appends `message_id stage seconds` (time.perf_counter, which
is CLOCK_MONOTONIC on Linux and so comparable between the two relay processes of one host).
Full garbage collections are noted too (`- gc_full seconds`). Nothing goes to the relay's log,
and the hot path pays one `is None` test when tracing is off.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterable
from typing import TextIO

TRACE_ENV = "LIAISON_FEDERATION_TRACE"

_file: TextIO | None = None
if os.environ.get(TRACE_ENV):
    # Line-buffered: the bench reads the file while (or after) the relay is stopped.
    _file = open(os.environ[TRACE_ENV], "a", buffering=1, encoding="ascii")  # noqa: SIM115


def mark(stage: str, message_ids: Iterable[str], at: float | None = None) -> None:
    """Note that `message_ids` reached `stage` now, or at `at` (no-op unless tracing)."""
    if _file is None:
        return
    at = time.perf_counter() if at is None else at
    _file.write("".join(f"{m} {stage} {at:.6f}\n" for m in message_ids))


_collecting: list[float] = []


def _collection(phase: str, info: dict[str, int]) -> None:
    """gc callback: each full collection's duration, a stall for everything in flight."""
    if info.get("generation") != 2 or _file is None:
        return
    if phase == "start":
        _collecting[:] = [time.perf_counter()]
    elif _collecting:
        took = time.perf_counter() - _collecting.pop()
        _file.write(f"- gc_full {took:.6f}\n")


if _file is not None:
    gc.callbacks.append(_collection)


def now() -> float | None:
    """A timestamp to pass to a later `mark` (None, and free, unless tracing)."""
    return None if _file is None else time.perf_counter()
