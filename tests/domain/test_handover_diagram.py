"""The checked-in state diagram is the one the transition table in code draws."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from liaison.domain.handover import TRANSITIONS, HandoverState

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "state-machines" / "make_diagram.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_diagram", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checked_in_diagram_matches_the_transition_table() -> None:
    script = load_script()
    document = script.DOCUMENT.read_text(encoding="utf-8")
    assert script.render(document) == document, "run docs/state-machines/make_diagram.py"


def test_diagram_has_one_arrow_per_transition_and_ends_at_terminal_states() -> None:
    diagram = load_script().mermaid()
    arrows = [line.strip() for line in diagram.splitlines() if "-->" in line]
    terminal = [state for state in HandoverState if state.terminal]
    assert len(arrows) == len(TRANSITIONS) + len(terminal)
    assert "confirmed --> rescheduled : reschedule" in arrows
    assert "completed --> [*]" in arrows


def test_document_without_markers_is_refused() -> None:
    with pytest.raises(ValueError):
        load_script().render("# no markers here\n")
