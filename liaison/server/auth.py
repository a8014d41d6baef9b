"""Device authentication: challenge, signed answer, bearer token; the operator's admin token."""

from __future__ import annotations

import hmac
from typing import Any

from nacl.encoding import RawEncoder
from nacl.exceptions import BadSignatureError
from nacl.hash import blake2b
from nacl.signing import VerifyKey

from crypto.auth import auth_challenge_message
from crypto.encoding import b64e
from crypto.errors import MalformedError
from crypto.keys import validate_device_id
from liaison.server.errors import BadRequest, Forbidden, NotFound, Unauthorized
from liaison.server.identity import token_digest
from liaison.server.models import ChallengeRequest, TokenRequest, decode_field
from liaison.server.relay import Relay
from liaison.store import WriteTx
from liaison.store.records import DeviceRecord

CHALLENGE_MAC_LABEL = b"liaison/relay/challenge-mac/v1"
# Tokens remembered in memory at most; past this the cache starts again from the database.
MAX_CACHED_TOKENS = 100_000


def check_validity_window(device: DeviceRecord, now: int) -> None:
    """Refuses a device outside its certificate's [not_before, not_after] (issue 14, defect 4):
    no challenge, token or authenticated request before it starts or after it ends."""
    if now < device.not_before:
        raise Forbidden("certificate_not_yet_valid", "This device's certificate is not valid yet.")
    if now > device.not_after:
        raise Forbidden("certificate_expired", "This device's certificate has expired.")


async def _live_device(relay: Relay, device_id: str) -> DeviceRecord:
    try:
        validate_device_id(device_id)
    except MalformedError as exc:
        raise BadRequest("invalid_device_id", "The device id is not valid.") from exc
    device = await relay.store.device(device_id)
    if device is None:
        raise NotFound("unknown_device", "No certificate is registered for this device.")
    if device.revoked:
        raise Forbidden("device_revoked", "This device has been revoked.")
    check_validity_window(device, relay.clock())
    return device


def _challenge_mac(relay: Relay, body: bytes, device_id: str) -> bytes:
    # Keyed with a key derived from the relay's own signing key: every process of the relay
    # (they share the data folder) checks the challenges of the others.
    key = blake2b(
        CHALLENGE_MAC_LABEL,
        key=bytes(relay.identity.signing_key),
        digest_size=32,
        encoder=RawEncoder,
    )
    return blake2b(body + device_id.encode(), key=key, digest_size=16, encoder=RawEncoder)


async def challenge(relay: Relay, request: ChallengeRequest) -> dict[str, Any]:
    """POST /v1/auth/challenge: 32 bytes for the device to sign, valid briefly.

    Stateless (issue 14, defect 9): nothing is written until a signed answer comes back. The
    challenge is its expiry (8 bytes), 8 random bytes and a MAC over both and the device id
    (16 bytes), so the token request proves which device it was issued to and until when; a
    used challenge is recorded then, by a device that has signed it.
    """
    device = await _live_device(relay, request.device_id)
    expires_at = relay.clock() + relay.challenge_ttl
    body = expires_at.to_bytes(8, "big") + relay.rng(8)
    nonce = body + _challenge_mac(relay, body, device.device_id)
    return {"challenge": b64e(nonce), "expires_at": expires_at}


