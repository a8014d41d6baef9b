"""`liaison notice types|template|check`: listings, fillable templates, validation refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from liaison.cli import main
from liaison.domain.notices import NOTICE_TYPES, parse_notice


def test_types_json_lists_the_eleven_types(capsys):
    assert main(["notice", "types", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [entry["type"] for entry in listing] == list(NOTICE_TYPES)
    proposal = next(e for e in listing if e["type"] == "handover_proposal")
    assert {"name": "slot", "kind": "datetime", "required": True} in proposal["fields"]


@pytest.mark.parametrize("notice_type", NOTICE_TYPES)
def test_template_has_a_help_line_for_every_field(notice_type, capsys):
    assert main(["notice", "template", notice_type, "--lang", "vi"]) == 0
    template = json.loads(capsys.readouterr().out)
    assert template["type"] == notice_type
    for key in template["fields"]:
        assert f"fields.{key}" in template["_help"]
    for key in template["header"]:
        assert f"header.{key}" in template["_help"]
    assert template["_help"]["header.case_ref"].startswith("Số hồ sơ")
    # An optional field is marked in the officer's language (issue 12).
    assert template["_help"]["header.their_ref"].startswith("[không bắt buộc] ")


def test_template_marks_optional_fields_in_chinese(capsys):
    assert main(["notice", "template", "handover_proposal", "--lang", "zh"]) == 0
    template = json.loads(capsys.readouterr().out)
    assert template["_help"]["fields.vehicle"].startswith("[选填] ")
    assert "optional" not in json.dumps(template["_help"], ensure_ascii=False)


def test_filled_template_is_accepted_and_empty_one_refused_naming_the_field(tmp_path, capsys):
    main(["notice", "template", "receipt_ack"])
    template = json.loads(capsys.readouterr().out)
    path = tmp_path / "ack.json"
    path.write_text(json.dumps(template), encoding="utf-8")
    assert main(["notice", "check", str(path)]) == 1
    assert "header.our_ref" in capsys.readouterr().err
    template["header"].update(
        our_ref="7/TB",
        case_ref="QN-1",
        handling="H0",
        priority="normal",
        recipient_unit="CN-GX-DXGA",
    )
    template["fields"].update(
        received="message", received_at={"utc": "2026-12-01T02:00:00Z", "tz": "Asia/Shanghai"}
    )
    path.write_text(json.dumps(template), encoding="utf-8")
    assert main(["notice", "check", str(path)]) == 0
    assert parse_notice(path.read_bytes()).fields["received"] == "message"


def test_unknown_type_is_refused(capsys):
    assert main(["notice", "template", "postcard"]) == 1
    assert "postcard" in capsys.readouterr().err


def test_render_prints_both_languages_and_writes_printable_html(tmp_path, capsys):
    source = (
        Path(__file__).resolve().parent.parent / "golden" / "notices" / "handover_proposal.json"
    )
    assert main(["notice", "render", str(source), "--lang", "both"]) == 0
    out = capsys.readouterr().out
    assert out.index("=== Tiếng Việt ===") < out.index("=== 中文 ===")
    target = tmp_path / "proposal.html"
    assert main(["notice", "render", str(source), "--html", str(target)]) == 0
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "移交提议" in page and "Đề nghị bàn giao" in page


def test_check_of_a_missing_file_is_refused(tmp_path, capsys):
    assert main(["notice", "check", str(tmp_path / "absent.json")]) == 1
    assert "absent.json" in capsys.readouterr().err


# --- attachment indexes: `--file` in the order the notice counts them -----------------------
REQUEST = (
    Path(__file__).resolve().parent.parent / "golden" / "notices" / "verification_request.json"
)


def _files(tmp_path: Path) -> list[str]:
    photo = tmp_path / "lo thi mai.jpg"
    photo.write_bytes(b"\xff\xd8" + bytes(1000))
    letter = tmp_path / "giay-gioi-thieu.pdf"
    letter.write_bytes(b"%PDF-1.4\n" + bytes(2000))
    return [str(photo), str(letter)]


def test_check_refuses_an_index_without_its_file_and_accepts_it_with(tmp_path, capsys):
    photo, letter = _files(tmp_path)
    # The notice names attachments 0 and 1: with one file, index 1 has no attachment.
    assert main(["notice", "check", str(REQUEST), "--file", photo]) == 1
    err = capsys.readouterr().err
    assert "fields.attachments[0]: the message has no attachment 1" in err
    assert main(["notice", "check", str(REQUEST)]) == 1
    assert "fields.persons[0].photo" in capsys.readouterr().err
    assert main(["notice", "check", str(REQUEST), "--file", photo, "--file", letter]) == 0


def test_check_refusal_is_worded_in_the_officer_language(tmp_path, capsys, monkeypatch):
    photo, _letter = _files(tmp_path)
    monkeypatch.setenv("LIAISON_LANG", "zh")
    assert main(["notice", "check", str(REQUEST), "--file", photo]) == 1
    assert "该消息没有附件1" in capsys.readouterr().err


def test_render_shows_the_file_name_of_each_index(tmp_path, capsys):
    photo, letter = _files(tmp_path)
    args = ["notice", "render", str(REQUEST), "--lang", "vi", "--file", photo, "--file", letter]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "lo thi mai.jpg (image/jpeg, 1.002 byte)" in out
    assert "giay-gioi-thieu.pdf (application/pdf, 2.009 byte)" in out
    target = tmp_path / "request.html"
    assert main([*args, "--html", str(target)]) == 0
    assert "giay-gioi-thieu.pdf" in target.read_text(encoding="utf-8")
