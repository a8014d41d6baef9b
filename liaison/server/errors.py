"""Typed API errors: each has a stable `code` and an HTTP status; the middleware renders them."""

from __future__ import annotations


class ApiError(Exception):
    """A refusal answered as JSON {"code", "message"} with status `status`."""

    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BadRequest(ApiError, ValueError):
    status = 400


class Unauthorized(ApiError, PermissionError):
    status = 401


class Forbidden(ApiError, PermissionError):
    status = 403


class NotFound(ApiError, LookupError):
    status = 404


class Conflict(ApiError, ValueError):
    status = 409


class PayloadTooLarge(ApiError, ValueError):
    status = 413


class Unprocessable(ApiError, ValueError):
    """Well-formed input that does not verify (signatures, roots, references)."""

    status = 422
