"""Canonical bytes of every signed or hashed structure: NFC + RFC 8785 JSON, base64, framing."""

from __future__ import annotations

import base64
import binascii
import json
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import rfc8785
from nacl._sodium import ffi, lib

from crypto.errors import MalformedError

# RFC 8785 only guarantees exact round trips for integers of magnitude below 2**53 (I-JSON).
MAX_SAFE_INTEGER = 2**53 - 1
HASH_SIZE = 32


def _normalise(obj: object, allow_floats: bool = False) -> object:
    if isinstance(obj, str):
        return unicodedata.normalize("NFC", obj)
    if isinstance(obj, bool) or obj is None:
        return obj
    if isinstance(obj, int):
        if not -MAX_SAFE_INTEGER <= obj <= MAX_SAFE_INTEGER:
            raise MalformedError("integer outside the I-JSON safe range")
        return obj
    if isinstance(obj, Mapping):
        out: dict[str, object] = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise MalformedError("object keys must be strings")
            nkey = unicodedata.normalize("NFC", key)
            if nkey in out:
                raise MalformedError("two object keys are equal after NFC normalisation")
            out[nkey] = _normalise(value, allow_floats)
        return out
    if isinstance(obj, list | tuple):
        return [_normalise(item, allow_floats) for item in obj]
    if allow_floats and isinstance(obj, float):
        return obj  # rfc8785 refuses NaN and infinities
    # Floats are refused on purpose: nothing signed needs them and they invite ambiguity.
    raise MalformedError(f"type {type(obj).__name__} has no canonical encoding")


def canonical_json(obj: object, *, allow_floats: bool = False) -> bytes:
    """RFC 8785 canonical JSON of `obj` after NFC-normalising every string, keys included.

    Nothing signed or logged holds a float; `allow_floats` is for notices only, whose place
    coordinates may be fractions (finite floats, written as RFC 8785 says).
    """
    if _plain_ascii(obj):
        return _SORTED_COMPACT.encode(obj).encode("ascii")
    return _rfc8785_json(obj, allow_floats=allow_floats)


def _rfc8785_json(obj: object, *, allow_floats: bool = False) -> bytes:
    """The general path of `canonical_json`: NFC, then the `rfc8785` package."""
    try:
        normalised: Any = _normalise(obj, allow_floats)
        return bytes(rfc8785.dumps(normalised))
    except (rfc8785.CanonicalizationError, UnicodeError, RecursionError) as exc:
        raise MalformedError(f"no canonical encoding: {exc}") from exc


def _plain_ascii(value: object) -> bool:
    """Whether `value` is made of dicts with string keys, lists, ASCII strings, safe integers,
    booleans and null only. For such a value RFC 8785 and the standard library's sorted
    compact output agree (NFC is the identity on ASCII, UTF-16 key order is code-point order,
    the escapes are the same) and the latter costs a third: log entries take this path. A
    property test compares the two paths."""
    # Exact types, not isinstance: a str or int subclass may encode differently. A stack, not
    # recursion: a deeply nested value must not exhaust Python's recursion limit here.
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is str:
            if not item.isascii():
                return False
        elif type(item) is int:
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                return False
        elif type(item) is dict:
            if not all(type(key) is str and key.isascii() for key in item):
                return False
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
        elif item is not None and type(item) is not bool:
            return False
    return True


def _refuse_float(text: str) -> Any:
    raise MalformedError("floating-point numbers are not allowed")


def _refuse_constant(text: str) -> Any:
    raise MalformedError("NaN and Infinity are not allowed")


# Digits of MAX_SAFE_INTEGER: a longer literal is out of range without converting it, and
# converting one of over 4,300 digits would raise a bare ValueError (CPython's limit).
_MAX_SAFE_DIGITS = len(str(MAX_SAFE_INTEGER))


def _safe_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_SAFE_DIGITS:
        raise MalformedError("integer outside the I-JSON safe range")
    value = int(text)
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise MalformedError("integer outside the I-JSON safe range")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise MalformedError("duplicate object key")
        out[key] = value
    return out


