"""Every notice type renders in vi, zh and both (text and HTML), as its signable document (HTML)
and as that document's PDF (text read back), exactly as the reviewed golden files."""

from __future__ import annotations

from pathlib import Path

import pytest

from liaison.domain.notices import NOTICE_TYPES
from tests.golden import regenerate

GOLDEN = Path(__file__).resolve().parent
RENDERINGS = regenerate.renderings()
PDF_NAMES = sorted(f"{stem}.document.pdf.txt" for stem in NOTICE_TYPES)
HINT = (
    "differs from the golden file; if the change is intended, run "
    "`.venv/bin/python -m tests.golden.regenerate` and review the diff"
)


def test_every_notice_type_has_a_golden_notice():
    assert sorted(p.stem for p in (GOLDEN / "notices").glob("*.json")) == sorted(NOTICE_TYPES)


def test_every_golden_file_is_produced():
    produced = set(RENDERINGS) | set(PDF_NAMES)
    assert sorted(p.name for p in (GOLDEN / "rendered").iterdir()) == sorted(produced)


@pytest.mark.parametrize("name", sorted(RENDERINGS))
def test_rendering_matches_golden_file(name):
    expected = (GOLDEN / "rendered" / name).read_text(encoding="utf-8")
    assert RENDERINGS[name] == expected, f"{name} {HINT}"


@pytest.fixture(scope="module")
def pdf_texts():
    reason = regenerate.pdf_support()
    if reason is not None:
        pytest.skip(f"PDF support not installed on this machine: {reason}")
    return regenerate.pdf_renderings()


@pytest.mark.parametrize("name", PDF_NAMES)
def test_pdf_text_matches_golden_file(name, pdf_texts):
    expected = (GOLDEN / "rendered" / name).read_text(encoding="utf-8")
    assert pdf_texts[name] == expected, f"{name} {HINT}"
