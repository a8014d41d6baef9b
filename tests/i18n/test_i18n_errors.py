"""Errors from outside the domain (crypto codes, OS errors, PDF support, argparse's own words)
are worded in the officer's language at the edge; crypto/ itself stays free of gettext."""

from __future__ import annotations

import argparse
import errno
import re
from pathlib import Path

import pytest

import crypto
from crypto import errors as crypto_errors
from liaison.i18n import gettext_for, set_language
from liaison.i18n.errors import (
    ARGPARSE_MESSAGES,
    CRYPTO_MESSAGES,
    crypto_error_text,
    install_argparse_translation,
    os_error_text,
    pdf_unavailable_text,
)
from liaison.i18n.pdf import INSTALL_HINT

CRYPTO_DIR = Path(crypto.__file__).resolve().parent


def crypto_codes() -> set[str]:
    """Every code a crypto error can carry: class codes and codes set where raised."""
    codes = {
        cls.code
        for cls in vars(crypto_errors).values()
        if isinstance(cls, type) and issubclass(cls, crypto_errors.CryptoError)
    }
    for path in CRYPTO_DIR.rglob("*.py"):
        codes |= set(re.findall(r"code\s*=\s*\"([a-z_]+)\"", path.read_text(encoding="utf-8")))
    return codes


@pytest.fixture(autouse=True)
def english_afterwards():
    yield
    set_language("en")


def test_every_crypto_error_code_has_a_wording():
    assert crypto_codes() - set(CRYPTO_MESSAGES) == set()


@pytest.mark.parametrize("language", ["vi", "zh_Hans_CN"])
def test_crypto_error_wordings_are_translated(language):
    for code, msgid in CRYPTO_MESSAGES.items():
        assert gettext_for(language, msgid) != msgid, code
    set_language(language)
    assert crypto_error_text("keystore_locked") == gettext_for(
        language, CRYPTO_MESSAGES["keystore_locked"]
    )
    # An unknown code falls back to the general wording rather than English.
    assert crypto_error_text("brand_new") == crypto_error_text("crypto_error")


def test_crypto_package_does_not_use_gettext():
    for path in CRYPTO_DIR.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "gettext" not in text and "liaison.i18n" not in text, path


def test_os_errors_are_worded_by_errno_class_with_their_path():
    set_language("vi")
    missing = FileNotFoundError(errno.ENOENT, "No such file or directory", "/tmp/x.json")
    assert os_error_text(missing) == "không tìm thấy tệp hoặc thư mục: /tmp/x.json"
    set_language("zh_Hans_CN")
    assert os_error_text(PermissionError(errno.EACCES, "Permission denied")) == "没有访问权限"
    assert os_error_text(OSError(errno.EIO, "I/O error")) == f"系统错误（{errno.EIO}）"


def test_pdf_unavailable_is_worded_in_the_officers_language():
    set_language("zh_Hans_CN")
    text = pdf_unavailable_text(INSTALL_HINT)
    assert text.startswith("本机无法生成PDF文件") and INSTALL_HINT in text


@pytest.mark.parametrize(
    ("language", "usage", "help_line", "required"),
    [
        ("vi", "cách dùng: ", "hiển thị hướng dẫn này rồi thoát", "thiếu các tham số bắt buộc"),
        ("zh_Hans_CN", "用法：", "显示本帮助信息并退出", "缺少以下必需参数"),
    ],
)
def test_argparse_speaks_the_officers_language(language, usage, help_line, required, capsys):
    install_argparse_translation()
    set_language(language)
    parser = argparse.ArgumentParser(prog="liaison")
    parser.add_argument("path")
    help_text = parser.format_help()
    assert help_text.startswith(usage) and help_line in help_text
    assert "usage" not in help_text and "show this help" not in help_text
    with pytest.raises(SystemExit):
        parser.parse_args([])
    assert required in capsys.readouterr().err


@pytest.mark.parametrize("language", ["vi", "zh_Hans_CN"])
def test_argparse_words_keep_their_placeholders(language):
    for msgid in ARGPARSE_MESSAGES:
        translated = gettext_for(language, msgid)
        assert translated != msgid
        assert sorted(re.findall(r"%\(\w+\)[sr]|%[sr]", translated)) == sorted(
            re.findall(r"%\(\w+\)[sr]|%[sr]", msgid)
        )


@pytest.mark.parametrize("language", ["vi", "zh_Hans_CN"])
def test_stored_keys_have_words_in_the_officers_language(language):
    from liaison.i18n.labels import AUDIT_KINDS, INBOX_STATUS, TRUST_HOW, audit_kind

    for table in (INBOX_STATUS, TRUST_HOW, AUDIT_KINDS):
        for key, msgid in table.items():
            assert gettext_for(language, msgid) != msgid, key
    set_language(language)
    assert audit_kind("hold") == gettext_for(language, AUDIT_KINDS["hold"])
    assert audit_kind("from_a_newer_relay") == "from_a_newer_relay"


def test_every_audit_log_kind_of_the_protocol_has_a_word():
    from crypto.log_entries import LOG_ENTRY_KINDS
    from liaison.i18n.labels import AUDIT_KINDS

    assert set(LOG_ENTRY_KINDS) <= set(AUDIT_KINDS)


def test_a_pdf_export_without_weasyprint_says_what_to_install_and_exits_1(tmp_path):
    from liaison.cli._common import CommandError, write_pdf
    from liaison.i18n.pdf import PdfUnavailable

    def unavailable() -> bytes:
        raise PdfUnavailable("WeasyPrint is not installed")

    set_language("vi")
    target = tmp_path / "out.pdf"
    with pytest.raises(CommandError) as info:
        write_pdf(str(target), unavailable)
    assert info.value.exit_code == 1 and info.value.code == "pdf_unavailable"
    assert str(info.value).startswith("Máy này không tạo được tệp PDF") and INSTALL_HINT in str(
        info.value
    )
    assert not target.exists()
