"""Every notice type renders in `both`, as text and HTML, exactly as the reviewed golden files."""

from __future__ import annotations

from pathlib import Path

import pytest

from liaison.domain.notices import NOTICE_TYPES
from tests.golden import regenerate

GOLDEN = Path(__file__).resolve().parent
RENDERINGS = regenerate.renderings()


def test_every_notice_type_has_a_golden_notice():
    assert sorted(p.stem for p in (GOLDEN / "notices").glob("*.json")) == sorted(NOTICE_TYPES)


@pytest.mark.parametrize("name", sorted(RENDERINGS))
def test_rendering_matches_golden_file(name):
    expected = (GOLDEN / "rendered" / name).read_text(encoding="utf-8")
    assert RENDERINGS[name] == expected, (
        f"{name} differs from the golden file; if the change is intended, run "
        "`.venv/bin/python -m tests.golden.regenerate` and review the diff"
    )
