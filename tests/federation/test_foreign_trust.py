"""Trusting an agency homed on a peer relay (PROTOCOL.md §16.5): `liaison trust add` through the
officer's own relay, which passes on the peer's proved directory; the client checks the root by
fingerprint, the home statement against the root, and every object against the peer's
checkpoint signed with the key the statement names. An own relay that lies is caught."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from crypto.certs import issue_certificate
from crypto.encoding import b64e
from crypto.federation import issue_home_statement
from crypto.keys import DeviceKeys, RootKey
from liaison.cli import main
from liaison.client import agency as agency_ops
from liaison.client import directory, foreign
from liaison.client import messages as message_ops
from liaison.client import officer as officer_ops
from liaison.client import trust as trust_ops
from liaison.client.agency import Fingerprint
from liaison.client.errors import LogInconsistent, VerificationError
from liaison.client.home import Home
from liaison.client.payload import Payload
from liaison.client.transport import ApiClient
from liaison.server.federation import forwarding, peering
from tests.federation import peering_steps
from tests.federation.conftest import RunningRelay
from tests.federation.test_forwarding import message_ids, until

VN, CN = "VN-QN-CA", "CN-GX-DXGA"


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIAISON_KDF_PROFILE", "test")


@dataclass
class Side:
    relay: RunningRelay
    code: str
    admin: Home
    fingerprint: Fingerprint
    officers: dict[str, Home] = field(default_factory=dict)


def _home(path: Path) -> Home:
    return Home(path, passphrase=lambda confirm: "pw")


async def _agency(relay: RunningRelay, folder: Path, code: str, names: tuple[str, str]) -> Side:
    """An agency registered on `relay`, its root's home statement naming it."""
    admin = _home(folder / f"admin-{code}")
    fp = agency_ops.init_agency(
        admin, code=code, country=code[:2], name_vi=names[0], name_zh=names[1]
    )
    async with ApiClient(relay.url) as api:
        await agency_ops.register_agency(admin, api, relay.api.admin_token)
        await agency_ops.publish_home(admin, api)
    return Side(relay, code, admin, fp)


async def _officer(side: Side, folder: Path, officer_id: str, names: tuple[str, str]) -> Home:
    home = _home(folder / officer_id)
    request = officer_ops.init_officer(
        home,
        agency=side.code,
        name_vi=names[0],
        name_zh=names[1],
        server=side.relay.url,
        officer_id=officer_id,
    )
    certificate = agency_ops.certify(side.admin, json.dumps(request).encode(), role="officer")
    async with ApiClient(side.relay.url) as api:
        await officer_ops.activate(
            home, api, certificate, root_fingerprint=side.fingerprint.safety_number
        )
    side.officers[officer_id] = home
    return home


async def _border(vn: RunningRelay, cn: RunningRelay, folder: Path) -> tuple[Side, Side]:
    await peering_steps.mutual(vn, cn)
    vn_side = await _agency(vn, folder, VN, ("Công an tỉnh Quảng Ninh", "广宁省公安厅"))
    cn_side = await _agency(cn, folder, CN, ("Công an Đông Hưng", "东兴市公安局"))
    await _officer(vn_side, folder, "nguyen.van.an", ("Nguyễn Văn An", "阮文安"))
    await _officer(cn_side, folder, "li.wei", ("Lý Vĩ", "李伟"))
    # Where the relays route each other's agencies (the operators' `peer home`).
    await peering.set_home(vn.relay, CN, cn.identity.origin)
    await peering.set_home(cn.relay, VN, vn.identity.origin)
    for relay in (vn, cn):
        await peering.refresh_peers(relay.relay, force=True)
        await forwarding.sync_workers(relay.relay)
    return vn_side, cn_side


