"""An officer's or administrator's home folder: config, keystores, pins, log state, cache."""

from __future__ import annotations

import getpass
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from liaison.client.errors import HomeError, PassphraseError
from liaison.client.records import HomeConfig, MessageRecord, RecordShapeError
from liaison.i18n import _

HOME_ENV = "LIAISON_HOME"
PASSPHRASE_ENV = "LIAISON_PASSPHRASE"  # noqa: S105 (a variable name, not a secret)
# For the test suite and the demo only: Argon2id at libsodium's minimum cost so that many
# keystores can be created in seconds. Never set it for real keys.
KDF_PROFILE_ENV = "LIAISON_KDF_PROFILE"

PassphraseSource = Callable[[bool], str]
_MESSAGE_ID_RE = re.compile(r"^[0-9a-f]{32}$")
RecordT = TypeVar("RecordT")


def default_home() -> Path:
    """`LIAISON_HOME`, else `~/.liaison`."""
    value = os.environ.get(HOME_ENV)
    return Path(value) if value else Path.home() / ".liaison"


def keystore_limits() -> dict[str, int]:
    """Arguments for `keystore.lock`: none (secure defaults) unless a cheap profile is set."""
    profile = os.environ.get(KDF_PROFILE_ENV, "")
    if profile == "test":
        import nacl.pwhash

        return {
            "opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
            "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN,
        }
    if profile == "interactive":
        import nacl.pwhash

        return {
            "opslimit": nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
            "memlimit": nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE,
        }
    return {}


