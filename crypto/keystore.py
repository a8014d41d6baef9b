"""Passphrase-protected keystore files: Argon2id pinned in the file, then XChaCha20-Poly1305."""

from __future__ import annotations

import unicodedata
from typing import Any

import nacl.exceptions
import nacl.pwhash.argon2id as argon2id
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)

from crypto.encoding import (
    b64d,
    b64e,
    canonical_json,
    expect_keys,
    get_int,
    parse_canonical_json,
    signed_message,
)
from crypto.errors import CryptoError, KeystoreError
from crypto.keys import Rng, draw_random
from crypto.labels import LABEL_KEYSTORE

FORMAT = "liaison-keystore"
VERSION = 1
KDF = "argon2id13"
AEAD = "xchacha20poly1305-ietf"
SALT_SIZE = argon2id.SALTBYTES  # 16
NONCE_SIZE = 24
KEY_SIZE = 32
# libsodium's MODERATE: 3 passes over 256 MiB, about half a second on an officer's laptop;
# an interactive unlock a few times a day, and a lost laptop costs an attacker that per guess.
DEFAULT_OPSLIMIT = argon2id.OPSLIMIT_MODERATE
DEFAULT_MEMLIMIT = argon2id.MEMLIMIT_MODERATE
# Bounds accepted when reading a file: a tampered file must not make us allocate 64 GiB.
MIN_OPSLIMIT = argon2id.OPSLIMIT_MIN
MAX_OPSLIMIT = 32
MIN_MEMLIMIT = argon2id.MEMLIMIT_MIN
MAX_MEMLIMIT = 2 * 1024 * 1024 * 1024
MAX_SECRET_SIZE = 1024 * 1024

_HEADER_FIELDS = ("format", "version", "kdf", "opslimit", "memlimit", "salt", "aead", "nonce")


def _passphrase_bytes(passphrase: str) -> bytes:
    if not isinstance(passphrase, str):
        raise TypeError("passphrase must be a string")
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def _kdf(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return bytes(
        argon2id.kdf(
            KEY_SIZE, _passphrase_bytes(passphrase), salt, opslimit=opslimit, memlimit=memlimit
        )
    )


def _associated_data(header: dict[str, Any]) -> bytes:
    return signed_message(LABEL_KEYSTORE, canonical_json(header))


def lock(
    secret: bytes,
    passphrase: str,
    *,
    opslimit: int = DEFAULT_OPSLIMIT,
    memlimit: int = DEFAULT_MEMLIMIT,
    rng: Rng | None = None,
) -> bytes:
    """The keystore file (canonical JSON bytes) holding `secret` under `passphrase`."""
    if not isinstance(secret, bytes) or len(secret) > MAX_SECRET_SIZE:
        raise ValueError("secret must be bytes of at most 1 MiB")
    if not MIN_OPSLIMIT <= opslimit <= MAX_OPSLIMIT or not MIN_MEMLIMIT <= memlimit <= MAX_MEMLIMIT:
        raise ValueError("Argon2id limits out of the accepted range")
    salt = draw_random(rng, SALT_SIZE)
    nonce = draw_random(rng, NONCE_SIZE)
    header: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "kdf": KDF,
        "opslimit": opslimit,
        "memlimit": memlimit,
        "salt": b64e(salt),
        "aead": AEAD,
        "nonce": b64e(nonce),
    }
    key = _kdf(passphrase, salt, opslimit, memlimit)
    ciphertext = crypto_aead_xchacha20poly1305_ietf_encrypt(
        secret, _associated_data(header), nonce, key
    )
    return canonical_json({**header, "ciphertext": b64e(bytes(ciphertext))})


def unlock(data: bytes, passphrase: str) -> bytes:
    """The secret; KeystoreError, identical for a wrong passphrase and for a damaged file."""
    try:
        obj = parse_canonical_json(data)
        expect_keys(obj, [*_HEADER_FIELDS, "ciphertext"], "keystore")
        header = {k: obj[k] for k in _HEADER_FIELDS}
        if (header["format"], header["version"], header["kdf"], header["aead"]) != (
            FORMAT,
            VERSION,
            KDF,
            AEAD,
        ):
            raise ValueError("unsupported keystore")
        opslimit = get_int(header, "opslimit")
        memlimit = get_int(header, "memlimit")
        if not MIN_OPSLIMIT <= opslimit <= MAX_OPSLIMIT:
            raise ValueError("opslimit out of range")
        if not MIN_MEMLIMIT <= memlimit <= MAX_MEMLIMIT:
            raise ValueError("memlimit out of range")
        salt = b64d(header["salt"])
        nonce = b64d(header["nonce"])
        ciphertext = b64d(obj["ciphertext"])
        if len(salt) != SALT_SIZE or len(nonce) != NONCE_SIZE:
            raise ValueError("bad salt or nonce length")
        key = _kdf(passphrase, salt, opslimit, memlimit)
        return bytes(
            crypto_aead_xchacha20poly1305_ietf_decrypt(
                ciphertext, _associated_data(header), nonce, key
            )
        )
    except (
        CryptoError,
        nacl.exceptions.CryptoError,
        ValueError,
        TypeError,
        KeyError,
        RuntimeError,
    ) as exc:
        # One message and one code whatever went wrong: no oracle for passphrase guessing.
        raise KeystoreError("keystore cannot be unlocked") from exc
