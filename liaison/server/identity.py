"""The server's own secrets in the data folder: the log signing key and the operator admin token.

The admin token itself is never kept: only its hash (issue 14, defect 13), so the data folder
and its backups do not hold a credential. The token is shown once, when it is made.
"""

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
# Where releases before 0.x kept the token in plaintext: turned into the hash on start.
ADMIN_TOKEN_FILE = "admin.token"  # noqa: S105 (a file name)
# Hex of token_digest(token) and a newline: what the server needs to check the token.
ADMIN_TOKEN_HASH_FILE = "admin.token.blake2b"  # noqa: S105 (a file name)
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


def _fsync_dir(path: Path) -> None:
    """Make a file's creation or removal in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _admin_token_hash(data_dir: Path, draw: Callable[[int], bytes]) -> tuple[bytes, str | None]:
    """(hash of the admin token, the token if it was just made). A plaintext `admin.token` from
    an earlier release becomes its hash, and the plaintext file is removed."""
    hash_path = data_dir / ADMIN_TOKEN_HASH_FILE
    plain_path = data_dir / ADMIN_TOKEN_FILE
    new_token = None
    if not hash_path.exists():
        if plain_path.exists():
            token = plain_path.read_text("ascii").strip()
        else:
            new_token = token = draw(32).hex()
        try:
            _write_secret(hash_path, (token_digest(token).hex() + "\n").encode("ascii"))
        except FileExistsError:
            new_token = None  # another relay process on this data folder made it first
        _fsync_dir(data_dir)
    if plain_path.exists():
        # The hash is durable before the plaintext goes; a crash in between leaves both, and
        # the next start removes the plaintext then.
        plain_path.unlink(missing_ok=True)
        _fsync_dir(data_dir)
    try:
        digest = bytes.fromhex(hash_path.read_text("ascii").strip())
    except ValueError as exc:
        raise ValueError(f"{hash_path} does not hold a hex token hash") from exc
    if len(digest) != 32:
        raise ValueError(f"{hash_path} does not hold a 32-byte token hash")
    return digest, new_token


def ensure_server_identity(
    data_dir: Path,
    *,
    origin: str | None = None,
    rng: Callable[[int], bytes] | None = None,
) -> tuple[ServerIdentity, str | None]:
    """Load the identity from `data_dir`, creating it on first start.

    Answers (identity, admin token if it was just created, else None): the caller shows a new
    token once; the data folder keeps only its hash.
    """
    draw = rng or secrets.token_bytes
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    key_path = data_dir / SIGNING_KEY_FILE
    if not key_path.exists():
        _write_secret(key_path, draw(32))
    signing_key = nacl.signing.SigningKey(key_path.read_bytes())
    admin_token_hash, new_token = _admin_token_hash(data_dir, draw)
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
        admin_token_hash=admin_token_hash,
    )
    return identity, new_token
