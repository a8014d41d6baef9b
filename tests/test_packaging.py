"""Every file the `liaison` package reads at run time is declared as package data.

Otherwise an ordinary (non-editable) install would miss it: the translation catalogues, for
one, made every command fall back to English. The catalogues live at the top-level locales/ and
install as the package `liaison.locales` (setup.py maps the folder).
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "liaison"
LOCALES = ROOT / "locales"
# Inputs of `make i18n`, not read at run time.
BUILD_ONLY = {"babel.cfg", "liaison.pot"}


def _declared(package: str) -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return list(config["tool"]["setuptools"]["package-data"][package])


def _undeclared(folder: Path, patterns: list[str], build_only: set[str]) -> list[str]:
    files = [
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    ]
    return [
        f
        for f in files
        if f not in build_only and not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)
    ]


def test_every_non_python_file_of_the_package_is_package_data() -> None:
    assert _undeclared(PACKAGE, _declared("liaison"), set()) == []


def test_every_catalogue_is_package_data_of_liaison_locales() -> None:
    assert (LOCALES / "vi" / "LC_MESSAGES" / "liaison.po").is_file()
    assert _undeclared(LOCALES, _declared("liaison.locales"), BUILD_ONLY) == []
    setup = (ROOT / "setup.py").read_text("utf-8")
    assert '"liaison.locales"' in setup and 'package_dir={"liaison.locales": "locales"}' in setup


def test_the_catalogues_are_found_at_the_top_level_locales_folder() -> None:
    from liaison.i18n import LOCALES_DIR

    # From the source tree (and an editable install); an installed copy uses liaison/locales.
    assert LOCALES_DIR == LOCALES
    assert not (PACKAGE / "locales").exists()
    for locale in ("vi", "zh_Hans_CN", "en"):
        assert (LOCALES_DIR / locale / "LC_MESSAGES" / "liaison.po").is_file()
