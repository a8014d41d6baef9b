"""Notices over a real relay, through the command line: send, read, search, forward, export."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from liaison.cli.demo.tour import DEMO_PASSPHRASE, DemoContext
from liaison.client import messages, notices
from liaison.client.payload import Payload
from liaison.client.transport import ApiClient
from liaison.domain.notices import HANDLING_CODES, parse_notice
from liaison.i18n import gettext_for
from tests.e2e.e2e_relay import Cli, RelayThread, demo_world
from tests.i18n.test_pdf import pdf_pages, require_pdf, squash

ENV = {"LIAISON_PASSPHRASE": DEMO_PASSPHRASE}
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "notices"


@pytest.fixture
def world(relay: RelayThread, tmp_path: Path) -> DemoContext:
    """Three agencies, four devices, every foreign root pinned (the demo's first steps)."""
    return demo_world(relay, tmp_path / "world", "pins")


class Officer:
    """One enrolled officer's home, driven through `python -m liaison` subprocesses."""

    def __init__(self, cli: Cli, world: DemoContext, name: str) -> None:
        self.cli, self.home = cli, str(world.officers[name].root)

    def __call__(self, *args: str, ok: bool = True, lang: str = "en"):
        return self.cli(None, *args, "--home", self.home, ok=ok, LIAISON_LANG=lang, **ENV)

    def send_notice(self, path: Path, *to: str, files: tuple[Path, ...] = ()) -> str:
        targets = [arg for code in to for arg in ("--to", code)]
        attached = [arg for file in files for arg in ("--file", str(file))]
        return json.loads(
            self("send", *targets, "--notice", str(path), *attached, "--json").stdout
        )["message_id"]

    def read_json(self, message_id: str) -> dict:
        return json.loads(self("read", message_id, "--json").stdout)


def golden(tmp_path: Path, name: str, *, attachments: bool = False, **header: str) -> Path:
    """A golden notice file, with header values replaced (e.g. the handling code); without
    its attachment indexes unless `attachments` (the message then needs the two files)."""
    data = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    data["header"].update(header)
    if not attachments:
        data["fields"].pop("photos", None)
        data["fields"].pop("attachments", None)
        for person in data["fields"].get("persons", []):
            person.pop("photo", None)
    path = tmp_path / f"{name}-{'-'.join(header.values()) or 'as-is'}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def log_size(relay: RelayThread) -> int:
    with relay.database() as db:
        return int(db.execute("SELECT COUNT(*) FROM log_entries").fetchone()[0])


@pytest.fixture
def an(cli: Cli, world: DemoContext) -> Officer:
    return Officer(cli, world, "an-phone")


@pytest.fixture
def li(cli: Cli, world: DemoContext) -> Officer:
    return Officer(cli, world, "li")


@pytest.fixture
def binh(cli: Cli, world: DemoContext) -> Officer:
    return Officer(cli, world, "binh")


@pytest.mark.slow
def test_notice_read_back_by_the_counterpart_is_identical_and_renders_in_both_languages(
    an: Officer, li: Officer, tmp_path: Path
) -> None:
    path = golden(tmp_path, "verification_request", attachments=True)
    photo, letter = tmp_path / "lo-thi-mai.jpg", tmp_path / "giay-gioi-thieu.pdf"
    photo.write_bytes(b"\xff\xd8" + bytes(3000))
    letter.write_bytes(b"%PDF-1.4\n" + bytes(5000))
    # Indexes 0 and 1 need two files: with one, the notice is refused before anything is sealed.
    refused = an(
        "send", "--to", "CN-GX-DXGA", "--notice", str(path), "--file", str(photo), ok=False
    )
    assert "fields.attachments[0]: the message has no attachment 1" in refused.stderr
    message_id = an.send_notice(path, "CN-GX-DXGA", files=(photo, letter))

    opened = li.read_json(message_id)
    assert opened["content_type"] == "application/vnd.liaison.notice+json"
    sent = parse_notice(path.read_bytes())
    assert parse_notice(opened["notice"]).to_dict() == sent.to_dict()
    assert opened["message_id"] == message_id

    both = li("read", message_id, "--lang", "both").stdout
    for locale in ("vi", "zh_Hans_CN"):
        assert gettext_for(locale, sent.spec().label) in both
        assert gettext_for(locale, "Message id") in both
    assert message_id in both and "Lò Thị Mai" in both and "中文译名（音）：罗氏梅\n" in both
    # Both zones by label and offset; the IANA ids stay in the data (--json), not in print.
    assert "（北京时间，UTC+8）" in both and "(giờ Việt Nam, UTC+7)" in both
    assert "Asia/" not in both
    # An attachment index shows the file it names, in both languages.
    assert "Ảnh (1/1): lo-thi-mai.jpg (image/jpeg, 3.002 byte)" in both
    assert "附件（1/1）：giay-gioi-thieu.pdf（application/pdf，5,009 字节）" in both
    # Default language: the officer's own (LIAISON_LANG).
    in_chinese = li("read", message_id, lang="zh").stdout
    assert gettext_for("zh_Hans_CN", sent.spec().label) in in_chinese
    assert gettext_for("vi", sent.spec().label) not in in_chinese

    page = tmp_path / "notice.html"
    li("read", message_id, "--lang", "both", "--html", str(page))
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    for locale in ("vi", "zh_Hans_CN"):
        assert gettext_for(locale, sent.spec().label) in html
        assert gettext_for(locale, HANDLING_CODES["H1"]) in html


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_bad_notice_is_refused_before_sealing_and_the_server_is_unchanged(
    an: Officer, relay: RelayThread, tmp_path: Path, lang: str
) -> None:
    data = json.loads((GOLDEN / "verification_request.json").read_text(encoding="utf-8"))
    data["fields"]["persons"][0]["sex"] = "f"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    before = log_size(relay)
    home = Path(an.home)
    counter = (home / "counter.json").read_bytes() if (home / "counter.json").exists() else None

    result = an("send", "--to", "CN-GX-DXGA", "--notice", str(bad), ok=False, lang=lang)

    assert result.returncode == 1
    expected = gettext_for(lang, "{field}: must be one of {choices}").format(
        field="fields.persons[0].sex", choices="female, male, unknown"
    )
    assert expected in result.stderr
    assert log_size(relay) == before
    assert not (home / "messages").exists()
    after = (home / "counter.json").read_bytes() if (home / "counter.json").exists() else None
    assert after == counter


def test_notice_naming_another_sender_unit_is_refused_before_sealing(
    li: Officer, relay: RelayThread, tmp_path: Path
) -> None:
    before = log_size(relay)
    # The Vietnamese request, sent from the Chinese officer's device.
    result = li(
        "send",
        "--to",
        "CN-GX-DXGA",
        "--notice",
        str(golden(tmp_path, "verification_request")),
        ok=False,
    )
    assert result.returncode == 1
    assert "header.sender_unit is VN-QN-CA, but this device belongs to CN-GX-DXGA" in result.stderr
    assert log_size(relay) == before


@pytest.mark.slow
def test_inbox_search_finds_notices_and_text_with_and_without_diacritics(
    an: Officer, li: Officer, binh: Officer, world: DemoContext, tmp_path: Path
) -> None:
    proposal = li.send_notice(golden(tmp_path, "handover_proposal"), "VN-QN-BP")

    async def text_message() -> str:
        async with ApiClient(world.url) as api:
            sent = await messages.send(
                world.officers["an-phone"],
                api,
                ["VN-QN-BP"],
                Payload.text("Hẹn gặp tại cầu Bắc Luân lúc 9 giờ"),
            )
            return sent.message_id

    text = asyncio.run(text_message())

    # The command line once (it syncs), then the same search in-process for the variants.
    listing = json.loads(binh("inbox", "--search", "Nguyen Thi Hoa", "--json").stdout)
    assert [m["message_id"] for m in listing] == [proposal]

    def found(query: str) -> list[str]:
        async def search() -> list[str]:
            async with ApiClient(world.url) as api:
                result = await notices.search(world.officers["binh"], api, query)
            assert result.unopened == []
            return [record["message_id"] for record, _notice in result.hits]

        return asyncio.run(search())

    assert found("nguyễn thị hoa") == [proposal]
    assert found("NGUYÊN THI") == [proposal]  # a wrong diacritic still folds to the same word
    assert found("bac luan") == [text]
    assert found("Bắc Luân") == [text]
    assert found("Trần Văn") == []
    assert sorted(found("")) == sorted([proposal, text])
    listing = binh("inbox", "--search", "Nguyen Thi").stdout
    assert proposal in listing and "QN-2026-0117" in listing and "H2" in listing
    # Searching decrypts in memory: nothing is marked read, and no plaintext lands on disk.
    statuses = {m["message_id"]: m["status"] for m in json.loads(binh("inbox", "--json").stdout)}
    assert set(statuses.values()) == {"new"}
    for file in Path(binh.home).rglob("*"):
        if file.is_file():
            assert "Nguyễn Thị Hoa".encode() not in file.read_bytes()


@pytest.mark.slow
def test_h2_notice_is_neither_forwarded_beyond_its_units_nor_exported(
    an: Officer, li: Officer, relay: RelayThread, tmp_path: Path
) -> None:
    notice_file = golden(tmp_path, "handover_proposal", recipient_unit="VN-QN-CA")
    message_id = li.send_notice(notice_file, "VN-QN-CA")
    assert parse_notice(an.read_json(message_id)["notice"]).handling == "H2"
    before = log_size(relay)

    refused = an("forward", message_id, "--to", "VN-QN-BP", ok=False, lang="vi")
    assert refused.returncode == 1
    message = gettext_for(
        "vi",
        "Handling code H2: this notice may not be passed on without the provider's "
        "permission (not an original recipient: {recipients})",
    )
    assert message.format(recipients="VN-QN-BP") in refused.stderr
    assert log_size(relay) == before

    for args in (
        ("export", message_id, "-o", str(tmp_path / "out.json")),
        ("export", message_id, "-o", str(tmp_path / "out.html")),
        ("read", message_id, "-o", str(tmp_path / "raw.json")),
        ("read", message_id, "--html", str(tmp_path / "page.html")),
        ("read", message_id, "--pdf", str(tmp_path / "document.pdf")),
    ):
        result = an(*args, ok=False)
        assert result.returncode == 1, args
        assert "Handling code H2" in result.stderr and "exported" in result.stderr
    written = sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".json", ".html", ".pdf"))
    assert written == [notice_file.name]
    # Back to its provider (a unit it already names) it may still be passed on.
    an("forward", message_id, "--to", "CN-GX-DXGA")
    assert log_size(relay) == before + 1


