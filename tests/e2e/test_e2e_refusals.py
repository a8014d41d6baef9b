"""Clear refusals on the command line: missing pins, wrong fingerprints, bad input.

The refused commands change nothing, so the tests share one world (one relay, enrolled once);
the one test that pins and sends gets its own."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from e2e_relay import Cli, RelayThread, demo_world

from liaison.cli.demo import DEMO_PASSPHRASE, DemoContext
from liaison.client import messages, transparency, trust
from liaison.client.payload import Payload
from liaison.client.transport import ApiClient

ENV = {"LIAISON_PASSPHRASE": DEMO_PASSPHRASE}


@pytest.fixture(scope="module")
def enrolled(module_relay: RelayThread, tmp_path_factory: pytest.TempPathFactory) -> DemoContext:
    """Three agencies registered and four devices enrolled; no foreign root pinned yet."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIAISON_KDF_PROFILE", "test")
        return demo_world(module_relay, tmp_path_factory.mktemp("world"), "officers")


@pytest.fixture
def own_world(relay: RelayThread, tmp_path: Path) -> DemoContext:
    """The same, for a test that changes it."""
    return demo_world(relay, tmp_path / "world", "officers")


def home_of(ctx: DemoContext, name: str) -> str:
    return str(ctx.officers[name].root)


def test_sending_to_an_unpinned_agency_names_the_missing_pin_and_the_command(
    enrolled: DemoContext, cli: Cli
) -> None:
    home = enrolled.officers["an-phone"]
    size_before = transparency.stored_checkpoint(home).size
    result = cli(
        None,
        "send",
        "--to",
        "CN-GX-DXGA",
        "--text",
        "x",
        "--home",
        str(home.root),
        ok=False,
        **ENV,
    )
    assert result.returncode == 1
    assert "CN-GX-DXGA is not pinned" in result.stderr
    assert "liaison trust add CN-GX-DXGA FINGERPRINT" in result.stderr
    assert not (home.root / "messages").exists()
    assert transparency.stored_checkpoint(home).size == size_before


def test_trust_add_with_another_fingerprint_pins_nothing(enrolled: DemoContext, cli: Cli) -> None:
    home = home_of(enrolled, "an-phone")
    wrong = enrolled.fingerprints["VN-QN-BP"].safety_number
    result = cli(None, "trust", "add", "CN-GX-DXGA", wrong, "--home", home, ok=False, **ENV)
    assert result.returncode == 1
    assert "does not match the fingerprint" in result.stderr
    pins = json.loads(cli(None, "trust", "list", "--json", "--home", home, **ENV).stdout)
    assert [p["agency"] for p in pins] == ["VN-QN-CA"]


