"""Clear refusals on the command line: missing pins, wrong fingerprints, bad input.

The refused commands change nothing, so the tests share one world (one relay, enrolled once);
the one test that pins and sends gets its own."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from liaison.cli.demo.tour import DemoContext
from liaison.client import messages, transparency, trust
from liaison.client.payload import Payload
from liaison.client.transport import ApiClient
from tests.e2e.e2e_relay import Cli, RelayThread, demo_world


@pytest.fixture(scope="module")
def enrolled(module_relay: RelayThread, tmp_path_factory: pytest.TempPathFactory) -> DemoContext:
    """Three agencies registered and four devices enrolled; no foreign root pinned yet."""
    return demo_world(module_relay, tmp_path_factory.mktemp("world"), "officers")


@pytest.fixture
def own_world(relay: RelayThread, tmp_path: Path) -> DemoContext:
    """The same, for a test that changes it."""
    return demo_world(relay, tmp_path / "world", "officers")


def test_sending_to_an_unpinned_agency_names_the_missing_pin_and_the_command(
    enrolled: DemoContext, cli: Cli
) -> None:
    home = enrolled.officers["an-phone"]
    size_before = transparency.stored_checkpoint(home).size
    result = cli.at(home, "send", "--to", "CN-GX-DXGA", "--text", "x", ok=False)
    assert result.returncode == 1
    assert "CN-GX-DXGA is not pinned" in result.stderr
    assert "liaison trust add CN-GX-DXGA FINGERPRINT" in result.stderr
    assert not (home.root / "messages").exists()
    assert transparency.stored_checkpoint(home).size == size_before


def test_trust_add_with_another_fingerprint_pins_nothing(enrolled: DemoContext, cli: Cli) -> None:
    home = enrolled.officers["an-phone"]
    wrong = enrolled.fingerprints["VN-QN-BP"].safety_number
    result = cli.at(home, "trust", "add", "CN-GX-DXGA", wrong, ok=False)
    assert result.returncode == 1
    assert "does not match the fingerprint" in result.stderr
    pins = json.loads(cli.at(home, "trust", "list", "--json").stdout)
    assert [p["agency"] for p in pins] == ["VN-QN-CA"]


def test_trust_add_of_an_unregistered_agency_is_refused(enrolled: DemoContext, cli: Cli) -> None:
    result = cli.at(enrolled.officers["li"], "trust", "add", "CN-YN-HK", "00000 00000", ok=False)
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
    result = cli.at(enrolled.officers["li"], *args, ok=False)
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
    result = cli.at(home, "inbox", ok=False, LIAISON_PASSPHRASE="not the passphrase")
    assert result.returncode == 1
    assert "passphrase does not unlock" in result.stderr
    assert sorted(p.name for p in home.root.rglob("*")) == before


def certify_new_officer(
    cli: Cli, enrolled: DemoContext, server: str, edit: Callable[[dict], None] | None = None
) -> str:
    """A new officer home "new" asks VN-QN-CA for a certificate on `server` and its
    administrator issues it (for the request as `edit` changed it); the certificate's file."""
    cli.sh(
        "new", f"officer init --agency VN-QN-CA --name 'Phạm Minh' --server {server} -o new.request"
    )
    if edit is not None:
        request = json.loads((cli.folder / "new.request").read_text())
        edit(request)
        (cli.folder / "new.request").write_text(json.dumps(request))
    cli.at(enrolled.admins["VN-QN-CA"], "agency", "certify", "new.request", "-o", "new.cert")
    return "new.cert"


def activate(cli: Cli, cert: str, fingerprint: str) -> subprocess.CompletedProcess[str]:
    return cli("new", "officer", "activate", cert, "--root-fingerprint", fingerprint, ok=False)


def test_a_certificate_for_another_device_is_refused(enrolled: DemoContext, cli: Cli) -> None:
    def other_device(request: dict) -> None:
        request["device_id"] = "VN-QN-CA:pham.minh:stolen"

    cert = certify_new_officer(cli, enrolled, enrolled.url, other_device)
    result = activate(cli, cert, enrolled.fingerprints["VN-QN-CA"].safety_number)
    assert result.returncode == 1
    assert "not issued for this device" in result.stderr


def test_activation_refuses_a_root_that_does_not_match_the_fingerprint(
    enrolled: DemoContext, cli: Cli
) -> None:
    cert = certify_new_officer(cli, enrolled, enrolled.url)
    result = activate(cli, cert, enrolled.fingerprints["CN-GX-DXGA"].compact)
    assert result.returncode == 1
    assert "does not match the fingerprint" in result.stderr
    assert json.loads(cli("new", "officer", "status", "--json").stdout)["activated"] is False


def test_activation_against_another_relay_is_refused(
    enrolled: DemoContext, cli: Cli, tmp_path: Path
) -> None:
    impostor = RelayThread(tmp_path / "impostor")
    impostor.start()
    try:
        cert = certify_new_officer(cli, enrolled, impostor.url)
        result = activate(cli, cert, enrolled.fingerprints["VN-QN-CA"].safety_number)
    finally:
        impostor.stop()
    assert result.returncode == 1
    assert "not the relay your agency registered with" in result.stderr


@pytest.mark.slow
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
    li = enrolled.officers["li"]
    inbox = json.loads(cli.at(li, "inbox", "--json").stdout)
    assert [(m["status"], m["problem"]) for m in inbox] == [("unverified", "missing_pin")]
    refused = cli.at(li, "read", message_id, ok=False)
    assert refused.returncode == 1
    assert "liaison trust add VN-QN-CA FINGERPRINT" in refused.stderr

    vn_fingerprint = enrolled.fingerprints["VN-QN-CA"].safety_number
    cli.at(li, "trust", "add", "VN-QN-CA", vn_fingerprint)
    opened = json.loads(cli.at(li, "read", message_id, "--json").stdout)
    assert opened["text"] == "Xin chào"


def test_a_token_the_relay_no_longer_accepts_is_renewed(enrolled: DemoContext, cli: Cli) -> None:
    home = enrolled.officers["li"]
    home.write_json("token.json", {"token": "stale", "expires_at": 2**40, "server": enrolled.url})
    assert json.loads(cli.at(home, "inbox", "--json").stdout) == []
    assert home.read_json("token.json")["token"] != "stale"
