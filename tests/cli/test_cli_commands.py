"""The client command groups: every command and option documented, listings speak JSON, and
building the parser stays cheap."""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from liaison.cli import build_parser, main
from liaison.cli._common import complete
from liaison.client.home import Home

CLIENT_COMMANDS = {
    ("agency", "init"),
    ("agency", "register"),
    ("agency", "fingerprint"),
    ("agency", "certify"),
    ("agency", "revoke"),
    ("agency", "devices"),
    ("officer", "init"),
    ("officer", "activate"),
    ("officer", "status"),
    ("trust", "add"),
    ("trust", "list"),
    ("send",),
    ("inbox",),
    ("read",),
    ("ack",),
    ("watch",),
    ("audit", "verify"),
    ("demo",),
}
LISTINGS = {
    ("agency", "fingerprint"),
    ("agency", "devices"),
    ("trust", "list"),
    ("inbox",),
    ("officer", "status"),
}


def subcommands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from subcommands(sub, (*prefix, name))
            return
    yield prefix, parser


def commands() -> dict[tuple[str, ...], argparse.ArgumentParser]:
    return {path: p for path, p in subcommands(build_parser()) if path in CLIENT_COMMANDS}


def test_every_client_command_is_registered() -> None:
    assert set(commands()) == CLIENT_COMMANDS


@pytest.mark.parametrize("path", sorted(CLIENT_COMMANDS))
def test_every_option_has_help(path: tuple[str, ...]) -> None:
    parser = commands()[path]
    for action in parser._actions:
        assert action.help, f"{' '.join(path)}: {action.dest} has no help"
    if path != ("demo",):
        assert any(a.dest == "home" for a in parser._actions)


@pytest.mark.parametrize("path", sorted(LISTINGS))
def test_listings_take_json(path: tuple[str, ...]) -> None:
    assert any(a.dest == "json" for a in commands()[path]._actions)


def test_empty_inbox_offline_is_an_empty_json_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inbox", "--offline", "--json", "--home", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_fingerprint_without_agency_is_a_clear_refusal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["agency", "fingerprint", "--home", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "liaison agency init" in err


def test_agency_init_refuses_a_code_of_another_country(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIAISON_PASSPHRASE", "pw")
    monkeypatch.setenv("LIAISON_KDF_PROFILE", "test")
    args = ["agency", "init", "--code", "VN-QN-CA", "--country", "CN", "--name-vi", "a"]
    assert main([*args, "--name-zh", "b", "--home", str(tmp_path)]) == 1
    assert "does not start with its country" in capsys.readouterr().err
    assert not (tmp_path / "agency").exists()


def test_agency_init_then_fingerprint_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIAISON_PASSPHRASE", "pw")
    monkeypatch.setenv("LIAISON_KDF_PROFILE", "test")
    args = ["agency", "init", "--code", "CN-GX-DXGA", "--country", "CN", "--name-vi", "Đông Hưng"]
    assert main([*args, "--name-zh", "东兴市公安局", "--home", str(tmp_path), "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert main(["agency", "fingerprint", "--json", "--home", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out) == created
    seed = Home(tmp_path, passphrase=lambda confirm: "pw").unlock_secret("agency/root.key")
    stored = (tmp_path / "agency" / "root.key").read_bytes()
    assert seed not in stored and base64.b64encode(seed) not in stored


# Every `liaison` call builds the whole parser: these libraries must wait for the command
# that needs them (the network client, PyNaCl, storage, the notice catalogue, the event loop).
HEAVY_MODULES = ("aiohttp", "nacl", "sqlalchemy", "icalendar", "asyncio", "liaison.domain")
# liaison.i18n re-exports the domain's message value and `N_` marker: two small standard-library
# classes and functions, not the catalogue.
LIGHT_DOMAIN_MODULES = {"liaison.domain", "liaison.domain.messages"}


def test_building_the_parser_imports_no_heavy_library() -> None:
    probe = "import json, sys; from liaison.cli import build_parser; build_parser(); "
    probe += "print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout)
    heavy = [
        m
        for m in loaded
        if (m.split(".")[0] in HEAVY_MODULES or m.startswith(HEAVY_MODULES))
        and m not in LIGHT_DOMAIN_MODULES
    ]
    assert heavy == []
    assert "liaison.client.transport" not in loaded


def test_every_option_of_every_command_has_help_once_completed() -> None:
    paths = dict(subcommands(complete(build_parser())))
    assert ("handover", "propose") in paths and ("export",) in paths
    for path, parser in paths.items():
        for action in parser._actions:
            assert action.help, f"{' '.join(path)}: {action.dest} has no help"


def test_commands_whose_options_wait_are_parsed_in_full() -> None:
    args = build_parser().parse_args(["handover", "cancel", "3fa2", "--reason-code", "weather"])
    assert (args.step, args.handover, args.handling) == ("cancel", "3fa2", "H2")
    args = build_parser().parse_args(["export", "3fa2", "-o", "-", "--format", "html"])
    assert (args.message_id, args.format, args.lang) == ("3fa2", "html", "both")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["handover", "propose", "--tz", "Europe/Paris"])


def test_send_without_content_names_every_content_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["send", "--to", "CN-GX-DXGA", "--home", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert all(option in err for option in ("--text", "--file", "--notice"))
