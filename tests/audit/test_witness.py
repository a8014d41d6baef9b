"""Witness cosignatures round trip; clients and bundles check them; a witness catches a fork."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from crypto.checkpoint import verify_cosignature
from crypto.encoding import b64d
from liaison.cli.demo.tour import DEMO_PASSPHRASE, run_steps, steps_until
from liaison.client import audit as audit_ops
from liaison.client import bundle as bundle_ops
from liaison.client import witness as witness_ops
from liaison.client.home import Home
from liaison.client.misbehaviour import MISBEHAVIOUR_FILE, ServerMisbehaved
from liaison.client.transport import ApiClient
from tests.e2e.e2e_db import change_entry
from tests.e2e.e2e_relay import Cli, RelayThread, demo_world

DAY = 86400


def register_witness(cli: Cli, relay: RelayThread, home: Home, name: str) -> dict[str, str]:
    """The operator registers the witness (`liaison witness add`): only then does the relay
    take its cosignatures (issue 14, defect 1)."""
    witness_ops.witness_name(home, name)
    info = witness_ops.public_info(home)
    database = ["--db", relay.database_url] if relay.database_url else []
    schema = ["--db-schema", relay.db_schema] if relay.db_schema else []
    cli(
        None,
        "witness",
        "add",
        name,
        info["public_key"],
        "--data-dir",
        str(relay.data_dir),
        *database,
        *schema,
    )
    return info


def call(url: str, make: Any) -> Any:
    async def go() -> Any:
        async with ApiClient(url) as api:
            return await make(api)

    return asyncio.run(go())


@pytest.mark.slow
def test_witness_cosigns_and_clients_check_its_view(
    relay: RelayThread, cli: Cli, tmp_path: Path
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "send")
    home = Home(tmp_path / "auditor", passphrase=lambda confirm: DEMO_PASSPHRASE)
    info = register_witness(cli, relay, home, "auditor.example")

    first = call(relay.url, lambda api: witness_ops.cosign(home, api, name="auditor.example"))
    assert first.previous_size == 0
    answer = call(relay.url, lambda api: api.checkpoint())
    assert answer["size"] == first.size
    assert answer["cosigned"] == answer["checkpoint"]
    stamp = verify_cosignature(
        answer["checkpoint"], witness_name=info["name"], witness_public=b64d(info["public_key"])
    )
    assert stamp == first.timestamp

    asyncio.run(run_steps(ctx, [s for s in steps_until("reply") if s.name == "reply"]))
    grown = call(relay.url, lambda api: api.checkpoint())
    assert grown["size"] > first.size
    assert grown["cosigned"] != grown["checkpoint"]  # the newest cosigned one is older
    assert grown["witnessed"] == [grown["cosigned"]]
    assert "\u2014 auditor.example " not in grown["checkpoint"]
    second = call(relay.url, lambda api: witness_ops.cosign(home, api))
    assert (second.previous_size, second.size) == (first.size, grown["size"])

    li = ctx.officers["li"]
    witness_ops.add_known_witness(li, info["name"], info["public_key"], required=True)
    report = call(relay.url, lambda api: audit_ops.verify(li, api))
    assert report.ok, report.problems

    data = call(
        relay.url,
        lambda api: bundle_ops.export_bundle(li, api, start=0, end=30000 * DAY - 1, agency=None),
    )
    checked = bundle_ops.verify_bundle(data)
    assert checked.cosigned_by == ["auditor.example"]
    unaware = call(
        relay.url,
        lambda api: bundle_ops.export_bundle(
            ctx.officers["an-laptop"], api, start=0, end=30000 * DAY - 1, agency=None
        ),
    )
    assert bundle_ops.verify_bundle(unaware).cosigned_by == []  # unknown witness: left out
    doc = json.loads(data)
    doc["witnesses"][0]["public_key"] = doc["log_public_key"]
    with pytest.raises(bundle_ops.BundleError, match="checkpoint"):
        bundle_ops.verify_bundle(bundle_ops.canonical_json(doc))

    shown = cli.at(home, "audit", "witness", "--show-key", "--json")
    assert json.loads(shown.stdout)["public_key"] == info["public_key"]


def test_client_requiring_a_witness_reports_an_uncosigned_server(
    relay: RelayThread, tmp_path: Path
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "officers")
    an = ctx.officers["an-phone"]
    witness_ops.add_known_witness(an, "auditor.example", "A" * 43 + "=", required=True)
    report = call(relay.url, lambda api: audit_ops.verify(an, api))
    assert any("cosigned by the witness auditor.example" in p for p in report.problems)


def test_witness_refuses_a_rewritten_log_and_keeps_the_proof(
    relay: RelayThread, cli: Cli, tmp_path: Path
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "send")
    home = Home(tmp_path / "auditor", passphrase=lambda confirm: DEMO_PASSPHRASE)
    register_witness(cli, relay, home, "auditor.example")
    call(relay.url, lambda api: witness_ops.cosign(home, api, name="auditor.example"))
    with relay.offline() as db:
        change_entry(db, ctx.sent["request"].log_index)

    with pytest.raises(ServerMisbehaved):
        call(relay.url, lambda api: witness_ops.cosign(home, api))
    proof = json.loads((home.root / MISBEHAVIOUR_FILE).read_text())
    assert proof["reason"] == "same_size_different_root"
    assert call(relay.url, lambda api: api.checkpoint())["cosigned"] is None  # nothing cosigned
    again = cli.at(home, "audit", "witness", "--server", relay.url, ok=False)
    assert again.returncode == 1
    assert MISBEHAVIOUR_FILE in again.stderr