async def test_a_foreign_agency_is_trusted_through_the_own_relay_and_mail_crosses(
    relays, tmp_path: Path
) -> None:
    vn, cn = relays
    vn_side, cn_side = await _border(vn, cn, tmp_path)
    an, li = vn_side.officers["nguyen.van.an"], cn_side.officers["li.wei"]

    async with ApiClient(vn.url) as api:
        pinned = await trust_ops.add(an, api, CN, cn_side.fingerprint.safety_number)
        assert pinned["home_relay"] == cn.identity.origin
        assert directory.foreign_home(an, CN) == cn.identity.origin
        # The peer's checkpoint is kept, as the client keeps its own relay's.
        held = foreign.stored_checkpoint(an, cn.identity.origin)
        assert held is not None and held.size >= 1
        sent = await message_ops.send(an, api, [CN], Payload.text("Đề nghị xác minh nhân thân"))
    [li_device] = [d for d in sent.recipients if d.startswith(CN)]
    assert li_device == officer_ops.own_certificate(li).device_id
    assert CN in sent.review_agencies
    await until(lambda: _holds(cn, sent.message_id), "the notice on the CN relay")

    # The other way: Li pins the Vietnamese root through the CN relay, reads and verifies An's
    # notice (the sender's certificate from the VN relay's log) and replies.
    async with ApiClient(cn.url) as api:
        await trust_ops.add(li, api, VN, vn_side.fingerprint.safety_number)
        await message_ops.sync(li, api)
        opened = await message_ops.read(li, api, sent.message_id)
        assert opened.payload.as_text() == "Đề nghị xác minh nhân thân"
        reply = await message_ops.send(li, api, [f"{VN}/nguyen.van.an"], Payload.text("已收到"))
    await until(lambda: _holds(vn, reply.message_id), "the reply on the VN relay")


async def _holds(relay: RunningRelay, message_id: str) -> bool:
    return message_id in await message_ids(relay)


Lie = Callable[[dict[str, Any], Side, Side], dict[str, Any]]


def _forged_home_statement(answer: dict[str, Any], vn: Side, cn: Side) -> dict[str, Any]:
    """The own relay names itself as the agency's home, with a statement of another root."""
    statement = issue_home_statement(
        RootKey.generate(),
        agency=CN,
        relay_origin=vn.relay.identity.origin,
        relay_key=vn.relay.identity.public_key,
        issued_at=2_000_000_000,
    )
    return {**answer, "home": {**answer["home"], "statement": b64e(statement.to_bytes())}}


def _own_log_key(answer: dict[str, Any], vn: Side, cn: Side) -> dict[str, Any]:
    """The own relay substitutes a checkpoint signed with its own log key."""
    note = vn.relay.relay.log.checkpoint()[1]
    return {**answer, "checkpoint": note}


def _unlogged_certificate(answer: dict[str, Any], vn: Side, cn: Side) -> dict[str, Any]:
    """A certificate the root signed (here: one the relay got hold of) that the peer's log never
    held, shown at the index of a logged one."""
    real = answer["devices"][0]
    keys = DeviceKeys.generate()
    root = RootKey.from_bytes(cn.admin.unlock_secret(agency_ops.ROOT_KEY_FILE))
    cert = issue_certificate(
        root,
        agency=CN,
        officer_id="li.wei",
        device_id=f"{CN}:li.wei:spare",
        role="officer",
        signing_key=keys.signing_public,
        encryption_key=keys.encryption_public,
        display_names={"vi": "Lý Vĩ", "zh": "李伟"},
        serial=99,
        not_before=1_700_000_000,
        not_after=2_100_000_000,
    )
    extra = {**real, "certificate": b64e(cert.to_bytes())}
    return {**answer, "devices": [*answer["devices"], extra]}


@pytest.mark.parametrize(
    ("lie", "said"),
    [
        (_forged_home_statement, "home statement of CN-GX-DXGA is not signed by its pinned root"),
        (_own_log_key, "not signed by the log key its home statement names"),
        (_unlogged_certificate, "does not match its certificate"),
    ],
    ids=["forged_home_statement", "own_log_key", "unlogged_certificate"],
)
async def test_an_own_relay_that_lies_about_the_foreign_directory_is_refused(
    relays, tmp_path: Path, lie: Lie, said: str
) -> None:
    vn, cn = relays
    vn_side, cn_side = await _border(vn, cn, tmp_path)
    an = vn_side.officers["nguyen.van.an"]
    async with ApiClient(vn.url) as api:
        honest: Callable[..., Awaitable[Any]] = api.foreign_agency

        async def lying(code: str, *, since: int = 0) -> Any:
            return lie(await honest(code, since=since), vn_side, cn_side)

        api.foreign_agency = lying  # type: ignore[method-assign]
        with pytest.raises(VerificationError) as refused:
            await trust_ops.add(an, api, CN, cn_side.fingerprint.safety_number)
    assert said in str(refused.value)  # a sentence for the officer, naming what failed
    assert directory.pinned_root(an, CN) is None
    assert foreign.stored_checkpoint(an, cn.identity.origin) is None


