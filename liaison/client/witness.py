"""Witnessing: countersign a relay's checkpoints after checking consistency, and check them.

A witness (the other country's service, an outside auditor) runs `liaison audit witness` with
its own home folder: it keeps an Ed25519 witness key and, per log, the last checkpoint it
cosigned. It cosigns a new checkpoint only if the log's signature verifies and a consistency
proof links it to that last one; a conflict is written as a proof of misbehaviour and the
witness refuses the log from then on. Clients that know witness keys (`witnesses` in their
config) check the relay's newest cosigned checkpoint against their own view.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import nacl.signing
import nacl.utils

from crypto.checkpoint import (
    cosign_checkpoint,
    parse_note,
    verify_cosignature,
)
from crypto.encoding import b64d, b64e
from crypto.errors import CryptoError
from crypto.federation import RelayIdentity
from liaison.client import misbehaviour, transparency
from liaison.client.bundle import key_fingerprint
from liaison.client.errors import BadInput, ClientError, LogInconsistent
from liaison.client.home import Home
from liaison.client.records import WitnessState
from liaison.client.transport import ApiClient
from liaison.i18n import _

WITNESS_KEY_FILE = "witness.key"
WITNESS_STATE_FILE = "witness-state.json"


@dataclass(frozen=True)
class Cosigned:
    size: int
    previous_size: int
    timestamp: int


def witness_key(home: Home, rng: Callable[[int], bytes] | None = None) -> nacl.signing.SigningKey:
    """This home's witness key, created (and locked with the passphrase) on first use."""
    if not (home.root / WITNESS_KEY_FILE).exists():
        home.lock_secret(WITNESS_KEY_FILE, (rng or nacl.utils.random)(32))
    return nacl.signing.SigningKey(home.unlock_secret(WITNESS_KEY_FILE))


def witness_name(home: Home, name: str | None = None) -> str:
    """The witness's key name (stored at first use; e.g. `witness.cn-gx.example`)."""
    stored = home.config().get("witness_name")
    if name and stored and name != stored:
        raise BadInput(_("This home already witnesses as {name}.").format(name=stored))
    chosen = name or stored
    if not chosen:
        raise BadInput(_("Give the witness's name with --name the first time."))
    if any(ch.isspace() or ch == "+" for ch in chosen):
        raise BadInput(_("A witness name has no spaces and no '+'."))
    if not stored:
        home.update_config(witness_name=chosen)
    return str(chosen)


def _strip_cosignatures(note: str, identity: transparency.ServerIdentity) -> str:
    """The note with only the log's own signature line (others' cosignatures left out)."""
    parsed = parse_note(note)
    own = [s for s in parsed.signatures if s.key_name == identity.key_name]
    return parsed.text + "\n" + "".join(s.line() for s in own)


async def cosign(
    home: Home, api: ApiClient, *, name: str | None = None, now: int | None = None
) -> Cosigned:
    """Verify the relay's current checkpoint against the last one cosigned, cosign, submit."""
    misbehaviour.refuse_if_recorded(home)
    now = int(time.time()) if now is None else now
    key = witness_key(home)
    wname = witness_name(home, name)
    if not home.config().get("server"):
        home.update_config(server=api.base_url)
    identity = await transparency.pin_server(home, api)
    note = _strip_cosignatures((await api.checkpoint())["checkpoint"], identity)
    cp = transparency.parse_note(identity, note)
    state = home.load_record(WITNESS_STATE_FILE, WitnessState.from_json)
    previous_size = 0
    if state is not None and state.note:
        old = transparency.parse_note(identity, state.note)
        previous_size = old.size
        if cp.size < old.size:
            raise LogInconsistent(
                _(
                    "The log shows size {new}, below the size {old} this witness already "
                    "cosigned: it will not cosign an older view."
                ).format(new=cp.size, old=old.size)
            )
        # Raises ServerMisbehaved, with the proof written in this home, on a conflict.
        await transparency._check_consistent(api, old, cp, home=home, notes=(state.note, note))
    line = cosign_checkpoint(note, witness_name=wname, witness_key=key, timestamp=now)
    await api.request(
        "POST",
        "/v1/log/cosignatures",
        json={
            "checkpoint": note + line,
            "witness_name": wname,
            "witness_key": b64e(bytes(key.verify_key)),
        },
    )
    home.write_json(WITNESS_STATE_FILE, WitnessState(note, cp.size, now).to_json())
    return Cosigned(cp.size, previous_size, now)


