"""The PDF engine: A4, both scripts drawn with embedded fonts, page numbers and the reference on
every page, nothing fetched from outside the document, and a typed error naming what to install.

Text is read back with poppler's pdftotext and fonts with pdffonts (poppler-utils, installed by
.ci/run with the fonts): the same tools an officer's machine has, and no PyPI dependency that
would only serve the tests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from liaison.i18n import pdf
from liaison.i18n.pdf import PdfUnavailable, check_pdf_support, html_to_pdf

POPPLER = ("pdftotext", "pdffonts", "pdfinfo")


def require_pdf() -> None:
    """Skip (outside CI) when WeasyPrint, Pango, the fonts or poppler are missing; in CI fail."""
    try:
        check_pdf_support()
        missing = [tool for tool in POPPLER if shutil.which(tool) is None]
        if missing:
            raise PdfUnavailable("poppler-utils missing: " + ", ".join(missing))
    except PdfUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI installs the PDF dependencies (.ci/run), yet: {exc}")
        pytest.skip(f"PDF support not installed on this machine: {exc.missing}")


def _poppler(tool: str, pdf_bytes: bytes, tmp_path: Path, *args: str) -> str:
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf_bytes)
    return subprocess.run(
        [tool, *args, str(path), *(["-"] if tool == "pdftotext" else [])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def pdf_pages(pdf_bytes: bytes, tmp_path: Path) -> list[str]:
    """The text of each page (pdftotext, reading order), empty pages dropped."""
    text = _poppler("pdftotext", pdf_bytes, tmp_path, "-enc", "UTF-8")
    return [page for page in text.split("\f") if page.strip()]


def squash(text: str) -> str:
    """`text` without whitespace: pdftotext breaks lines where the layout did."""
    return re.sub(r"\s+", "", text)


def embedded_fonts(pdf_bytes: bytes, tmp_path: Path) -> dict[str, bool]:
    """Font name (subset prefix removed) -> embedded, from pdffonts."""
    lines = _poppler("pdffonts", pdf_bytes, tmp_path).splitlines()[2:]
    fonts = {}
    for line in lines:
        name, *rest = line.split()
        # columns after the name: type words..., encoding, emb, sub, uni, object, id
        fonts[name.split("+", 1)[-1]] = rest[-5] == "yes"
    return fonts


SAMPLE = """<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8"></head><body>
<table style="width:100%"><tr>
<td lang="vi">Nguyễn Thị Hoa, sinh năm 2009, quê ở Quảng Ninh; cửa khẩu Móng Cái.</td>
<td lang="zh">阮氏花（音），2009年出生，越南广宁省人；芒街（越南广宁省）—东兴（广西）口岸。</td>
</tr></table>
<p style="page-break-before: always" lang="vi">Trang thứ hai: Ái Điểm, Động Trung, Tà Lùng.</p>
<p lang="zh">第二页：爱店、峒中、驮隆。</p>
</body></html>"""
REFERENCE = "Số: 95/BB-BP · 编号：95/BB-BP"


@pytest.fixture(scope="module")
def sample_pdf() -> bytes:
    require_pdf()
    return html_to_pdf(SAMPLE, reference=REFERENCE)


def test_sample_is_an_a4_pdf(sample_pdf, tmp_path):
    assert sample_pdf.startswith(b"%PDF-")
    info = _poppler("pdfinfo", sample_pdf, tmp_path)
    assert re.search(r"Page size:\s+595\.\d+ x 841\.\d+ pts \(A4\)", info)
    assert re.search(r"Pages:\s+2\b", info)


def test_vietnamese_and_chinese_text_come_back_from_the_pdf(sample_pdf, tmp_path):
    first, second = (squash(page) for page in pdf_pages(sample_pdf, tmp_path))
    assert squash("Nguyễn Thị Hoa, sinh năm 2009, quê ở Quảng Ninh; cửa khẩu Móng Cái.") in first
    assert (
        squash("阮氏花（音），2009年出生，越南广宁省人；芒街（越南广宁省）—东兴（广西）口岸。")
        in first
    )
    assert squash("Trang thứ hai: Ái Điểm, Động Trung, Tà Lùng.") in second
    assert "第二页：爱店、峒中、驮隆。" in second


def test_every_page_carries_its_number_and_the_reference(sample_pdf, tmp_path):
    pages = [squash(page) for page in pdf_pages(sample_pdf, tmp_path)]
    assert len(pages) == 2
    for number, page in enumerate(pages, start=1):
        assert f"{number}/2" in page
        assert squash(REFERENCE) in page


def test_both_scripts_are_drawn_with_embedded_fonts_that_have_their_glyphs(sample_pdf, tmp_path):
    fonts = embedded_fonts(sample_pdf, tmp_path)
    assert fonts.get("Noto-Sans-CJK-SC") is True, fonts
    assert any(name.startswith("DejaVu") and embedded for name, embedded in fonts.items()), fonts


def test_a_document_reads_no_file_outside_itself(tmp_path):
    require_pdf()
    leak = tmp_path / "leak.css"
    leak.write_text('p::after { content: "LEAKED-FROM-DISK"; }', encoding="utf-8")
    html = f'<html><head><link rel="stylesheet" href="{leak.as_uri()}"></head><body><p>x</p>'
    text = "".join(pdf_pages(html_to_pdf(html, reference="R-1"), tmp_path))
    assert "LEAKED-FROM-DISK" not in text
    assert "R-1" in text


def test_quotes_in_the_reference_cannot_break_the_page_style(tmp_path):
    require_pdf()
    reference = 'A "quoted" \\ ref; } @page { size: A5 }'
    pdf_bytes = html_to_pdf("<p>x</p>", reference=reference)
    assert "(A4)" in _poppler("pdfinfo", pdf_bytes, tmp_path)
    assert squash(reference) in squash(pdf_pages(pdf_bytes, tmp_path)[0])


def test_missing_fonts_are_named_with_what_to_install(monkeypatch):
    pytest.importorskip("weasyprint", reason="this case is about fonts, with WeasyPrint present")
    monkeypatch.setattr(pdf, "missing_fonts", lambda: ("Noto Sans CJK SC",))
    with pytest.raises(PdfUnavailable) as caught:
        check_pdf_support()
    assert caught.value.code == "pdf_unavailable"
    assert "Noto Sans CJK SC" in str(caught.value) and "fonts-noto-cjk" in str(caught.value)


def test_missing_weasyprint_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # makes `import weasyprint` fail
    with pytest.raises(PdfUnavailable) as caught:
        html_to_pdf("<p>x</p>", reference="R")
    assert caught.value.missing == "WeasyPrint is not installed"
    assert "liaison[pdf]" in str(caught.value)
