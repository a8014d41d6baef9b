"""The server's own secrets in the data folder: the log signing key and the operator admin token."""

from __future__ import annotations

import hmac
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nacl.signing
from nacl.encoding import RawEncoder
from nacl.hash import blake2b

from crypto.keys import compact_fingerprint

SIGNING_KEY_FILE = "log-signing.key"
ADMIN_TOKEN_FILE = "admin.token"  # noqa: S105 (a file name)
SERVER_FILE = "server.json"


def token_digest(token: str) -> bytes:
    """How bearer tokens are stored and compared: BLAKE2b-256 of the token text."""
    return blake2b(token.encode("utf-8"), digest_size=32, encoder=RawEncoder)


@dataclass(frozen=True)
class ServerIdentity:
    signing_key: nacl.signing.SigningKey
    origin: str
    admin_token_hash: bytes

    @property
    def public_key(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @property
    def key_name(self) -> str:
        return self.origin

    def is_admin_token(self, token: str) -> bool:
        return hmac.compare_digest(token_digest(token), self.admin_token_hash)


def _write_secret(path: Path, data: bytes) -> None:
    # Created with mode 0600 from the start: never world-readable, even for an instant.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def ensure_server_identity(
    data_dir: Path,
    *,
    origin: str | None = None,
    rng: Callable[[int], bytes] | None = None,
) -> tuple[ServerIdentity, str | None]:
    """Load the identity from `data_dir`, creating it on first start.

    Answers (identity, admin token if it was just created, else None): the caller shows a new
    token once; afterwards it lives only in the 0600 file.
    """
    draw = rng or secrets.token_bytes
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    key_path = data_dir / SIGNING_KEY_FILE
    if not key_path.exists():
        _write_secret(key_path, draw(32))
    signing_key = nacl.signing.SigningKey(key_path.read_bytes())
    new_token = None
    token_path = data_dir / ADMIN_TOKEN_FILE
    if not token_path.exists():
        new_token = draw(32).hex()
        _write_secret(token_path, (new_token + "\n").encode("ascii"))
    admin_token = token_path.read_text("ascii").strip()
    server_path = data_dir / SERVER_FILE
    if server_path.exists():
        stored = json.loads(server_path.read_text("utf-8"))
    else:
        fingerprint = compact_fingerprint(bytes(signing_key.verify_key))[:16].lower()
        stored = {"origin": origin or f"liaison.relay/{fingerprint}"}
        server_path.write_text(json.dumps(stored, indent=2) + "\n", "utf-8")
    identity = ServerIdentity(
        signing_key=signing_key,
        origin=origin or stored["origin"],
        admin_token_hash=token_digest(admin_token),
    )
    return identity, new_token
