"""`liaison report`: the table, JSON, CSV, explanations, the notice, reconciliation and charts,
and refusals that leave nothing written."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path
from xml.etree import ElementTree

import pytest

from liaison.cli import main
from liaison.client.cases import CaseBook
from liaison.domain.cases import derive_cases
from liaison.domain.statistics import Period, compute_statistics, statistics_fields
from liaison.i18n import set_language
from liaison.i18n.charts import Row, Series, bar_chart
from tests.report.history import PERIOD, VN_BORDER, VN_POLICE, History, countersignature_check
from tests.report.test_statistics_reconcile import statistics_event

PERIOD_ARGS = ["--from", "2026-10-01", "--to", "2026-12-31", "--offline"]


@pytest.fixture(scope="module")
def history() -> History:
    return History(seed=7).build(120)


@pytest.fixture
def book(history: History, monkeypatch: pytest.MonkeyPatch) -> list[argparse.Namespace]:
    """The device's cases, with a counterpart's statistics notice (one case fewer)."""
    events = history.logged()
    cases = derive_cases(events, verify_countersignature=countersignature_check)
    dropped = sorted(history.covered())[0]
    theirs = compute_statistics(
        [c for ref, c in cases.items() if ref != dropped],
        Period(PERIOD[0], PERIOD[1], "Asia/Ho_Chi_Minh"),
    )
    counterpart = statistics_event(statistics_fields(theirs), sender=VN_BORDER)
    loaded: list[argparse.Namespace] = []

    def case_book(args: argparse.Namespace) -> CaseBook:
        loaded.append(args)
        return CaseBook(
            agency=VN_POLICE,
            officer_id="an",
            device_id=f"{VN_POLICE}:an:desk",
            cases=cases,
            events=[*events, counterpart],
        )

    monkeypatch.setattr("liaison.cli.report._case_book", case_book)
    set_language("en")
    return loaded


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["report", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_table_shows_every_figure_in_vietnamese_and_chinese(
    book: list, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = run(capsys, *PERIOD_ARGS)
    assert code == 0
    assert "Tiếp nhận: trẻ em dưới 14 tuổi" in out and "接收：14岁以下儿童" in out
    line = next(line for line in out.splitlines() if line.rstrip().endswith(" received"))
    assert f" {len(history.expected['received'])} " in line


def test_json_gives_every_figure_and_its_cases(
    book: list, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = run(capsys, *PERIOD_ARGS, "--json")
    assert code == 0
    figures = {f["figure"]: f for f in json.loads(out)["figures"]}
    for name, members in history.expected.items():
        assert figures[name]["persons"] == len(members)
        listed = {c["case_ref"]: c["persons"] for c in figures[name]["cases"]}
        assert listed == history.expected_cases(name)


def test_csv_has_one_row_per_figure(
    book: list, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = run(capsys, *PERIOD_ARGS, "--csv")
    assert code == 0
    rows = {row["figure"]: row for row in csv.DictReader(io.StringIO(out))}
    assert int(rows["self_returned"]["persons"]) == len(history.expected["self_returned"])
    assert rows["received"]["label_zh"] and rows["received"]["label_vi"]


def test_explain_lists_the_cases_of_a_figure(
    book: list, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = run(capsys, *PERIOD_ARGS, "--explain", "support.closed", "--json")
    assert code == 0
    listed = {c["case_ref"]: c["persons"] for c in json.loads(out)["cases"]}
    assert listed == history.expected_cases("support.closed")


def test_notice_is_written_and_passes_the_notice_check(
    book: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "q4.json"
    code, _out, _err = run(capsys, *PERIOD_ARGS, "--notice", str(path), "--recipient", "CN-GX-DXGA")
    assert code == 0
    assert main(["notice", "check", str(path)]) == 0
    notice = json.loads(path.read_text(encoding="utf-8"))
    assert notice["type"] == "statistics"
    assert notice["fields"]["period_start"] == {"date": "2026-10-01"}
    assert notice["header"]["recipient_unit"] == "CN-GX-DXGA"
    assert "cases " in notice["fields"]["discrepancies"]["text"]


def test_compare_names_the_case_only_this_side_counts_and_writes_the_reply(
    book: list, history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dropped = sorted(history.covered())[0]
    reply = tmp_path / "reply.json"
    svg = tmp_path / "charts"
    code, out, _err = run(
        capsys,
        "--offline",
        "--compare",
        "stat-counterpart",
        "--json",
        "--notice",
        str(reply),
        "--svg",
        str(svg),
    )
    assert code == 0
    result = json.loads(out)
    assert result["only_ours"] == [dropped]
    assert result["state"] == "disputed"
    disputed = {f["figure"] for f in result["figures"] if f["state"] == "disputed"}
    assert disputed and all(
        f["only_ours"] == [dropped] for f in result["figures"] if f["state"] == "disputed"
    )
    assert main(["notice", "check", str(reply)]) == 0
    notice = json.loads(reply.read_text(encoding="utf-8"))
    assert notice["fields"]["in_reply_to"] == "stat-counterpart-01"
    assert notice["fields"]["reconciliation"] == "disputed"
    assert notice["header"]["recipient_unit"] == VN_BORDER
    assert notice["header"]["their_ref"] == "BP/STAT/Q4"
    assert "disputed " in notice["fields"]["discrepancies"]["text"]
    assert sorted(p.name for p in svg.iterdir()) == [
        "categories.svg",
        "compare.svg",
        "gates.svg",
        "months.svg",
    ]
    months = (svg / "months.svg").read_text(encoding="utf-8")
    assert "tháng 10/2026" in months and "2026年10月" in months
    compare = ElementTree.parse(svg / "compare.svg").getroot()
    assert "≠" in "".join(compare.itertext())


def test_compare_text_is_bilingual(book: list, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(capsys, "--offline", "--compare", "stat-counterpart")
    assert code == 0
    assert "có chênh lệch" in out and "存在差异" in out
    assert "đồng bộ hóa số liệu" in out.lower() and "数据同步" in out


def test_charts_are_svg_with_escaped_text() -> None:
    svg = bar_chart(
        ["<script>alert(1)</script> & co"],
        [Series(('a"b',), "#000")],
        [Row(("x<y",), (3,))],
    )
    root = ElementTree.fromstring(svg)
    assert root.tag.endswith("svg")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert not list(root.iter("{http://www.w3.org/2000/svg}script"))


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--from", "2026-13-01", "--to", "2026-12-31"], "bad_date"),
        (["--from", "2026-12-31", "--to", "2026-10-01"], "period_reversed"),
        (["--from", "2026-10-01"], "missing_period"),
        ([], "missing_period"),
        (["--from", "2026-10-01", "--to", "2026-12-31", "--explain", "nonsense"], "unknown"),
        (["--from", "2026-10-01", "--to", "2026-12-31", "--agency", "nope"], "bad_agency"),
        (["--from", "2026-10-01", "--to", "2026-12-31", "--notice", "N"], "missing_recipient"),
        (
            [
                "--from",
                "2026-10-01",
                "--to",
                "2026-12-31",
                "--recipient",
                "CN-GX-DXGA",
                "--notice",
                "D/n.json",
            ],
            "bad_path",
        ),
    ],
)
def test_bad_input_is_refused_before_anything_is_loaded_or_written(
    book: list,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: str,
) -> None:
    argv = [
        {"N": str(tmp_path / "n.json"), "D/n.json": str(tmp_path / "d" / "n.json")}.get(a, a)
        for a in argv
    ]
    status, out, err = run(capsys, "--offline", *argv, "--svg", str(tmp_path / "svg"))
    assert status != 0
    assert err.startswith("Error: ") and out == ""
    assert book == []  # refused before the passphrase and the cases
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv",
    [
        [*PERIOD_ARGS, "--explain", "handed_over.at.nowhere"],
        ["--offline", "--compare", "no-such-message", "--notice", "N"],
        ["--offline", "--compare", "qn007m", "--notice", "N"],  # a prefix of many messages
    ],
)
def test_unknown_figure_or_message_is_refused_and_nothing_written(
    book: list, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    argv = [a if a != "N" else str(tmp_path / "n.json") for a in argv]
    status, out, err = run(capsys, *argv, "--svg", str(tmp_path / "svg"))
    assert status != 0
    assert err.startswith("Error: ") and out == ""
    assert list(tmp_path.iterdir()) == []


def test_compare_with_a_notice_of_another_type_is_refused(
    book: list, history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = history.logged()[0].message_id
    status, _out, err = run(capsys, "--offline", "--compare", other)
    assert status != 0 and "not periodic statistics" in err
