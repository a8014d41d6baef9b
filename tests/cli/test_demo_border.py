"""`liaison demo` across the border: two real relays on loopback, each with its own SQLite
database; the crossing is checked in those databases after the tour, not in what it printed."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from crypto.log_entries import EnvelopeEntry, ForwardedInEntry, ForwardedOutEntry, parse_log_entry
from liaison.cli.demo.border import CN_ORIGIN, VN_ORIGIN, Border, run_border
from liaison.cli.demo.context import DEMO_PASSPHRASE
from liaison.client import directory, foreign
from liaison.client.home import KDF_PROFILE_ENV, Home


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


def officer_home(folder: Path, side: str, name: str) -> Home:
    """An officer's home folder as the demo left it on one side."""
    return Home(folder / side / "homes" / name, passphrase=lambda confirm: DEMO_PASSPHRASE)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Border, list[str]]:
    folder = tmp_path_factory.mktemp("border")
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KDF_PROFILE_ENV, "interactive")
        done = asyncio.run(run_border(folder, say=lines.append))
    return folder, done, lines


@pytest.fixture(scope="module")
def border(run) -> tuple[Path, dict[str, str], list[str]]:
    folder, done, lines = run
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
    # Each crossing: one line per relay from the sender's side, the same envelope hash on both.
    shown = [line for line in lines if "log entry" in line and "envelope hash" in line]
    assert len(shown) == 4
    assert shown[0].rsplit(" ", 1)[1] == shown[1].rsplit(" ", 1)[1]
    assert shown[2].rsplit(" ", 1)[1] == shown[3].rsplit(" ", 1)[1]
    assert "(forwarded_in)" in shown[1] and "(forwarded_in)" in shown[3]


def test_each_officer_pinned_the_other_countrys_agency_through_its_own_relay(run) -> None:
    folder, _done, _lines = run
    for side, name, code, origin in (
        ("vn", "an", "CN-GX-DXGA", CN_ORIGIN),
        ("cn", "li", "VN-QN-CA", VN_ORIGIN),
    ):
        home = officer_home(folder, side, name)
        assert directory.foreign_home(home, code) == origin
        # The peer's log key, from the pinned root's home statement: what --across relies on.
        assert foreign.known_relay_key(home, origin) is not None


def test_each_message_is_synced_read_and_verified_on_the_other_side(run) -> None:
    folder, done, _lines = run
    for step, (side, reader) in {"request": ("cn", "li"), "reply": ("vn", "an")}.items():
        record = officer_home(folder, side, reader).find_message(done.crossed[step])
        assert record.received and record.status == "read"
        assert record.log_index is not None
    assert done.opened["request"].startswith("Đề nghị xác minh nhân thân")
    assert done.opened["reply"].startswith("已收到，正在核实")


def test_audit_verify_across_works_from_both_sides_of_each_crossing(run) -> None:
    _folder, done, _lines = run
    for step, reader in (("request", "li"), ("reply", "an")):
        sender_side, reader_side = done.reports[step], done.reports[f"{step} ({reader})"]
        assert sender_side.ok and reader_side.ok
        assert sender_side.envelope_hash == reader_side.envelope_hash is not None
        kinds = [s["kind"] for s in sender_side.sides], [s["kind"] for s in reader_side.sides]
        assert kinds == (["envelope", "forwarded_in"], ["forwarded_in", "envelope"])