_DECODER = json.JSONDecoder(
    object_pairs_hook=_no_duplicates,
    parse_float=_refuse_float,
    parse_int=_safe_int,
    parse_constant=_refuse_constant,
)
# json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False), built once.
_SORTED_COMPACT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse_canonical_json(data: bytes) -> dict[str, Any]:
    """Parse a JSON object and insist that `data` is exactly its canonical encoding."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedError("expected bytes")
    data = bytes(data)
    try:
        # One decoder for every call: json.loads would build a new one for these hooks each time.
        obj = _DECODER.decode(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MalformedError("not UTF-8 JSON") from exc
    if not isinstance(obj, dict):
        raise MalformedError("expected a JSON object")
    # canonical_json takes its fast path for the common pure-ASCII object.
    if canonical_json(obj) != data:
        raise MalformedError("not in canonical form (RFC 8785, NFC)")
    return obj


def b64e(data: bytes) -> str:
    """Standard base64 with padding."""
    return base64.b64encode(data).decode("ascii")


def b64d(text: str) -> bytes:
    """Strict standard base64: padding required, no whitespace, no non-zero trailing bits."""
    if not isinstance(text, str):
        raise MalformedError("base64 value must be a string")
    try:
        encoded = text.encode("ascii")
        raw = binascii.a2b_base64(encoded, strict_mode=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
        raise MalformedError("invalid base64") from exc
    # Strict mode refuses what validate=True refused (alphabet, padding placement); the
    # round trip refuses the rest (non-zero trailing bits): only the canonical text passes.
    if binascii.b2a_base64(raw, newline=False) != encoded:
        raise MalformedError("non-canonical base64")
    return raw


def frame(*parts: bytes) -> bytes:
    """Unambiguous concatenation: each part as 4-byte big-endian length, then its bytes."""
    out: list[bytes] = []
    for p in parts:  # a flat list for one join: `prefix + p` would copy every part twice
        out.append(len(p).to_bytes(4, "big"))
        out.append(p)
    return b"".join(out)


def blake2b(data: bytes, *, size: int = HASH_SIZE, key: bytes = b"") -> bytes:
    """libsodium's BLAKE2b (crypto_generichash), keyed when `key` is given.

    Called through PyNaCl's own cffi handle: the public wrapper
    (nacl.bindings.crypto_generichash_blake2b_salt_personal, same output, checked by a test)
    spends several times longer validating arguments than hashing, and envelopes hash a lot.
    """
    if not 16 <= size <= 64 or len(key) > 64:
        raise ValueError("BLAKE2b digest 16..64 bytes, key at most 64 bytes")
    out = ffi.new("unsigned char[]", size)
    rc = lib.crypto_generichash_blake2b_salt_personal(
        out, size, data, len(data), key, len(key), ffi.NULL, ffi.NULL
    )
    if rc != 0:
        raise RuntimeError("crypto_generichash failed")
    return bytes(ffi.buffer(out, size))


def labelled_hash(label: bytes, *parts: bytes, size: int = HASH_SIZE) -> bytes:
    """BLAKE2b-`size` (unkeyed) of frame(label, *parts)."""
    return blake2b(frame(label, *parts), size=size)


def derive_key(key: bytes, label: bytes, *parts: bytes, size: int = HASH_SIZE) -> bytes:
    """BLAKE2b-`size` keyed with `key` (32..64 bytes) over frame(label, *parts)."""
    if len(key) < 32:
        raise ValueError("derivation keys are at least 32 bytes")
    return blake2b(frame(label, *parts), size=size, key=key)


def signed_message(label: bytes, payload: bytes) -> bytes:
    """The bytes an Ed25519 signature covers: label || 0x00 || payload."""
    return label + b"\x00" + payload


# Field readers shared by every from_bytes: they turn shape errors into MalformedError.


def expect_keys(obj: Mapping[str, Any], keys: Sequence[str], what: str) -> None:
    if set(obj) != set(keys):
        raise MalformedError(f"{what}: unexpected or missing fields")


def get_str(obj: Mapping[str, Any], key: str, *, max_len: int = 1024) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise MalformedError(f"field {key!r} must be a non-empty string")
    return value


def get_int(obj: Mapping[str, Any], key: str, *, minimum: int = 0) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise MalformedError(f"field {key!r} must be an integer >= {minimum}")
    return value


def get_bytes(obj: Mapping[str, Any], key: str, *, length: int | None = None) -> bytes:
    raw = b64d(obj.get(key))  # type: ignore[arg-type]
    if length is not None and len(raw) != length:
        raise MalformedError(f"field {key!r} must be {length} bytes")
    return raw
