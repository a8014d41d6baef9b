"""Start-up cost of the `liaison` command line: wall time and imports of a few cheap calls.

Run: `.venv/bin/python bench/cli_startup.py [--runs N]`. For each command line it prints the
fastest and the median wall time of `python -m liaison ...` over N runs (a fresh interpreter
each time, as an officer's shell starts it), then, from one `-X importtime` run, the number of
modules imported, their summed import time, and which heavy libraries were loaded at all.
Commands are chosen to need no home folder, network or passphrase.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

COMMAND_LINES = (
    ("--help",),
    ("inbox", "--help"),
    ("handover", "propose", "--help"),
    ("notice", "types"),
)
HEAVY = ("aiohttp", "nacl", "sqlalchemy", "icalendar", "jsonschema", "liaison.client.transport")


def wall_times(argv: tuple[str, ...], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "liaison", *argv],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "LIAISON_LANG": "en"},
        )
        times.append(time.perf_counter() - start)
    return times


def imports(argv: tuple[str, ...]) -> tuple[int, float, list[str]]:
    """(modules imported, summed top-level import time in seconds, heavy libraries loaded)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "liaison", *argv],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LIAISON_LANG": "en"},
    )
    names: list[str] = []
    total_us = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _self, cumulative, name = line.removeprefix("import time:").split("|")
        if not cumulative.strip().isdigit():
            continue  # the header line
        names.append(name.strip())
        if not name.startswith("  "):  # a top-level import: its cumulative time counts once
            total_us += int(cumulative)
    heavy = [h for h in HEAVY if h in names]
    return len(names), total_us / 1e6, heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    print(f"python -m liaison, {runs} runs each (fresh interpreter every run)")
    for argv in COMMAND_LINES:
        times = wall_times(argv, runs)
        count, total, heavy = imports(argv)
        print(
            f"  liaison {' '.join(argv):<28} min {min(times):.3f} s  "
            f"median {statistics.median(times):.3f} s  {count} modules, imports {total:.3f} s; "
            f"heavy: {', '.join(heavy) or 'none'}"
        )


if __name__ == "__main__":
    main()
