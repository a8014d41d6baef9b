"""The client's typed errors: server refusals, transport failures, missing pins, failed checks."""

from __future__ import annotations

from typing import Any

from liaison.i18n import _


class ClientError(Exception):
    """Base of every error the client layer raises; `code` is stable and safe to show or log."""

    code = "client_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class ServerError(ClientError):
    """The server refused a request with its JSON `{"code", "message"}` body."""

    code = "server_error"

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.body = body


class TransportError(ClientError, ConnectionError):
    """The server could not be reached, or answered with something that is not the API."""

    code = "server_unreachable"


class HomeError(ClientError, ValueError):
    """The home folder is missing something the operation needs, or holds something unexpected."""

    code = "home_error"


class PassphraseError(ClientError, ValueError):
    """No passphrase available, or it does not unlock the keystore."""

    code = "bad_passphrase"


class MissingPin(ClientError, LookupError):
    """An agency whose root this client has not pinned."""

    code = "missing_pin"

    def __init__(self, agency: str, message: str) -> None:
        super().__init__(message)
        self.agency = agency


class VerificationError(ClientError, ValueError):
    """Something the server returned does not verify: certificate, proof, checkpoint, entry."""

    code = "verification_failed"


class InvalidAnswer(VerificationError):
    """The server answered a route with something that is not the API's answer to it (not
    JSON, a missing field, a wrong type): the relay is misbehaving or is not a Liaison relay.
    Like any answer that does not verify, it is refused, not retried."""

    code = "invalid_answer"

    def __init__(self, route: str, detail: str) -> None:
        super().__init__(
            _("The server answered something invalid to {route}: {detail}").format(
                route=route, detail=detail
            )
        )
        self.route = route
        self.detail = detail


class LogInconsistent(VerificationError):
    """The server's log is not an append-only extension of the checkpoint this client holds."""

    code = "log_inconsistent"


class RefusedEnvelope(ClientError, ValueError):
    """An envelope the client will not open (revoked sender, bad signature, replay...)."""

    code = "envelope_refused"


class BadInput(ClientError, ValueError):
    """An argument or file given by the user that cannot be used."""

    code = "bad_input"
