"""Terminal-side glue shared by the `liaison` command groups: home folder, JSON output, errors."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from crypto.errors import CryptoError
from liaison.client.errors import ClientError, ServerError
from liaison.client.home import Home, default_home
from liaison.client.transport import ApiClient
from liaison.i18n import _

T = TypeVar("T")


def add_home_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help=_(
            "Home folder with this device's keys and state (default: $LIAISON_HOME or ~/.liaison)"
        ),
    )


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help=_("Print the result as JSON for scripts")
    )


def add_server_option(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    parser.add_argument(
        "--server",
        required=required,
        default=None,
        help=_(
            "Relay server URL, e.g. http://127.0.0.1:8080 (default: the one in the home folder)"
        ),
    )


def home_from_args(args: argparse.Namespace) -> Home:
    return Home(args.home or default_home())


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True))


def describe(exc: BaseException) -> str:
    """One line for the officer; server refusals keep their stable code."""
    if isinstance(exc, ServerError):
        return _("the server refused ({code}): {message}").format(code=exc.code, message=exc)
    if isinstance(exc, CryptoError):
        return _("verification failed ({code}): {message}").format(code=exc.code, message=exc)
    return str(exc)


def command(func: Callable[[argparse.Namespace], T]) -> Callable[[argparse.Namespace], T]:
    """Turn client and crypto errors raised by a command into CommandError (stderr, exit 1)."""

    @functools.wraps(func)
    def wrapper(args: argparse.Namespace) -> T:
        from liaison.cli import CommandError

        try:
            return func(args)
        except (ClientError, CryptoError) as exc:
            raise CommandError(describe(exc), code=getattr(exc, "code", "error")) from exc
        except OSError as exc:
            raise CommandError(str(exc), code="os_error") from exc

    return wrapper


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def with_api(
    url: str, call: Callable[[ApiClient], Awaitable[T]], *, token: str | None = None
) -> T:
    async with ApiClient(url, token=token) as api:
        return await call(api)


def write_output(path: str, data: bytes) -> None:
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        Path(path).write_bytes(data)


def read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ClientError(
            _("Cannot read {path}: {reason}").format(path=path, reason=exc.strerror)
        ) from exc
