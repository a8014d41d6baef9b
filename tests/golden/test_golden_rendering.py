"""Every notice type renders in `both`, as text and HTML, exactly as the reviewed golden files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from liaison.domain.notices import NOTICE_TYPES

GOLDEN = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("golden_regenerate", GOLDEN / "regenerate.py")
regenerate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regenerate)

RENDERINGS = regenerate.renderings()


def test_every_notice_type_has_a_golden_notice():
    assert sorted(p.stem for p in (GOLDEN / "notices").glob("*.json")) == sorted(NOTICE_TYPES)


@pytest.mark.parametrize("name", sorted(RENDERINGS))
def test_rendering_matches_golden_file(name):
    expected = (GOLDEN / "rendered" / name).read_text(encoding="utf-8")
    assert RENDERINGS[name] == expected, (
        f"{name} differs from the golden file; if the change is intended, run "
        "`.venv/bin/python tests/golden/regenerate.py` and review the diff"
    )
