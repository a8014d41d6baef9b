"""Every file the `liaison` package reads at run time is declared as package data.

Otherwise an ordinary (non-editable) install would miss it: the translation catalogues, for
one, made every command fall back to English.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "liaison"
# Inputs of `make i18n`, not read at run time.
BUILD_ONLY = {"locales/babel.cfg", "locales/liaison.pot"}


def _declared() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return list(config["tool"]["setuptools"]["package-data"]["liaison"])


def test_every_non_python_file_of_the_package_is_package_data() -> None:
    patterns = _declared()
    files = [
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    ]
    assert "locales/vi/LC_MESSAGES/liaison.po" in files
    missing = [
        f
        for f in files
        if f not in BUILD_ONLY and not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)
    ]
    assert missing == []


def test_the_catalogues_are_found_inside_the_package() -> None:
    from liaison.i18n import LOCALES_DIR

    assert LOCALES_DIR == PACKAGE / "locales"
    for locale in ("vi", "zh_Hans_CN", "en"):
        assert (LOCALES_DIR / locale / "LC_MESSAGES" / "liaison.po").is_file()
