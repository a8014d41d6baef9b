"""Audit tests reuse the end-to-end fixtures: a relay thread per test, the CLI runner."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

E2E = Path(__file__).resolve().parents[1] / "e2e"
sys.path.insert(0, str(E2E))

_spec = importlib.util.spec_from_file_location("e2e_conftest", E2E / "conftest.py")
assert _spec is not None and _spec.loader is not None
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)

relay = _e2e.relay
cheap_kdf = _e2e.cheap_kdf
cli = _e2e.cli
