"""Loading of the packaged data files (liaison/data/*.json), the domain layer's only input."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def load(name: str) -> Any:
    """Parsed content of `liaison/data/<name>.json` (read once per process)."""
    text = resources.files("liaison.data").joinpath(f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)
