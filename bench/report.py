"""Statistics report benchmark: the quarter's figures over 10,000 cases held on one device.

Run from the project root: `.venv/bin/python -m bench.report [--cases N] [--runs R]`. Prints
the median of R runs of each stage in seconds (target: the report itself, figures with their
case lists, under 1 s for 10,000 cases). The cases come from tests/report/history.py, a year
of handovers, self-returns, verifications and referrals; `run()` returns the figures.

Stages: `derive` replays the notices into cases (what every case command does on the
device), `report` computes the figures from the cases, `render` prints the bilingual table,
`notice_and_compare` computes the quarter on a device of 250 cases, builds its statistics
notice and reconciles a counterpart's (a notice names a few hundred cases at most).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not __package__:
    # Run as a file, bench/ is sys.path[0] and bench/crypto.py would shadow the crypto package.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from liaison.domain.case_events import LoggedNotice  # noqa: E402
from liaison.domain.cases import derive_cases  # noqa: E402
from liaison.domain.statistics import (  # noqa: E402
    Period,
    compute_statistics,
    reconcile,
    statistics_fields,
)
from liaison.i18n.report import render_report_text  # noqa: E402
from tests.report.history import History, countersignature_check  # noqa: E402

DEFAULT_CASES = 10_000
DEFAULT_RUNS = 5
QUARTER = Period(date(2026, 10, 1), date(2026, 12, 31), "Asia/Ho_Chi_Minh")
# A statistics notice names every case it covers in one text field (docs/statistics.md), a few
# hundred at most: the notice stage runs on a device of one agency's year, not on 10,000 cases.
NOTICE_CASES = 250


def _median(runs: int, stage: Callable[[], Any]) -> tuple[float, float, Any]:
    """Median wall-clock and CPU seconds of `runs` calls (CPU time shows a shared machine's
    load: the wall clock waits for the other processes, the CPU time does not)."""
    wall, cpu, result = [], [], None
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = stage()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu), result


def run(cases: int = DEFAULT_CASES, runs: int = DEFAULT_RUNS) -> dict[str, float]:
    history = History(seed=2026).build(cases)
    events = history.logged()
    figures: dict[str, float] = {"cases": cases, "notices": len(events)}
    figures["derive_s"], figures["derive_cpu_s"], derived = _median(
        runs, lambda: derive_cases(events, verify_countersignature=countersignature_check)
    )
    figures["report_s"], figures["report_cpu_s"], report = _median(
        runs, lambda: compute_statistics(derived.values(), QUARTER)
    )
    figures["render_s"], figures["render_cpu_s"], _text = _median(
        runs, lambda: render_report_text(report, ("vi", "zh"))
    )

    small = History(seed=2027).build(NOTICE_CASES).logged()
    small_cases = derive_cases(small, verify_countersignature=countersignature_check)
    notice = {
        "type": "statistics",
        "header": {"case_ref": "STAT", "sender_unit": "VN-QN-BP", "recipient_unit": "VN-QN-CA"},
        "fields": statistics_fields(compute_statistics(small_cases.values(), QUARTER)),
    }
    counterpart = LoggedNotice(0, "bench-statistics", "VN-QN-BP:x:y", "VN-QN-BP", "x", 0, notice)

    def notice_and_compare() -> Any:
        fresh = compute_statistics(small_cases.values(), QUARTER)
        statistics_fields(fresh)
        return reconcile(fresh, counterpart)

    figures["notice_and_compare_s"], figures["notice_and_compare_cpu_s"], _result = _median(
        runs, notice_and_compare
    )
    figures["received"] = report.count("received")
    figures["covered_cases"] = len(report.covered_cases())
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=DEFAULT_CASES, help="cases on the device")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="runs per stage")
    args = parser.parse_args(argv)
    figures = run(args.cases, args.runs)
    print(
        f"{figures['cases']:.0f} cases, {figures['notices']:.0f} notices; quarter "
        f"{QUARTER.start}..{QUARTER.end}: {figures['received']:.0f} persons received, "
        f"{figures['covered_cases']:.0f} cases counted (median of {args.runs} runs)"
    )
    for stage in ("derive_s", "report_s", "render_s", "notice_and_compare_s"):
        cpu = figures[stage[:-2] + "_cpu_s"]
        print(f"  {stage[:-2]:<20} {figures[stage]:.3f} s  (CPU {cpu:.3f} s)")
    print(f"  (notice_and_compare on {NOTICE_CASES} cases)")
    load = os.getloadavg()[0]
    print(
        f"  report target < 1 s: wall {'met' if figures['report_s'] < 1 else 'NOT met'}, "
        f"CPU {'met' if figures['report_cpu_s'] < 1 else 'NOT met'} "
        f"(load average {load:.1f} on {os.cpu_count()} CPUs: the wall clock includes waiting)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
