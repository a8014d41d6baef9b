"""`audit export` bundles verify offline and fail, naming the part, after any byte change."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest

from crypto.encoding import b64e, canonical_json
from liaison.cli.demo.tour import DEMO_PASSPHRASE, DemoContext, run_steps, steps_until
from liaison.client import bundle as bundle_ops
from liaison.client.transport import ApiClient
from tests.e2e.e2e_relay import Cli, RelayThread

DAY = 86400


def exchange(relay: RelayThread, folder: Path) -> DemoContext:
    ctx = DemoContext(folder=folder, say=lambda line: None, url=relay.url)
    ctx.admin_token = relay.admin_token
    return asyncio.run(run_steps(ctx, steps_until("read")))


def export(ctx: DemoContext, home: str, agency: str | None) -> bytes:
    async def go() -> bytes:
        async with ApiClient(ctx.url) as api:
            return await bundle_ops.export_bundle(
                ctx.officers[home], api, start=0, end=30000 * DAY - 1, agency=agency
            )

    return asyncio.run(go())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoContext, bytes, bytes]:
    folder = tmp_path_factory.mktemp("bundle")
    relay = RelayThread(folder / "relay")
    relay.start()
    # Module scope runs before the autouse cheap_kdf fixture: set its cheap profile here too.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LIAISON_KDF_PROFILE", "test")
        try:
            ctx = exchange(relay, folder / "world")
            return ctx, export(ctx, "li", "CN-GX-DXGA"), export(ctx, "an-phone", None)
        finally:
            relay.stop()


def test_exported_bundle_verifies_with_no_server(world: tuple[DemoContext, bytes, bytes]) -> None:
    ctx, own, everything = world  # the relay is stopped: nothing here can reach it
    report = bundle_ops.verify_bundle(own)
    doc = json.loads(own)
    assert report.agency == "CN-GX-DXGA"
    assert report.entries == len(doc["entries"]) > 0
    assert all(
        bundle_ops.concerns(e["entry"], "CN-GX-DXGA") or e["entry"]["kind"] == "ack"
        for e in doc["entries"]
    )
    assert {
        e["entry"]["message_id"] for e in doc["entries"] if e["entry"]["kind"] == "envelope"
    } == {ctx.sent["request"].message_id, ctx.sent["reply"].message_id}
    full = bundle_ops.verify_bundle(everything)
    assert full.entries > report.entries
    assert full.checkpoint_sizes[-1] == report.checkpoint_sizes[-1]


def test_bundle_holds_no_content(world: tuple[DemoContext, bytes, bytes]) -> None:
    _ctx, _own, everything = world
    assert b'"envelope":' not in everything  # hashes only, never the ciphertext
    assert "Quảng Ninh".encode() not in everything


def test_any_byte_change_fails(world: tuple[DemoContext, bytes, bytes]) -> None:
    _ctx, own, _everything = world
    rng = random.Random(6)
    # Evenly spread over the whole file, plus random ones: every region is hit.
    positions = sorted(
        set(range(0, len(own), max(1, len(own) // 300))) | set(rng.sample(range(len(own)), 100))
    )
    for position in positions:
        for replacement in {
            own[position] ^ 0x01,
            ord("7") if own[position] != ord("7") else ord("3"),
        }:
            damaged = own[:position] + bytes([replacement]) + own[position + 1 :]
            with pytest.raises(bundle_ops.BundleError):
                bundle_ops.verify_bundle(damaged)


def _edit(data: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    doc = json.loads(data)
    change(doc)
    return canonical_json(doc)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            lambda d: d["entries"][0]["entry"].update(at=d["entries"][0]["entry"]["at"] + 1),
            "log entry",
        ),
        (lambda d: d["entries"][1].update(index=d["entries"][1]["index"] + 1), "log entry"),
        (lambda d: d["entries"].pop(0) and d["entries"][0].update(inclusion_proof=[]), "log entry"),
        (lambda d: d["scope"].update(agency="VN-QN-CA"), "does not concern"),
        (lambda d: d["scope"].update(to=d["entries"][0]["entry"]["at"] // DAY * DAY - 1), "period"),
        (lambda d: d["scope"].update(to=d["scope"]["to"] + 3600), "whole UTC days"),
        (
            lambda d: d["checkpoints"].__setitem__(
                -1, d["checkpoints"][-1].replace("\n", "\n ", 1)
            ),
            "checkpoint",
        ),
        (lambda d: d.update(log_public_key=b64e(bytes(32))), "checkpoint 0"),
        (lambda d: d.update(origin="another.example/log"), "checkpoint"),
    ],
)
def test_targeted_edits_name_what_broke(
    world: tuple[DemoContext, bytes, bytes],
    change,
    named: str,  # type: ignore[no-untyped-def]
) -> None:
    _ctx, own, _everything = world
    with pytest.raises(bundle_ops.BundleError, match=named):
        bundle_ops.verify_bundle(_edit(own, change))


def test_pinned_log_key_must_match(world: tuple[DemoContext, bytes, bytes]) -> None:
    _ctx, own, _everything = world
    key = bytes.fromhex("00" * 32)
    with pytest.raises(bundle_ops.BundleError, match="another log key"):
        bundle_ops.verify_bundle(own, log_public_key=key)


def test_cli_export_then_verify_bundle_offline(
    relay: RelayThread, cli: Cli, tmp_path: Path
) -> None:
    ctx = exchange(relay, tmp_path / "world")
    home = str(ctx.officers["an-phone"].root)
    out = tmp_path / "audit.bundle"
    result = cli(
        None,
        "audit",
        "export",
        "--from",
        "2000-01-01",
        "--to",
        "2100-12-31",
        "-o",
        str(out),
        "--home",
        home,
        LIAISON_PASSPHRASE=DEMO_PASSPHRASE,
    )
    assert "log entries" in result.stderr  # plain counter: stderr is not a terminal
    relay.stop()  # verification needs no server
    key = json.loads(out.read_bytes())["log_public_key"]
    result = cli(None, "audit", "verify-bundle", str(out), "--log-key", key, "--json")
    assert json.loads(result.stdout)["ok"] is True
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0x04
    out.write_bytes(bytes(data))
    result = cli(None, "audit", "verify-bundle", str(out), ok=False)
    assert result.returncode == 1
    assert "The bundle does not verify" in result.stderr
