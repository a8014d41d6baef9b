"""`liaison demo` across the border: two real relays on loopback, each with its own SQLite
database; the crossing is checked in those databases after the tour, not in what it printed."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from crypto.log_entries import EnvelopeEntry, ForwardedInEntry, ForwardedOutEntry, parse_log_entry
from liaison.cli.demo.border import CN_ORIGIN, VN_ORIGIN, run_border
from liaison.client.home import KDF_PROFILE_ENV


def stored(folder: Path) -> tuple[set[str], list[object]]:
    """(message ids in the envelopes table, parsed log entries) of one relay's database."""
    conn = sqlite3.connect(folder / "relay" / "liaison.db")
    try:
        ids = {m for (m,) in conn.execute("SELECT message_id FROM envelopes")}
        entries = [parse_log_entry(d) for (d,) in conn.execute("SELECT data FROM log_entries")]
    finally:
        conn.close()
    return ids, entries


def of_message(entries: list[object], kind: type, message_id: str) -> list[object]:
    return [e for e in entries if isinstance(e, kind) and e.message_id == message_id]


@pytest.fixture(scope="module")
def border(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], list[str]]:
    folder = tmp_path_factory.mktemp("border")
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KDF_PROFILE_ENV, "interactive")
        done = asyncio.run(run_border(folder, say=lines.append))
    return folder, done.crossed, lines


def test_each_crossing_is_logged_on_both_relays_with_the_same_envelope_hash(border) -> None:
    folder, crossed, _lines = border
    vn_ids, vn_log = stored(folder / "vn")
    cn_ids, cn_log = stored(folder / "cn")
    for name, (home, away, home_log, away_log) in {
        "request": (VN_ORIGIN, CN_ORIGIN, vn_log, cn_log),
        "reply": (CN_ORIGIN, VN_ORIGIN, cn_log, vn_log),
    }.items():
        mid = crossed[name]
        assert mid in vn_ids and mid in cn_ids  # each side keeps the ciphertext it carried
        [sent] = of_message(home_log, EnvelopeEntry, mid)
        [out] = of_message(home_log, ForwardedOutEntry, mid)
        [arrived] = of_message(away_log, ForwardedInEntry, mid)
        assert sent.envelope_hash == out.envelope_hash == arrived.envelope_hash
        assert (out.to_relay, arrived.from_relay) == (away, home)
        assert not of_message(away_log, EnvelopeEntry, mid)


def test_a_message_between_two_chinese_agencies_never_reaches_the_vietnamese_relay(
    border,
) -> None:
    folder, crossed, _lines = border
    mid = crossed["domestic"]
    vn_ids, vn_log = stored(folder / "vn")
    cn_ids, cn_log = stored(folder / "cn")
    assert mid in cn_ids and of_message(cn_log, EnvelopeEntry, mid)
    assert mid not in vn_ids
    assert not any(getattr(e, "message_id", None) == mid for e in vn_log)
    assert not of_message(cn_log, ForwardedOutEntry, mid)


def test_the_tour_shows_both_sides_entries_of_each_crossing(border) -> None:
    _folder, crossed, lines = border
    text = "\n".join(lines)
    assert "A fingerprint that does not match is refused" in text
    for name in ("request", "reply"):
        assert crossed[name] in text
    # Each crossing: one line per relay, the same envelope hash on both.
    shown = [line for line in lines if "envelope hash" in line]
    assert len(shown) == 4
    assert shown[0].rsplit(" ", 1)[1] == shown[1].rsplit(" ", 1)[1]
    assert shown[2].rsplit(" ", 1)[1] == shown[3].rsplit(" ", 1)[1]
    assert "(forwarded_in)" in shown[1] and "(forwarded_in)" in shown[3]
