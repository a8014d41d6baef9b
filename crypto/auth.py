"""Device authentication (PROTOCOL.md section 11): the bytes a device signs to get a token."""

from __future__ import annotations

from crypto.errors import MalformedError
from crypto.labels import LABEL_AUTH_CHALLENGE

CHALLENGE_BYTES = 32
LOG_PUBLIC_KEY_BYTES = 32


def auth_challenge_message(log_public_key: bytes, challenge: bytes) -> bytes:
    """`LABEL_AUTH_CHALLENGE || log_public_key || challenge`, both parts 32 bytes.

    The relay's log public key binds the answer to that relay: a signature a phishing relay
    obtains by forwarding another relay's challenge does not verify at the other relay.
    """
    if len(log_public_key) != LOG_PUBLIC_KEY_BYTES:
        raise MalformedError("the log public key must be 32 bytes")
    if len(challenge) != CHALLENGE_BYTES:
        raise MalformedError("an authentication challenge must be 32 bytes")
    return LABEL_AUTH_CHALLENGE + bytes(log_public_key) + bytes(challenge)