def public_info(home: Home) -> dict[str, str]:
    """What the witness hands to clients and inspectors: name, public key and fingerprint."""
    key = witness_key(home)
    public = bytes(key.verify_key)
    return {
        "name": witness_name(home),
        "public_key": b64e(public),
        "fingerprint": key_fingerprint(public),
    }


def add_known_witness(home: Home, name: str, public_key: str, *, required: bool) -> None:
    """Record a witness key this client trusts (exchanged out of band, like an agency root).
    `required`: the audit fails unless this very witness cosigned a checkpoint of the log."""
    try:
        if len(b64d(public_key)) != 32:
            raise ValueError
    except (CryptoError, ValueError) as exc:
        raise BadInput(_("The witness key is not a base64 Ed25519 public key.")) from exc
    known = [w for w in home.config().get("witnesses") or [] if w.get("name") != name]
    known.append({"name": name, "public_key": public_key, "required": required})
    home.update_config(witnesses=known, require_witness=required)


async def add_peer_witness(
    home: Home, api: ApiClient, fingerprint: str, *, required: bool
) -> RelayIdentity:
    """Know the peer relay with this key fingerprint (read out by its operator, or printed by
    `liaison peer identity`) as a witness of this client's relay: each relay cosigns its peers'
    checkpoints with its log key under its origin (PROTOCOL.md §16.7). The relay lists its
    peers; only the fingerprint, which it cannot forge, decides which one is meant."""
    for peer in (await api.server_info()).peers:
        try:
            identity = RelayIdentity(peer.origin, b64d(peer.log_public_key))
        except CryptoError:
            continue
        if identity.matches_fingerprint(fingerprint):
            add_known_witness(home, identity.key_name, b64e(identity.public_key), required=required)
            return identity
    raise BadInput(
        _(
            "The server lists no peer relay with the key fingerprint {fingerprint}: check it "
            "with the peer's operator, and that the two relays are peered."
        ).format(fingerprint=fingerprint)
    )


async def check_cosigned(home: Home, api: ApiClient, *, now: int | None = None) -> list[str]:
    """Problems with the relay's cosigned checkpoints, for each witness this client knows: the
    relay serves every registered witness's newest cosigned note (`witnessed`); each one signed
    by a known witness must verify and be consistent with this client's view (a split view
    between witness and client is recorded as misbehaviour)."""
    known = home.config().get("witnesses") or []
    if not known:
        return []
    answer = await api.checkpoint()
    notes = [*answer.get("witnessed", ()), answer.get("cosigned")]
    checked: dict[str, None] = {}  # the notes known witnesses cosigned, each once, in order
    problems = []
    for w in known:
        cosigned = False
        for note in notes:
            if not isinstance(note, str):
                continue
            try:
                verify_cosignature(
                    note, witness_name=w["name"], witness_public=b64d(w["public_key"]), now=now
                )
            except CryptoError:
                continue
            checked[note] = None
            cosigned = True
        if w.get("required") and not cosigned:
            problems.append(
                _(
                    "No checkpoint of this server is cosigned by the witness {name}, which this "
                    "client requires."
                ).format(name=w["name"])
            )
    if not checked:
        if home.config().get("require_witness") and not problems:  # (entries of old configs)
            return [_("No checkpoint of this server is cosigned by a witness this client knows.")]
        return problems
    for note in checked:
        try:
            await transparency.advance(home, api, note)
        except ClientError as exc:
            problems.append(str(exc))
    return problems
