"""Typed API errors: each has a stable `code` and an HTTP status; the middleware renders them."""

from __future__ import annotations


class ApiError(Exception):
    """A refusal answered as JSON {"code", "message"} with status `status`."""

    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the refusal carries (none but for 429)."""
        return {}


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


class TooManyRequests(ApiError, PermissionError):
    """A rate limit: try again after `retry_after` seconds (the Retry-After header)."""

    status = 429

    def __init__(self, code: str, message: str, *, retry_after: int) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
