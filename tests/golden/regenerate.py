"""Regenerate the golden renderings: `.venv/bin/python -m tests.golden.regenerate`.

Each notice under tests/golden/notices/ is rendered in `both`, as text and HTML, into
tests/golden/rendered/. Review the diff before committing: the test compares against these files.
"""

from __future__ import annotations

from pathlib import Path

from liaison.domain.notices import parse_notice
from liaison.i18n.render import render_html, render_text

GOLDEN = Path(__file__).resolve().parent
NOTICES = GOLDEN / "notices"
RENDERED = GOLDEN / "rendered"
# Fixed message metadata so the header lines of a received message are covered too.
META = {
    "message_id": "m_golden0000000001",
    "sender": "VN-QN-CA/nguyen.van.an",
    "sent_at": 1796333400,
}


def renderings() -> dict[str, str]:
    """File name -> expected content, for every golden notice."""
    out = {}
    for path in sorted(NOTICES.glob("*.json")):
        notice = parse_notice(path.read_bytes())
        out[f"{path.stem}.both.txt"] = render_text(notice, "both", message_meta=META)
        out[f"{path.stem}.both.html"] = render_html(notice, "both", message_meta=META)
    return out


def main() -> None:
    RENDERED.mkdir(exist_ok=True)
    for name, content in renderings().items():
        (RENDERED / name).write_text(content, encoding="utf-8")
        print(f"wrote {RENDERED / name}")


if __name__ == "__main__":
    main()