def test_trust_add_of_an_unregistered_agency_is_refused(enrolled: DemoContext, cli: Cli) -> None:
    result = cli(
        None,
        "trust",
        "add",
        "CN-YN-HK",
        "00000 00000",
        "--home",
        home_of(enrolled, "li"),
        ok=False,
        **ENV,
    )
    assert result.returncode == 1
    assert "CN-YN-HK is not registered" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["send", "--to", "vn-qn-ca", "--text", "x"], "is not an address"),
        (["read", "not-hex"], "Not a message id"),
        (["read", "abcdef"], "No message abcdef"),
        (["ack", "abcdef"], "No message abcdef"),
        (["send", "--to", "VN-QN-CA", "--file", "missing.txt"], "Cannot read missing.txt"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(
    enrolled: DemoContext, cli: Cli, args: list[str], message: str
) -> None:
    result = cli(None, *args, "--home", home_of(enrolled, "li"), ok=False, **ENV)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_wrong_passphrase_is_refused_without_changing_anything(
    enrolled: DemoContext, cli: Cli
) -> None:
    # Binh's home has not logged in yet (no cached token), so the inbox must unlock its keys.
    home = enrolled.officers["binh"]
    assert not (home.root / "token.json").exists()
    before = sorted(p.name for p in home.root.rglob("*"))
    result = cli(
        None,
        "inbox",
        "--home",
        str(home.root),
        ok=False,
        LIAISON_PASSPHRASE="not the passphrase",
    )
    assert result.returncode == 1
    assert "passphrase does not unlock" in result.stderr
    assert sorted(p.name for p in home.root.rglob("*")) == before


def test_a_certificate_for_another_device_is_refused(
    enrolled: DemoContext, cli: Cli, tmp_path: Path
) -> None:
    folder = cli.folder
    cli(
        "new",
        "officer",
        "init",
        "--agency",
        "VN-QN-CA",
        "--name",
        "Phạm Minh",
        "--server",
        enrolled.url,
        "-o",
        "minh.request",
    )
    other = json.loads((folder / "minh.request").read_text())
    other["device_id"] = "VN-QN-CA:pham.minh:stolen"
    (folder / "other.request").write_text(json.dumps(other))
    cli(
        None,
        "agency",
        "certify",
        "other.request",
        "-o",
        "other.cert",
        "--home",
        str(enrolled.admins["VN-QN-CA"].root),
        **ENV,
    )
    result = cli(
        "new",
        "officer",
        "activate",
        "other.cert",
        "--root-fingerprint",
        enrolled.fingerprints["VN-QN-CA"].safety_number,
        ok=False,
    )
    assert result.returncode == 1
    assert "not issued for this device" in result.stderr


def test_activation_refuses_a_root_that_does_not_match_the_fingerprint(
    enrolled: DemoContext, cli: Cli
) -> None:
    cli(
        "new",
        "officer",
        "init",
        "--agency",
        "VN-QN-CA",
        "--name",
        "Phạm Minh",
        "--server",
        enrolled.url,
        "-o",
        "minh.request",
    )
    cli(
        None,
        "agency",
        "certify",
        "minh.request",
        "-o",
        "minh.cert",
        "--home",
        str(enrolled.admins["VN-QN-CA"].root),
        **ENV,
    )
    wrong = enrolled.fingerprints["CN-GX-DXGA"].compact
    result = cli("new", "officer", "activate", "minh.cert", "--root-fingerprint", wrong, ok=False)
    assert result.returncode == 1
    assert "does not match the fingerprint" in result.stderr
    assert json.loads(cli("new", "officer", "status", "--json").stdout)["activated"] is False


def test_activation_against_another_relay_is_refused(
    enrolled: DemoContext, cli: Cli, tmp_path: Path
) -> None:
    impostor = RelayThread(tmp_path / "impostor")
    impostor.start()
    try:
        cli(
            "new",
            "officer",
            "init",
            "--agency",
            "VN-QN-CA",
            "--name",
            "Phạm Minh",
            "--server",
            impostor.url,
            "-o",
            "minh.request",
        )
        cli(
            None,
            "agency",
            "certify",
            "minh.request",
            "-o",
            "minh.cert",
            "--home",
            str(enrolled.admins["VN-QN-CA"].root),
            **ENV,
        )
        fingerprint = enrolled.fingerprints["VN-QN-CA"].safety_number
        result = cli(
            "new", "officer", "activate", "minh.cert", "--root-fingerprint", fingerprint, ok=False
        )
    finally:
        impostor.stop()
    assert result.returncode == 1
    assert "not the relay your agency registered with" in result.stderr


def test_reading_from_an_unpinned_agency_names_the_pin_then_opens_once_pinned(
    own_world: DemoContext, cli: Cli
) -> None:
    enrolled = own_world
    phone = enrolled.officers["an-phone"]
    cn_fingerprint = enrolled.fingerprints["CN-GX-DXGA"].compact

    async def pin_and_send() -> str:
        async with ApiClient(enrolled.url) as api:
            await trust.add(phone, api, "CN-GX-DXGA", cn_fingerprint)
            sent = await messages.send(phone, api, ["CN-GX-DXGA"], Payload.text("Xin chào"))
            return sent.message_id

    message_id = asyncio.run(pin_and_send())
    li = home_of(enrolled, "li")
    inbox = json.loads(cli(None, "inbox", "--json", "--home", li, **ENV).stdout)
    assert [(m["status"], m["problem"]) for m in inbox] == [("unverified", "missing_pin")]
    refused = cli(None, "read", message_id, "--home", li, ok=False, **ENV)
    assert refused.returncode == 1
    assert "liaison trust add VN-QN-CA FINGERPRINT" in refused.stderr

    vn_fingerprint = enrolled.fingerprints["VN-QN-CA"].safety_number
    cli(None, "trust", "add", "VN-QN-CA", vn_fingerprint, "--home", li, **ENV)
    opened = json.loads(cli(None, "read", message_id, "--json", "--home", li, **ENV).stdout)
    assert opened["text"] == "Xin chào"


def test_a_token_the_relay_no_longer_accepts_is_renewed(enrolled: DemoContext, cli: Cli) -> None:
    home = enrolled.officers["li"]
    home.write_json("token.json", {"token": "stale", "expires_at": 2**40, "server": enrolled.url})
    assert json.loads(cli(None, "inbox", "--json", "--home", str(home.root), **ENV).stdout) == []
    assert home.read_json("token.json")["token"] != "stale"
