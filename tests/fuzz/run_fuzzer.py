"""Run one harness under atheris (libFuzzer) for a bounded time: a subprocess of its own, since
libFuzzer takes over the process and exits it on the first crash.

    python -m tests.fuzz.run_fuzzer PARSER SECONDS WORK_DIR

Starts from the committed seed corpus (tests/fuzz/corpus/PARSER), writes what it learns to
WORK_DIR/corpus (never to the committed one) and a crashing input to WORK_DIR/crash-*.
Exit status 0: no crash in SECONDS.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

CORPUS = Path(__file__).resolve().parent / "corpus"

with atheris.instrument_imports(include=["crypto", "liaison.domain"]):
    from tests.fuzz.harnesses import HARNESSES


def main(argv: list[str]) -> None:
    parser, seconds, work = argv[1], int(argv[2]), Path(argv[3])
    harness = HARNESSES[parser]
    learned = work / "corpus"
    learned.mkdir(parents=True, exist_ok=True)
    atheris.Setup(
        [
            argv[0],
            str(learned),
            str(CORPUS / parser),
            f"-max_total_time={seconds}",
            f"-artifact_prefix={work}/",
            "-max_len=65536",
            "-rss_limit_mb=1024",
            "-print_final_stats=1",
        ],
        harness,
    )
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
