"""`liaison agency devices`: the administrator finds a device id and its status without the
request file; a revocation shows, including one the home did not record itself."""

from __future__ import annotations

import json
from pathlib import Path

from liaison.cli.demo.tour import DEMO_PASSPHRASE
from liaison.client import agency as agency_ops
from liaison.client import officer
from liaison.client.home import Home
from tests.e2e.e2e_relay import Cli, RelayThread, demo_world


def _listed(cli: Cli, admin: Home, *extra: str) -> dict[str, dict[str, object]]:
    out = cli.at(admin, "agency", "devices", "--json", *extra).stdout
    return {item["device_id"]: item for item in json.loads(out)}


def test_devices_lists_status_fingerprint_and_revocation(
    relay: RelayThread, cli: Cli, tmp_path: Path
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "officers")
    admin = ctx.admins["VN-QN-CA"]
    phone = officer.own_certificate(ctx.officers["an-phone"])
    laptop = officer.own_certificate(ctx.officers["an-laptop"])
    # A third request, certified but never activated on the relay.
    extra = Home(tmp_path / "extra", passphrase=lambda confirm: DEMO_PASSPHRASE)
    request = officer.init_officer(
        extra,
        agency="VN-QN-CA",
        name_vi="Phạm Văn Cường",
        name_zh="范文强（音）",
        server=ctx.url,
        officer_id="pham.van.cuong",
        device_name="phone",
    )
    data = json.dumps(request).encode()
    agency_ops.certify(admin, data, role="supervisor")

    listed = _listed(cli, admin)
    assert listed[phone.device_id]["status"] == "active"
    assert listed[phone.device_id]["role"] == "officer"
    assert listed[phone.device_id]["display_names"]["vi"] == "Nguyễn Văn An"
    assert listed[phone.device_id]["fingerprint"] == agency_ops.device_fingerprint(
        phone.signing_key
    )
    assert listed[phone.device_id]["certified_at"] == phone.not_before
    assert listed[request["device_id"]]["status"] == "not_activated"
    assert listed[request["device_id"]]["role"] == "supervisor"
    # The request file shows the same fingerprint the list does.
    assert (
        agency_ops.describe_request(data).fingerprint == listed[request["device_id"]]["fingerprint"]
    )

    cli.at(admin, "agency", "revoke", phone.device_id, "--reason", "lost")
    listed = _listed(cli, admin, "--offline")
    assert listed[phone.device_id]["status"] == "revoked"
    assert listed[laptop.device_id]["status"] == "active"

    # Another copy of the agency home revoked the laptop: the relay's signed revocation shows.
    record = json.loads((admin.root / "agency" / "agency.json").read_text())
    cli.at(admin, "agency", "revoke", laptop.device_id)
    (admin.root / "agency" / "agency.json").write_text(json.dumps(record))
    assert _listed(cli, admin, "--offline")[laptop.device_id]["status"] == "active"
    listed = _listed(cli, admin)
    assert listed[laptop.device_id]["status"] == "revoked"
    assert listed[laptop.device_id]["checked_on_relay"] is True
    assert _listed(cli, admin, "--offline")[laptop.device_id]["status"] == "revoked"

    text = cli.at(admin, "agency", "devices").stdout
    assert phone.device_id in text and "revoked" in text and "Nguyễn Văn An" in text
