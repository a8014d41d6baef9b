"""A relay that serves a certificate the log does not hold, or one its agency never signed, is
refused before anything is encrypted to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crypto.certs import issue_certificate
from crypto.encoding import b64e
from crypto.keys import DeviceKeys, RootKey
from liaison.client import officer
from tests.e2e.e2e_db import append_entry
from tests.e2e.e2e_relay import Cli, RelayThread, demo_world


@pytest.mark.parametrize("attack", [None, "unlogged", "forged"])
def test_sending_refuses_a_certificate_the_log_or_the_root_does_not_vouch_for(
    relay: RelayThread, cli: Cli, tmp_path: Path, attack: str | None
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "pins")
    li = officer.own_certificate(ctx.officers["li"])
    with relay.offline() as db:
        if attack == "unlogged":
            # Point Li's certificate at another log entry (the agency's registration).
            db.execute("UPDATE certificates SET log_index = 0 WHERE device_id = ?", (li.device_id,))
        elif attack == "forged":
            # The relay adds a device of its own for Li, under a root it made up, appended to
            # the log like any enrolment (so the log stays consistent).
            mallory = DeviceKeys.generate()
            forged = issue_certificate(
                RootKey.generate(),
                agency=li.agency,
                officer_id=li.officer_id,
                device_id=f"{li.agency}:{li.officer_id}:spare",
                role=li.role,
                signing_key=mallory.signing_public,
                encryption_key=mallory.encryption_public,
                display_names=dict(li.display_names),
                serial=99,
                not_before=li.not_before,
                not_after=li.not_after,
            )
            index = append_entry(
                db,
                {
                    "kind": "certificate",
                    "agency": li.agency,
                    "device_id": forged.device_id,
                    "cert_hash": b64e(forged.cert_hash()),
                    "at": li.not_before,
                },
            )
            db.execute(
                "INSERT INTO certificates (device_id, agency, certificate, cert_hash, signing_key,"
                " encryption_key, not_before, not_after, log_index, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                (
                    forged.device_id,
                    forged.agency,
                    forged.to_bytes(),
                    forged.cert_hash(),
                    forged.signing_key,
                    forged.encryption_key,
                    forged.not_before,
                    forged.not_after,
                    index,
                ),
            )
    result = cli.at(
        ctx.officers["an-phone"], "send", "--to", "CN-GX-DXGA", "--text", "x", "--json", ok=False
    )
    if attack is None:
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["recipients"][0] == li.device_id
        return
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    expected = {
        "unlogged": "does not match its certificate",
        "forged": "CN-GX-DXGA:li.wei:spare does not verify",
    }
    assert expected[attack] in result.stderr
    assert not (ctx.officers["an-phone"].root / "messages").exists()