def _no_consistency(answer: dict[str, Any], vn: Side, cn: Side) -> dict[str, Any]:
    """The own relay drops the proof that the peer's log grew from the stored checkpoint."""
    return {**answer, "consistency_proof": []}


@pytest.mark.parametrize(
    ("lie", "error"),
    [(_unlogged_certificate, VerificationError), (_no_consistency, LogInconsistent)],
    ids=["unlogged_certificate", "no_consistency"],
)
async def test_a_lie_after_pinning_stops_the_send(
    relays, tmp_path: Path, lie: Lie, error: type[Exception]
) -> None:
    vn, cn = relays
    vn_side, cn_side = await _border(vn, cn, tmp_path)
    an = vn_side.officers["nguyen.van.an"]
    async with ApiClient(vn.url) as api:
        await trust_ops.add(an, api, CN, cn_side.fingerprint.safety_number)
        held = foreign.stored_checkpoint(an, cn.identity.origin)
        # The peer's log grows (a second officer enrols there).
        await _officer(cn_side, tmp_path, "wang.fang", ("Vương Phương", "王芳"))
        honest = api.foreign_agency

        async def lying(code: str, *, since: int = 0) -> Any:
            return lie(await honest(code, since=since), vn_side, cn_side)

        api.foreign_agency = lying  # type: ignore[method-assign]
        with pytest.raises(error):
            await message_ops.send(an, api, [CN], Payload.text("không gửi"))
        # Nothing the lie showed is kept: the stored checkpoint of the peer is the old one.
        assert foreign.stored_checkpoint(an, cn.identity.origin) == held
        api.foreign_agency = honest  # type: ignore[method-assign]
        sent = await message_ops.send(an, api, [CN], Payload.text("gửi"))
    assert len([d for d in sent.recipients if d.startswith(CN)]) == 2
    grown = foreign.stored_checkpoint(an, cn.identity.origin)
    assert held is not None and grown is not None and grown.size > held.size


async def test_the_wrong_fingerprint_pins_nothing(relays, tmp_path: Path) -> None:
    vn, cn = relays
    vn_side, _cn_side = await _border(vn, cn, tmp_path)
    an = vn_side.officers["nguyen.van.an"]
    async with ApiClient(vn.url) as api:
        with pytest.raises(VerificationError):
            await trust_ops.add(an, api, CN, vn_side.fingerprint.safety_number)
    assert directory.pinned_root(an, CN) is None


async def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    """`liaison ARGV` through the command line's main entry (in a thread: the relays serve on
    this loop), its exit code and its JSON output."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out) if "--json" in argv and out.strip() else out


async def test_audit_verify_across_on_the_command_line_from_both_sides(
    relays, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    vn, cn = relays
    monkeypatch.setenv("LIAISON_PASSPHRASE", "pw")
    vn_side, cn_side = await _border(vn, cn, tmp_path)
    an, li = vn_side.officers["nguyen.van.an"], cn_side.officers["li.wei"]
    async with ApiClient(vn.url) as api:
        await trust_ops.add(an, api, CN, cn_side.fingerprint.safety_number)
        sent = await message_ops.send(an, api, [CN], Payload.text("Đề nghị xác minh"))
    await until(lambda: _holds(cn, sent.message_id), "the notice on the CN relay")
    mid = sent.message_id

    code, report = await _cli(
        capsys, "audit", "verify", "--across", mid, "--home", str(an.root), "--json"
    )
    assert code == 0, report
    assert report["ok"] and {s["kind"] for s in report["sides"]} == {"envelope", "forwarded_in"}
    hash_hex = report["envelope_hash"]

    # Li has not pinned a Vietnamese agency yet: the VN relay's key is only the CN relay's
    # word, which the audit does not take.
    code, report = await _cli(
        capsys, "audit", "verify", "--across", mid, "--home", str(li.root), "--json"
    )
    assert code != 0 and not report["ok"]
    assert any(vn.identity.origin in p for p in report["problems"])
    fingerprint = vn_side.fingerprint.safety_number
    code, said = await _cli(capsys, "trust", "add", VN, fingerprint, "--home", str(li.root))
    assert code == 0 and vn.identity.origin in said
    code, report = await _cli(
        capsys, "audit", "verify", "--across", mid, "--home", str(li.root), "--json"
    )
    assert code == 0, report
    assert report["ok"] and report["envelope_hash"] == hash_hex
