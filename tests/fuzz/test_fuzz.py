"""The parsers under coverage-guided fuzzing, and every input in the committed corpus as a
regression test (issue 14, section 4).

LIAISON_FUZZ_SECONDS is the fuzzing budget of the whole run, shared by the harnesses (default 20;
0 skips the fuzzing, never the corpus). A crash fails the test with the input's path: copy it to
tests/fuzz/corpus/PARSER/crash-NAME, fix the parser, and it stays a regression test.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.e2e_relay import PROJECT_ROOT
from tests.fuzz.harnesses import HARNESSES

CORPUS = Path(__file__).resolve().parent / "corpus"
BUDGET_SECONDS = int(os.environ.get("LIAISON_FUZZ_SECONDS", "20"))


def _corpus() -> list[tuple[str, Path]]:
    return [(parser, path) for parser in HARNESSES for path in sorted((CORPUS / parser).iterdir())]


@pytest.mark.parametrize(("parser", "path"), _corpus(), ids=[f"{p}/{f.name}" for p, f in _corpus()])
def test_corpus_input_parses_or_is_refused_with_the_typed_error(parser, path) -> None:
    HARNESSES[parser](path.read_bytes())


def test_every_harness_has_a_corpus_with_valid_seeds() -> None:
    for parser in HARNESSES:
        assert any(path.name.startswith("seed-") for path in (CORPUS / parser).iterdir()), (
            f"no seed corpus for {parser}"
        )


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("atheris") is None, reason="atheris is not installed (Linux only)"
)
@pytest.mark.skipif(BUDGET_SECONDS <= 0, reason="LIAISON_FUZZ_SECONDS=0: fuzzing switched off")
@pytest.mark.parametrize("parser", list(HARNESSES))
def test_fuzzing_finds_no_crash(parser, tmp_path) -> None:
    seconds = max(1, BUDGET_SECONDS // len(HARNESSES))
    # libFuzzer owns its process (it exits on a crash): one subprocess per harness.
    run = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run_fuzzer", parser, str(seconds), str(tmp_path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    crashes = sorted(tmp_path.glob("crash-*")) + sorted(tmp_path.glob("timeout-*"))
    assert run.returncode == 0 and not crashes, (
        f"{parser}: crash {[str(c) for c in crashes]}\n{run.stderr[-4000:]}"
    )
    assert "Done" in run.stderr, run.stderr[-2000:]  # libFuzzer ran to its time limit