def passphrase_from_env_or_prompt(confirm: bool) -> str:
    """`LIAISON_PASSPHRASE`, else a terminal prompt (twice when a new keystore is created)."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    if not sys.stdin.isatty():
        raise PassphraseError(
            _("No passphrase: run in a terminal or set {env}.").format(env=PASSPHRASE_ENV)
        )
    first = getpass.getpass(_("Passphrase: "))
    if not first:
        raise PassphraseError(_("The passphrase must not be empty."))
    if confirm and getpass.getpass(_("Passphrase again: ")) != first:
        raise PassphraseError(_("The two passphrases differ."))
    return first


class Home:
    """Files under one folder; every write is atomic and private to the user (mode 0600)."""

    def __init__(self, root: Path, *, passphrase: PassphraseSource | None = None) -> None:
        self.root = Path(root)
        self._passphrase_source = passphrase or passphrase_from_env_or_prompt
        self._passphrase: str | None = None
        # Secrets unlocked by this object, by file: one Argon2id run per keystore for the life
        # of the object (a command, an officer session), like the passphrase it holds.
        self._unlocked: dict[str, bytes] = {}

    # --- Paths --------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / "config.json"

    @property
    def agency_dir(self) -> Path:
        return self.root / "agency"

    @property
    def device_dir(self) -> Path:
        return self.root / "device"

    @property
    def messages_dir(self) -> Path:
        return self.root / "messages"

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)

    # --- Raw files ----------------------------------------------------------------------------
    def write_bytes(self, relative: str | Path, data: bytes) -> Path:
        self.ensure()
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path

    def read_bytes(self, relative: str | Path) -> bytes | None:
        path = self.root / relative
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def write_json(self, relative: str | Path, value: Any) -> Path:
        text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        return self.write_bytes(relative, text.encode("utf-8"))

    def read_json(self, relative: str | Path, default: Any = None) -> Any:
        data = self.read_bytes(relative)
        if data is None:
            return default
        try:
            return json.loads(data)
        except ValueError as exc:
            raise HomeError(
                _("The file {path} is damaged.").format(path=self.root / relative)
            ) from exc

    def load_record(self, relative: str | Path, parse: Callable[[Any], RecordT]) -> RecordT:
        """The JSON file at `relative` read through its record's `parse` (given None when the
        file is absent); a value of the wrong shape is a `HomeError` naming the file."""
        value = self.read_json(relative)
        try:
            return parse(value)
        except RecordShapeError as exc:
            raise HomeError(
                _("The file {path} is damaged.").format(path=self.root / relative)
            ) from exc

    # --- Config -------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """config.json as read (see `settings` for its typed form)."""
        value = self.read_json("config.json", {})
        return value if isinstance(value, dict) else {}

    def settings(self) -> HomeConfig:
        """config.json, typed."""
        return HomeConfig.from_json(self.read_json("config.json"))

    def update_config(self, **changes: Any) -> dict[str, Any]:
        config = self.config()
        config.update(changes)
        self.write_json("config.json", config)
        return config

    def server_url(self, override: str | None = None) -> str:
        url = override or self.settings().server
        if not url:
            raise HomeError(_("No server is configured in this home folder: give --server URL."))
        return str(url)

    # --- Passphrase and keystores -------------------------------------------------------------
    def passphrase(self, *, confirm: bool = False) -> str:
        if self._passphrase is None:
            self._passphrase = self._passphrase_source(confirm)
        return self._passphrase

    def lock_secret(self, relative: str, secret: bytes) -> None:
        from crypto import keystore

        limits = keystore_limits()
        passphrase = self.passphrase(confirm=True)
        if limits:
            data = keystore.lock(
                secret, passphrase, opslimit=limits["opslimit"], memlimit=limits["memlimit"]
            )
        else:
            data = keystore.lock(secret, passphrase)
        self.write_bytes(relative, data)
        self._unlocked[str(relative)] = secret

    def unlock_secret(self, relative: str) -> bytes:
        from crypto import keystore
        from crypto.errors import KeystoreError

        if str(relative) in self._unlocked:
            return self._unlocked[str(relative)]
        data = self.read_bytes(relative)
        if data is None:
            raise HomeError(
                _("No key file {path}: initialise this home folder first.").format(
                    path=self.root / relative
                )
            )
        try:
            secret = keystore.unlock(data, self.passphrase())
        except KeystoreError as exc:
            self._passphrase = None
            raise PassphraseError(
                _("The passphrase does not unlock {path} (or the file was altered).").format(
                    path=self.root / relative
                )
            ) from exc
        self._unlocked[str(relative)] = secret
        return secret

    # --- Message cache ------------------------------------------------------------------------
    def message_path(self, message_id: str) -> Path:
        if not _MESSAGE_ID_RE.match(message_id):
            raise HomeError(_("Not a message id: {value}").format(value=message_id))
        return self.messages_dir / f"{message_id}.json"

    def save_message(self, record: MessageRecord | Mapping[str, Any]) -> None:
        if not isinstance(record, MessageRecord):
            record = MessageRecord.from_json(record)
        self.write_json(Path("messages") / f"{record.message_id}.json", record.to_json())

    def _message_at(self, path: Path) -> MessageRecord | None:
        value = self.read_json(path.relative_to(self.root))
        if value is None:
            return None
        try:
            if not isinstance(value, dict):
                raise ValueError("not a JSON object")
            return MessageRecord.from_json(value)
        except ValueError as exc:
            raise HomeError(_("The file {path} is damaged.").format(path=path)) from exc

    def load_message(self, message_id: str) -> MessageRecord | None:
        return self._message_at(self.message_path(message_id))

    def find_message(self, prefix: str) -> MessageRecord:
        """The cached message whose id is `prefix` or starts with it (unique)."""
        prefix = prefix.strip().lower()
        if not prefix or not re.fullmatch(r"[0-9a-f]{1,32}", prefix):
            raise HomeError(_("Not a message id: {value}").format(value=prefix))
        matches = (
            sorted(self.messages_dir.glob(f"{prefix}*.json")) if self.messages_dir.is_dir() else []
        )
        if not matches:
            raise HomeError(
                _("No message {id} in this home folder: run `liaison inbox` first.").format(
                    id=prefix
                )
            )
        if len(matches) > 1:
            raise HomeError(
                _("The id {id} matches several messages: give more digits.").format(id=prefix)
            )
        record = self._message_at(matches[0])
        assert record is not None  # the file was just listed
        return record

    def messages(self) -> list[MessageRecord]:
        """Every message this device holds, in log order."""
        if not self.messages_dir.is_dir():
            return []
        records = [self._message_at(path) for path in self.messages_dir.glob("*.json")]
        return sorted(
            (r for r in records if r is not None),
            key=lambda r: (r.log_index if r.log_index is not None else 0, r.message_id),
        )