@pytest.mark.slow
def test_h0_notice_is_forwarded_as_a_new_notice_and_exported(
    an: Officer, li: Officer, binh: Officer, tmp_path: Path
) -> None:
    original = parse_notice(golden(tmp_path, "verification_result").read_bytes())
    message_id = li.send_notice(golden(tmp_path, "verification_result"), "VN-QN-CA")

    forwarded = json.loads(an("forward", message_id, "--to", "VN-QN-BP", "--json").stdout)
    assert forwarded["forwarded_from"] == message_id
    notice = parse_notice(binh.read_json(forwarded["message_id"])["notice"])
    assert notice.fields == original.fields
    assert notice.header["sender_unit"] == "VN-QN-CA"
    assert notice.header["recipient_unit"] == "VN-QN-BP"
    assert notice.header["forwarded_from"] == {
        "message_id": message_id,
        "sender_unit": "CN-GX-DXGA",
        "our_ref": original.header["our_ref"],
    }
    assert "their_ref" not in notice.header
    shown = binh("read", forwarded["message_id"], "--lang", "vi").stdout
    assert gettext_for("vi", "Forwarded from") in shown and message_id in shown

    exported = tmp_path / "export.json"
    an("export", message_id, "-o", str(exported))
    assert parse_notice(exported.read_bytes()) == original


