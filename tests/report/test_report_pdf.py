"""`liaison report --pdf`: an A4 PDF with the figures and their labels in Vietnamese and Chinese,
the charts, and the period as the reference on every page (text read back with pdftotext)."""

from __future__ import annotations

from pathlib import Path

import pytest

from liaison.i18n import set_language
from liaison.i18n.pdf import PdfUnavailable
from liaison.i18n.report import figure_label
from tests.i18n.test_pdf import pdf_pages, require_pdf, squash
from tests.report import test_report_cli
from tests.report.history import History
from tests.report.test_report_cli import PERIOD_ARGS, run

# The command line tests' device: a generated history and a counterpart's statistics notice.
history = test_report_cli.history
book = test_report_cli.book

FIGURES = ("received", "handed_over", "identified", "verified.confirmed", "received.sex.female")


def test_the_pdf_holds_every_figure_in_vietnamese_and_chinese_and_the_charts(
    book: list, history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_pdf()
    target = tmp_path / "q4.pdf"
    code, _out, _err = run(capsys, *PERIOD_ARGS, "--pdf", str(target))
    assert code == 0
    pages = pdf_pages(target.read_bytes(), tmp_path)
    assert len(pages) > 1
    text = squash("".join(pages))
    for figure in FIGURES:
        assert squash(figure_label(figure, "vi")) in text
        assert squash(figure_label(figure, "zh")) in text
        expected = history.expected_cases(figure)
        row = f"{sum(expected.values())}{len(expected)}{figure}"
        assert squash(figure_label(figure, "zh")) + row in text
    # The charts are drawn as text too: their titles, and the months in both languages.
    assert "tháng10/2026" in text and "2026年10月" in text
    for number, page in enumerate(pages, start=1):  # the period and the page on every page
        assert "STAT-2026-10-01-2026-12-31" in page
        assert f"{number}/{len(pages)}" in squash(page)


def test_the_pdf_of_a_comparison_marks_the_differences(
    book: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_pdf()
    target = tmp_path / "compare.pdf"
    code, _out, _err = run(
        capsys, "--offline", "--compare", "stat-counterpart", "--pdf", str(target)
    )
    assert code == 0
    text = squash("".join(pdf_pages(target.read_bytes(), tmp_path)))
    assert squash("có chênh lệch") in text
    assert "存在差异" in text and "≠" in text


def test_without_pdf_support_the_officer_is_told_what_to_install_and_nothing_is_written(
    book: list, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(html: str, *, reference: str) -> bytes:
        raise PdfUnavailable("WeasyPrint is not installed")

    monkeypatch.setattr("liaison.i18n.report_pdf.html_to_pdf", unavailable)
    monkeypatch.setenv("LIAISON_LANG", "vi")  # the officer's language words the refusal
    target = tmp_path / "q4.pdf"
    code, out, err = run(capsys, *PERIOD_ARGS, "--pdf", str(target), "--lang", "vi")
    set_language("en")  # the language the other report tests run in
    assert code == 1
    assert "Máy này không tạo được tệp PDF" in err and "fonts-noto-cjk" in err
    assert not target.exists() and out == ""
