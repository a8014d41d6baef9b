"""Regenerate the golden renderings: `.venv/bin/python -m tests.golden.regenerate`.

Each notice under tests/golden/notices/ is rendered into tests/golden/rendered/:
- as terminal text and as the printable HTML page, in vi, zh and both;
- as the signable bilingual document (handover record or letter form), HTML;
- as that document's A4 PDF, read back as text with pdftotext (when WeasyPrint, its fonts and
  poppler are installed; the PDF files are left alone otherwise, and their test skips).
Review every diff in both languages before committing: the tests compare against these files.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from liaison.domain.notices import Notice, parse_notice
from liaison.i18n.documents import notice_document, notice_pdf
from liaison.i18n.pdf import PdfUnavailable, check_pdf_support
from liaison.i18n.render import render_html, render_text

GOLDEN = Path(__file__).resolve().parent
NOTICES = GOLDEN / "notices"
RENDERED = GOLDEN / "rendered"
LANGUAGES = ("vi", "zh", "both")
# Fixed message metadata so the header lines of a received message are covered too.
META = {
    "message_id": "m_golden0000000001",
    "sender": "VN-QN-CA/nguyen.van.an",
    "sent_at": 1796333400,
    # The message's files: the notices' attachment indexes render as these names.
    "attachments": [
        {"name": "lo-thi-mai.jpg", "size": 48213, "media_type": "image/jpeg"},
        {"name": "giay-gioi-thieu-12-GGT.pdf", "size": 1048576, "media_type": "application/pdf"},
    ],
}


def golden_notices() -> dict[str, Notice]:
    return {path.stem: parse_notice(path.read_bytes()) for path in sorted(NOTICES.glob("*.json"))}


def renderings() -> dict[str, str]:
    """File name -> expected content, for every golden notice: text, HTML and document HTML."""
    out = {}
    for stem, notice in golden_notices().items():
        for lang in LANGUAGES:
            out[f"{stem}.{lang}.txt"] = render_text(notice, lang, message_meta=META)
            out[f"{stem}.{lang}.html"] = render_html(notice, lang, message_meta=META)
        out[f"{stem}.document.html"] = notice_document(notice, META)
    return out


def pdf_support() -> str | None:
    """Why PDF renderings cannot be made here, or None when they can."""
    try:
        check_pdf_support()
    except PdfUnavailable as exc:
        return str(exc)
    if shutil.which("pdftotext") is None:
        return "pdftotext (poppler-utils) is not installed"
    return None


def pdf_text(pdf: bytes) -> str:
    """The text of a PDF as pdftotext reads it (layout kept, so columns stay side by side)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "document.pdf"
        path.write_bytes(pdf)
        return subprocess.run(
            ["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout


def pdf_renderings() -> dict[str, str]:
    """File name -> text of the document's PDF, for every golden notice."""
    return {
        f"{stem}.document.pdf.txt": pdf_text(notice_pdf(notice, META))
        for stem, notice in golden_notices().items()
    }


def main() -> None:
    RENDERED.mkdir(exist_ok=True)
    contents = renderings()
    reason = pdf_support()
    if reason is None:
        contents.update(pdf_renderings())
    else:
        print(f"PDF renderings left as they are: {reason}")
    for name, content in contents.items():
        (RENDERED / name).write_text(content, encoding="utf-8")
        print(f"wrote {RENDERED / name}")


if __name__ == "__main__":
    main()
