"""The desk's drafts: compose forms saved encrypted in `HOME/drafts/` (PROTOCOL.md §7.2).

One file per draft, `drafts/NAME.sealed`, sealed with the device's local-draft key
(`LABEL_LOCAL_DRAFT`) and the name in the associated data, so a draft opens only on this device,
once unlocked, and a renamed or swapped file is refused. The plaintext is the canonical JSON of
what the form held: its kind (`message` or `notice`), the notice type, a title, the time saved,
the form's fields as (name, value) pairs, and the files attached: each a blob in
`drafts/blobs/` (ciphertext, liaison/client/spool.py) whose reference, file key included, is
only inside the sealed draft. A draft's files are attached again when it is sent.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from crypto.errors import CryptoError
from crypto.keys import DeviceKeys
from crypto.labels import LABEL_LOCAL_DRAFT
from crypto.local_seal import LocalSealError, local_seal_key, open_local, seal_local
from liaison.client.errors import ClientError
from liaison.client.home import Home
from liaison.client.spool import SpooledBlob, remove_item
from liaison.i18n import _

DRAFTS_DIR = "drafts"
BLOBS_DIR = "drafts/blobs"
SUFFIX = ".sealed"
_NAME_RE = re.compile(r"^[0-9]{19}-[0-9a-f]{8}$")
MAX_DRAFT_FIELDS = 4000


class DraftError(ClientError):
    """No such draft, or one that does not open (changed, or another device's)."""

    code = "draft_not_found"


@dataclass(frozen=True)
class Draft:
    name: str
    kind: str  # "message" or "notice"
    notice_type: str
    title: str
    saved_at: int
    fields: tuple[tuple[str, str], ...]
    blobs: tuple[SpooledBlob, ...] = ()  # the files attached, in order

    def to_bytes(self) -> bytes:
        value = {
            "kind": self.kind,
            "notice_type": self.notice_type,
            "title": self.title,
            "saved_at": self.saved_at,
            "fields": [list(pair) for pair in self.fields],
            "blobs": [blob.to_json() for blob in self.blobs],
        }
        return json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, name: str, data: bytes, blob_folder: Path) -> Draft:
        value = json.loads(data.decode("utf-8"))
        fields = tuple((str(k), str(v)) for k, v in value["fields"])
        blobs = tuple(SpooledBlob.from_json(blob_folder, b) for b in value.get("blobs", []))
        return cls(
            name,
            str(value["kind"]),
            str(value["notice_type"]),
            str(value["title"]),
            int(value["saved_at"]),
            fields,
            blobs,
        )


class Drafts:
    """This device's drafts, opened with its unlocked keys."""

    def __init__(self, home: Home, keys: DeviceKeys) -> None:
        self.home = home
        self._key = local_seal_key(bytes(keys.signing), LABEL_LOCAL_DRAFT)

    def _relative(self, name: str) -> str:
        if not _NAME_RE.match(name):
            raise DraftError(_("There is no such draft."))
        return f"{DRAFTS_DIR}/{name}{SUFFIX}"

    def names(self) -> list[str]:
        folder = self.home.root / DRAFTS_DIR
        if not folder.is_dir():
            return []
        found = (p.name[: -len(SUFFIX)] for p in folder.iterdir() if p.name.endswith(SUFFIX))
        return sorted((n for n in found if _NAME_RE.match(n)), reverse=True)

    def save(
        self,
        kind: str,
        fields: Sequence[tuple[str, str]],
        *,
        notice_type: str = "",
        title: str = "",
        now: int | None = None,
        blobs: Sequence[SpooledBlob] = (),
    ) -> Draft:
        """Seal a new draft (newest first in the list); `blobs` (spooled files) move into it."""
        name = f"{time.time_ns():019d}-{secrets.token_hex(4)}"
        saved_at = int(time.time()) if now is None else now
        kept = tuple((str(k), str(v)) for k, v in fields)[:MAX_DRAFT_FIELDS]
        files = tuple(blob.move_to(self.home.root / BLOBS_DIR) for blob in blobs)
        draft = Draft(name, kind, notice_type, title[:200], saved_at, kept, files)
        sealed = seal_local(self._key, LABEL_LOCAL_DRAFT, name, draft.to_bytes())
        self.home.write_bytes(self._relative(name), sealed)
        return draft

    def load(self, name: str) -> Draft:
        data = self.home.read_bytes(self._relative(name))
        if data is None:
            raise DraftError(_("There is no such draft."))
        try:
            opened = open_local(self._key, LABEL_LOCAL_DRAFT, name, data)
            return Draft.from_bytes(name, opened, self.home.root / BLOBS_DIR)
        except (LocalSealError, CryptoError, ValueError, KeyError, TypeError) as exc:
            raise DraftError(
                _("The draft cannot be opened: it was changed, or it is not from this device."),
                code="draft_damaged",
            ) from exc

    def items(self) -> list[Draft]:
        """Every draft that opens, newest first (a damaged one is left out of the list)."""
        found = []
        for name in self.names():
            try:
                found.append(self.load(name))
            except DraftError:
                continue
        return found

    def delete(self, name: str) -> None:
        """The draft and its files' blobs (of a draft that no longer opens, only the file)."""
        remove_item(self.home.root / self._relative(name), lambda: self.load(name).blobs)


__all__ = ["BLOBS_DIR", "Draft", "DraftError", "Drafts"]
