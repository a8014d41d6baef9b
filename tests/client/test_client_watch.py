"""Which failures `watch` waits out and retries, and which end it."""

from __future__ import annotations

from liaison.client.errors import ClientError, ServerError, TransportError
from liaison.client.watch import _transient


def test_an_unreachable_relay_and_a_proxys_gateway_errors_are_retried() -> None:
    assert _transient(TransportError("Cannot reach the server"))
    for status in (502, 503, 504):
        assert _transient(ServerError(status, f"http_{status}", "gateway"))


def test_refusals_end_the_watch() -> None:
    assert not _transient(ServerError(403, "device_revoked", "This device has been revoked."))
    assert not _transient(ServerError(401, "invalid_token", "This token is not valid."))
    assert not _transient(ServerError(500, "internal_error", "bug"))
    assert not _transient(ClientError("anything else"))
