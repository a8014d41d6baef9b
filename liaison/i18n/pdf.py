"""HTML and CSS in, A4 PDF out (WeasyPrint): page numbers and the document's reference on every
page, fonts that carry Vietnamese diacritics and CJK, and a typed error naming what to install."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from types import ModuleType
from typing import Any

# Pango picks glyphs by fontconfig family: DejaVu carries every Vietnamese stacked diacritic
# (ế, ộ, ữ…), Noto Sans CJK SC the simplified Chinese. Both are Debian packages.
LATIN_FONT = "DejaVu Sans"
CJK_FONT = "Noto Sans CJK SC"
REQUIRED_FONTS = (LATIN_FONT, CJK_FONT)
FONT_STACK = f'"{LATIN_FONT}", "{CJK_FONT}", sans-serif'

INSTALL_HINT = (
    "pip install 'liaison[pdf]' (WeasyPrint), and the system libraries and fonts it needs; "
    "on Debian or Ubuntu: apt-get install libpango-1.0-0 libpangoft2-1.0-0 fontconfig "
    "fonts-dejavu-core fonts-noto-cjk"
)


class PdfUnavailable(RuntimeError):
    """WeasyPrint, its system libraries or the fonts are missing on this machine.

    `missing` says what is missing; the message adds what to install. The CLI prints it and
    exits 1 (translated at the edge by `code`, as for the other typed errors)."""

    code = "pdf_unavailable"

    def __init__(self, missing: str) -> None:
        self.missing = missing
        super().__init__(f"{missing}. To write PDF files, install: {INSTALL_HINT}")


def _weasyprint() -> ModuleType:
    try:
        import weasyprint
    except ImportError as exc:
        raise PdfUnavailable("WeasyPrint is not installed") from exc
    except OSError as exc:  # WeasyPrint loads Pango with ctypes at import time
        raise PdfUnavailable(f"WeasyPrint cannot load Pango ({exc})") from exc
    return weasyprint


@cache
def missing_fonts() -> tuple[str, ...]:
    """The REQUIRED_FONTS fontconfig does not know (all of them without fontconfig's fc-list)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return REQUIRED_FONTS
    # Fixed arguments, no shell: asks fontconfig, the font source Pango itself uses.
    listed = subprocess.run(  # noqa: S603
        [fc_list, ":", "family"], capture_output=True, text=True, check=False, timeout=30
    ).stdout
    families = {name.strip() for line in listed.splitlines() for name in line.split(",")}
    return tuple(font for font in REQUIRED_FONTS if font not in families)


def check_pdf_support() -> None:
    """Raise PdfUnavailable unless WeasyPrint, Pango and both fonts are present."""
    _weasyprint()
    missing = missing_fonts()
    if missing:
        raise PdfUnavailable("Fonts missing: " + ", ".join(missing))


def _css_string(text: str) -> str:
    """`text` as a CSS string literal (quotes, backslashes and line breaks escaped)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + " ".join(escaped.split()) + '"'


def page_css(reference: str) -> str:
    """A4 pages with the reference at the top and "page / pages" at the bottom of each page."""
    return f"""
@page {{
  size: A4;
  margin: 22mm 18mm 20mm 18mm;
  @top-right {{
    content: {_css_string(reference)};
    font-family: {FONT_STACK};
    font-size: 8pt;
    color: #333;
  }}
  @bottom-center {{
    content: counter(page) " / " counter(pages);
    font-family: {FONT_STACK};
    font-size: 8pt;
  }}
}}
html {{ font-family: {FONT_STACK}; font-size: 10.5pt; line-height: 1.35; }}
:lang(zh) {{ font-family: "{CJK_FONT}", "{LATIN_FONT}", sans-serif; }}
"""


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    raise ValueError(f"external resources are not loaded into documents: {url}")


def _no_fetching(weasyprint: ModuleType) -> Any:
    """A URL fetcher that fetches nothing: a document both sides sign is made from its own HTML
    only (no file of this machine, no network), whatever a value or a stylesheet links to."""
    fetcher_class = getattr(weasyprint.urls, "URLFetcher", None)
    if fetcher_class is not None:  # WeasyPrint >= 66: a fetcher object, protocols allow-listed
        return fetcher_class(allowed_protocols=frozenset())
    return _refuse_fetch  # earlier versions take a function


def html_to_pdf(html: str, *, reference: str) -> bytes:
    """The A4 PDF of `html` (a complete document), `reference` printed on every page.

    Raises PdfUnavailable when WeasyPrint, Pango or the fonts are missing."""
    check_pdf_support()
    weasyprint = _weasyprint()
    document = weasyprint.HTML(string=html, url_fetcher=_no_fetching(weasyprint))
    pdf: bytes = document.write_pdf(stylesheets=[weasyprint.CSS(string=page_css(reference))])
    return pdf
