"""The whole command-line walk-through, as subprocesses, between agencies of two countries, on a
relay over SQLite and over PostgreSQL."""

from __future__ import annotations

import json

import pytest

from crypto.encoding import b64e
from liaison.client.home import Home
from tests.e2e.e2e_relay import PASSPHRASE, Cli, RelayThread

VN_TEXT = "Đề nghị xác minh nhân thân: Nguyễn Thị Hoa, sinh năm 2007"
ZH_TEXT = "核实结果：已确认身份，拟于东兴口岸交接"


@pytest.mark.slow
def test_two_countries_enrol_pin_exchange_watch_and_audit(any_relay: RelayThread, cli: Cli) -> None:
    relay = any_relay
    folder = cli.folder
    server, token = relay.url, relay.admin_token

    # Agency administrators create roots and register them with the operator's token.
    cli.sh(
        "vn-admin",
        "agency init --code VN-QN-CA --country VN "
        "--name-vi 'Công an tỉnh Quảng Ninh' --name-zh 广宁省公安厅",
    )
    cli.sh(
        "cn-admin",
        "agency init --code CN-GX-DXGA --country CN "
        "--name-vi 'Công an thành phố Đông Hưng' --name-zh 东兴市公安局",
    )
    for admin in ("vn-admin", "cn-admin"):
        cli.sh(admin, f"agency register --server {server} --admin-token {token}")
    fp = {
        code: json.loads(cli.sh(admin, "agency fingerprint --json").stdout)
        for code, admin in (("VN-QN-CA", "vn-admin"), ("CN-GX-DXGA", "cn-admin"))
    }
    assert len(fp["VN-QN-CA"]["safety_number"].split()) == 6

    # Officers create device keys and a request; the administrator certifies; the officer
    # activates after checking the root fingerprint the administrator showed.
    cli.sh(
        "an",
        f"officer init --agency VN-QN-CA --name 'Nguyễn Văn An' --server {server} -o an.request",
    )
    cli.sh(
        "li",
        f"officer init --agency CN-GX-DXGA --name 'Li Wei' --name-zh 李伟 "
        f"--officer-id li.wei --server {server} -o li.request",
    )
    cli.sh("vn-admin", "agency certify an.request --role officer -o an.cert")
    cli.sh("cn-admin", "agency certify li.request --role supervisor -o li.cert")
    cli.sh("an", f"officer activate an.cert --root-fingerprint '{fp['VN-QN-CA']['safety_number']}'")
    cli.sh("li", f"officer activate li.cert --root-fingerprint {fp['CN-GX-DXGA']['compact']}")

    # Pins in both directions, by the fingerprints exchanged in person.
    cli.sh("an", f"trust add CN-GX-DXGA '{fp['CN-GX-DXGA']['safety_number']}'")
    cli.sh("li", f"trust add VN-QN-CA {fp['VN-QN-CA']['compact']}")
    pins = json.loads(cli.sh("an", "trust list --json").stdout)
    assert {p["agency"]: p["how"] for p in pins} == {
        "VN-QN-CA": "enrolment",
        "CN-GX-DXGA": "in-person",
    }

    # Li watches; An sends; the message shows up on Li's terminal as it arrives.
    watcher = cli.popen("li", "watch", "--count", "1")
    try:
        assert "Watching" in watcher.stderr.readline()
        sent_out = cli("an", "send", "--to", "CN-GX-DXGA", "--text", VN_TEXT, "--json").stdout
        sent = json.loads(sent_out)
        out, err = watcher.communicate(timeout=60)
    finally:
        watcher.kill()
    assert watcher.returncode == 0, err
    assert VN_TEXT in out and sent["message_id"] in out
    assert sent["review_agencies"] == ["CN-GX-DXGA", "VN-QN-CA"]

    inbox = json.loads(cli.sh("li", "inbox --json").stdout)
    assert [m["message_id"] for m in inbox] == [sent["message_id"]]
    assert inbox[0]["sender_device"].startswith("VN-QN-CA:nguyen.van.an:")
    assert "envelope" not in inbox[0]
    read = json.loads(cli.sh("li", f"read {sent['message_id'][:10]} --json").stdout)
    assert read["text"] == VN_TEXT
    cli.sh("li", f"ack {sent['message_id']}")
    assert json.loads(cli.sh("li", "inbox --json --unacknowledged").stdout) == []

    # The reply goes the other way, with a file attached, to one named officer.
    (folder / "reply.txt").write_text(ZH_TEXT, encoding="utf-8")
    reply = json.loads(
        cli.sh("li", "send --to VN-QN-CA/nguyen.van.an --file reply.txt --json").stdout
    )
    shown = cli.sh("an", f"read {reply['message_id']} --save saved").stdout
    assert "reply.txt" in shown and "Li Wei" in shown
    assert (folder / "saved" / "reply.txt").read_text(encoding="utf-8") == ZH_TEXT

    # The relay's database holds neither text nor any private key, raw or in base64.
    dump = relay.dump()
    assert sent["message_id"].encode() in dump  # the dump does hold what the relay stored
    for marker in (VN_TEXT, ZH_TEXT, "Nguyễn Thị Hoa", "东兴口岸"):
        assert marker.encode() not in dump
    for home in ("an", "li"):
        secret = Home(folder / home, passphrase=lambda confirm: PASSPHRASE).unlock_secret(
            "device/device.key"
        )
        for half in (secret[:32], secret[32:]):
            assert half not in dump and b64e(half).encode() not in dump

    # Nothing readable is cached at rest, and both officers' audits pass.
    for home in ("an", "li"):
        cached = b"".join(p.read_bytes() for p in (folder / home / "messages").glob("*.json"))
        assert VN_TEXT.encode() not in cached and ZH_TEXT.encode() not in cached
        audit = json.loads(cli.sh(home, "audit verify --json").stdout)
        assert audit["ok"] and audit["messages_checked"] == 2
