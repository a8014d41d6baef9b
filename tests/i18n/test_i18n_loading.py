"""Catalogue loading: a compiled .mo is used only while it is at least as new as its .po."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import write_po

import liaison.i18n as i18n


def _write(folder: Path, translation: str, *, compiled: bool) -> Path:
    catalog = Catalog(locale="vi", domain="liaison")
    catalog.add("Handover proposal", translation)
    path = folder / ("liaison.mo" if compiled else "liaison.po")
    with path.open("wb") as fh:
        (write_mo if compiled else write_po)(fh, catalog)
    return path


@pytest.fixture
def locales(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "vi" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path)
    i18n.translations.cache_clear()
    yield folder
    i18n.translations.cache_clear()


def test_stale_compiled_catalogue_is_ignored_for_the_newer_po(locales: Path) -> None:
    mo = _write(locales, "bản cũ", compiled=True)
    po = _write(locales, "Đề xuất bàn giao", compiled=False)
    os.utime(mo, (po.stat().st_mtime - 10, po.stat().st_mtime - 10))
    assert i18n.gettext_for("vi", "Handover proposal") == "Đề xuất bàn giao"


def test_fresh_compiled_catalogue_is_used(locales: Path) -> None:
    po = _write(locales, "Đề xuất bàn giao", compiled=False)
    mo = _write(locales, "từ tệp đã biên dịch", compiled=True)
    os.utime(mo, (po.stat().st_mtime + 10, po.stat().st_mtime + 10))
    assert i18n.gettext_for("vi", "Handover proposal") == "từ tệp đã biên dịch"


def test_missing_catalogue_falls_back_to_the_message_id(locales: Path) -> None:
    assert i18n.gettext_for("vi", "Handover proposal") == "Handover proposal"
