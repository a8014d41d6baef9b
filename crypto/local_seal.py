"""Local seals: files an officer's device keeps encrypted at rest in its home folder (the outbox,
the desk's drafts), under a key derived from the unlocked device key (crypto/PROTOCOL.md §7.2).

    key  = KDF(signing_seed, label)
    ad   = label || 0x00 || NFC-UTF-8(name)
    file = 0x01 || nonce (24) || XChaCha20-Poly1305-IETF(key, nonce, plaintext, ad)

`name` is the item's name in its folder, so that a sealed file renamed, swapped with another or
moved between the outbox and the drafts does not open. Sans-io: callers read and write files.
"""

from __future__ import annotations

import unicodedata

import nacl.bindings
import nacl.exceptions
import nacl.utils

from crypto.encoding import derive_key
from crypto.errors import CryptoError
from crypto.keys import Rng
from crypto.labels import LABEL_LOCAL_DRAFT, LABEL_LOCAL_OUTBOX

VERSION = 1
NONCE_SIZE = 24
KEY_SIZE = 32
TAG_SIZE = 16
LOCAL_SEAL_LABELS = (LABEL_LOCAL_OUTBOX, LABEL_LOCAL_DRAFT)


class LocalSealError(CryptoError, ValueError):
    """A local sealed file that does not open: changed, truncated, renamed, or of another
    device or purpose. One error for every cause."""

    code = "local_seal_failed"


def local_seal_key(signing_seed: bytes, label: bytes) -> bytes:
    """The 32-byte key of one local-seal purpose, from the device's Ed25519 seed."""
    if label not in LOCAL_SEAL_LABELS:
        raise ValueError("not a local-seal label")
    if len(signing_seed) != 32:
        raise ValueError("the signing seed is 32 bytes")
    return derive_key(signing_seed, label)


def associated_data(label: bytes, name: str) -> bytes:
    return label + b"\x00" + unicodedata.normalize("NFC", name).encode("utf-8")


def seal_local(
    key: bytes, label: bytes, name: str, plaintext: bytes, *, rng: Rng | None = None
) -> bytes:
    """The sealed file of `plaintext` named `name`; draws the 24-byte nonce."""
    if len(key) != KEY_SIZE:
        raise ValueError("local seal keys are 32 bytes")
    nonce = (rng or nacl.utils.random)(NONCE_SIZE)
    if len(nonce) != NONCE_SIZE:
        raise ValueError("the nonce is 24 bytes")
    sealed = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        plaintext, associated_data(label, name), nonce, key
    )
    return bytes([VERSION]) + nonce + sealed


def open_local(key: bytes, label: bytes, name: str, data: bytes) -> bytes:
    """The plaintext of a sealed file named `name`, or LocalSealError."""
    if len(data) < 1 + NONCE_SIZE + TAG_SIZE or data[0] != VERSION:
        raise LocalSealError("local sealed file is malformed")
    nonce, sealed = data[1 : 1 + NONCE_SIZE], data[1 + NONCE_SIZE :]
    try:
        return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            sealed, associated_data(label, name), nonce, key
        )
    except nacl.exceptions.CryptoError as exc:
        raise LocalSealError("local sealed file does not open") from exc


__all__ = [
    "LOCAL_SEAL_LABELS",
    "LocalSealError",
    "associated_data",
    "local_seal_key",
    "open_local",
    "seal_local",
]