def test_h1_export_carries_the_not_as_evidence_banner(
    an: Officer, li: Officer, tmp_path: Path
) -> None:
    message_id = an.send_notice(golden(tmp_path, "verification_request"), "CN-GX-DXGA")
    out = tmp_path / "request.txt"
    li("export", message_id, "-o", str(out))
    text = out.read_text(encoding="utf-8")
    banner = text.split("\n\n")[0]
    for locale in ("vi", "zh_Hans_CN"):
        assert gettext_for(locale, HANDLING_CODES["H1"]) in banner
    assert "Lò Thị Mai" in text


@pytest.mark.slow
def test_read_writes_the_signable_document_as_pdf(an: Officer, li: Officer, tmp_path: Path) -> None:
    require_pdf()
    message_id = an.send_notice(golden(tmp_path, "verification_request"), "CN-GX-DXGA")
    document = tmp_path / "request.pdf"
    result = li("read", message_id, "--pdf", str(document), lang="zh")
    assert document.read_bytes().startswith(b"%PDF")
    assert str(document) in result.stderr
    text = squash("".join(pdf_pages(document.read_bytes(), tmp_path)))
    # The letter form in both columns, the decision-free title, the counterpart's number cited.
    for phrase in ("Kínhgửi:", "身份和国籍核实请求", "Lò Thị Mai".replace(" ", ""), "泰族"):
        assert phrase in text
    assert "Asia/" not in text and "名称待核实" not in text

    # The case's notices as one PDF: the case reference on every page.
    case_pdf = tmp_path / "case.pdf"
    li("case", "show", "QN-2026-0117", "--pdf", str(case_pdf))
    pages = pdf_pages(case_pdf.read_bytes(), tmp_path)
    assert all("QN-2026-0117" in page for page in pages)
    assert "身份和国籍核实请求" in squash("".join(pages))

    # An H2 notice of the case refuses the whole export.
    an.send_notice(golden(tmp_path, "rescue_request"), "CN-GX-DXGA")
    refused = li("case", "show", "QN-2026-0117", "--pdf", str(tmp_path / "h2.pdf"), ok=False)
    assert refused.returncode == 1 and "H2" in refused.stderr
    assert not (tmp_path / "h2.pdf").exists()