async def token(relay: Relay, request: TokenRequest) -> dict[str, Any]:
    """POST /v1/auth/token: a bearer token for a signed, unused, unexpired challenge."""
    nonce = decode_field(request.challenge, "challenge", length=32)
    signature = decode_field(request.signature, "signature", length=64)
    device = await _live_device(relay, request.device_id)
    now = relay.clock()
    try:
        VerifyKey(device.signing_key).verify(
            auth_challenge_message(relay.identity.public_key, nonce), signature
        )
    except BadSignatureError as exc:
        raise Unauthorized("bad_signature", "The challenge signature does not verify.") from exc
    bearer = relay.rng(32).hex()
    expires_at = now + relay.token_ttl

    body, mac = nonce[:16], nonce[16:]
    if not hmac.compare_digest(mac, _challenge_mac(relay, body, device.device_id)):
        raise Unauthorized("unknown_challenge", "This challenge was not issued.")
    challenge_expires_at = int.from_bytes(body[:8], "big")
    if challenge_expires_at < now:
        raise Unauthorized("challenge_expired", "This challenge has expired.")

    async def job(tx: WriteTx) -> None:
        if await tx.challenge(nonce) is not None:
            raise Unauthorized("challenge_used", "This challenge was already used.")
        # Kept until it expires, so that it is used once.
        await tx.insert_challenge(
            challenge=nonce, device_id=device.device_id, expires_at=challenge_expires_at
        )
        await tx.use_challenge(nonce)
        await tx.insert_token(
            token_hash=token_digest(bearer),
            device_id=device.device_id,
            expires_at=expires_at,
            at=now,
        )
        await tx.purge_expired(now - relay.challenge_ttl)

    await relay.store.write(job)
    return {"token": bearer, "expires_at": expires_at}


def _readable_token(bearer: str | None) -> str:
    """The bearer token if it can be one: tokens are ASCII hex, and a header that is not even
    text (undecodable bytes arrive as surrogates) is refused as a bad token, never a 500."""
    if not bearer:
        raise Unauthorized("missing_token", "This request needs a device token.")
    if not bearer.isascii() or not bearer.isprintable():
        raise Unauthorized("invalid_token", "This token is not valid.")
    return bearer


async def authenticate(
    relay: Relay, bearer: str | None, *, revocation_checked_later: bool = False
) -> str:
    """The device id a bearer token belongs to; refuses expired tokens and revoked devices."""
    device_id, _expires_at = await authenticate_session(
        relay, bearer, revocation_checked_later=revocation_checked_later
    )
    return device_id


async def authenticate_session(
    relay: Relay, bearer: str | None, *, revocation_checked_later: bool = False
) -> tuple[str, int]:
    """The device id a bearer token belongs to and the token's expiry; refuses expired tokens
    and revoked devices.

    Tokens never change once issued, so they are remembered; revocation is read from the
    database on every request (another process may have recorded it), here or, for a send,
    inside the writer's transaction (`revocation_checked_later`).
    """
    bearer = _readable_token(bearer)
    known = relay.tokens.get(bearer)
    if known is None or not revocation_checked_later:
        record = await relay.store.token(token_digest(bearer))
        if record is None:
            raise Unauthorized("invalid_token", "This token is not valid.")
        known = (record.device_id, record.expires_at)
        if len(relay.tokens) > MAX_CACHED_TOKENS:
            relay.tokens.clear()
        relay.tokens[bearer] = known
        if record.device_revoked:
            raise Forbidden("device_revoked", "This device has been revoked.")
    device_id, expires_at = known
    now = relay.clock()
    if expires_at < now:
        raise Unauthorized("token_expired", "This token has expired; authenticate again.")
    check_validity_window(await registered_device(relay, device_id), now)
    return device_id, expires_at


def authenticate_admin(relay: Relay, bearer: str | None) -> None:
    """Refuses anything but the operator's admin token."""
    if (
        not bearer
        or not bearer.isascii()
        or not bearer.isprintable()
        or not relay.identity.is_admin_token(bearer)
    ):
        raise Unauthorized("invalid_admin_token", "This request needs the operator token.")


async def registered_device(relay: Relay, device_id: str) -> DeviceRecord:
    """The certificate record of an authenticated device (cached: certificates never change;
    revocation is not part of this answer and is checked where it matters)."""
    device = relay.cert_cache.get(device_id)
    if device is None:
        device = await relay.store.device(device_id)
        if device is None:
            raise Unauthorized("invalid_token", "This token is not valid.")
        relay.cert_cache[device_id] = device
    return device
