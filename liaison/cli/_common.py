"""What the `liaison` command groups share: common options, refusals, relay calls and output.

Every `liaison` call builds the whole parser, so this module, and the top of every command
module, import nothing heavy (no aiohttp, PyNaCl, storage or notice catalogue): a command imports
the client or domain modules it needs when it runs. tests/cli checks that `--help` stays light.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from crypto.errors import CryptoError
from liaison.client.errors import ClientError, ServerError
from liaison.client.home import Home, default_home
from liaison.i18n import _, current_language, translate
from liaison.i18n.errors import os_error_reason

if TYPE_CHECKING:
    from liaison.client.session import OfficerSession
    from liaison.client.transport import ApiClient

T = TypeVar("T")

ADMIN_TOKEN_ENV = "LIAISON_ADMIN_TOKEN"  # noqa: S105 (a variable name, not a secret)


class CommandError(Exception):
    """A refusal to show the officer: printed to stderr, exit status 1 (or `exit_code`)."""

    def __init__(self, message: str, *, code: str = "error", exit_code: int = 1) -> None:
        super().__init__(message)
        self.code = code
        self.exit_code = exit_code


# --- The parser -------------------------------------------------------------------------------
class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose options may wait until the command line reaches it.

    `subparsers.add_parser(name, help=..., options=add)` lists the command at once but calls
    `add(parser)` only when that command is parsed (or `complete()` asks for it): for commands
    whose option choices come from a heavy module (the notice catalogue, the client)."""

    def __init__(
        self,
        *args: Any,
        options: Callable[[argparse.ArgumentParser], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._pending_options = options

    def add_pending_options(self) -> None:
        if self._pending_options is not None:
            add, self._pending_options = self._pending_options, None
            add(self)

    def parse_known_args(  # type: ignore[override]
        self, args: Any = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self.add_pending_options()
        return super().parse_known_args(args, namespace)


def complete(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """`parser` with every waiting option added, down the whole tree (for docs and tests)."""
    if isinstance(parser, CommandParser):
        parser.add_pending_options()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                complete(sub)
    return parser


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


def add_local_options(parser: argparse.ArgumentParser, *, json: bool = True) -> None:
    """--home (and --json): a command that works on the home folder alone."""
    add_home_option(parser)
    if json:
        add_json_option(parser)


def add_relay_options(parser: argparse.ArgumentParser, *, json: bool = True) -> None:
    """--server, --home (and --json): a command that talks to the relay."""
    add_server_option(parser)
    add_local_options(parser, json=json)


def add_admin_token_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--admin-token",
        default=None,
        help=_("The server operator's admin token (default: $LIAISON_ADMIN_TOKEN)"),
    )


def admin_token(args: argparse.Namespace) -> str:
    token = args.admin_token or os.environ.get(ADMIN_TOKEN_ENV)
    if not token:
        raise CommandError(_("Give the operator's admin token with --admin-token."))
    return str(token)


# --- Running a command ------------------------------------------------------------------------
def describe(exc: BaseException) -> str:
    """One line for the officer; server refusals keep their stable code."""
    if isinstance(exc, ServerError):
        return _("the server refused ({code}): {message}").format(code=exc.code, message=exc)
    if isinstance(exc, CryptoError):
        # crypto/ words its errors in English for logs; the officer reads them by their code.
        from liaison.i18n.errors import crypto_error_text

        return _("verification failed ({code}): {message}").format(
            code=exc.code, message=crypto_error_text(exc.code)
        )
    return str(exc)


def command(func: Callable[[argparse.Namespace], T]) -> Callable[[argparse.Namespace], T]:
    """Turn client and crypto errors raised by a command into CommandError (stderr, exit 1)."""

    @functools.wraps(func)
    def wrapper(args: argparse.Namespace) -> T:
        try:
            return func(args)
        except (ClientError, CryptoError) as exc:
            raise CommandError(describe(exc), code=getattr(exc, "code", "error")) from exc
        except OSError as exc:
            # The OS's own text is in the machine's language: worded by errno class instead.
            from liaison.i18n.errors import os_error_text

            raise CommandError(os_error_text(exc), code="os_error") from exc

    return wrapper


@contextmanager
def notice_refusals() -> Iterator[None]:
    """A notice refused (bad field, H2 handling) becomes a CommandError with the notice's code,
    before `command` sees it (HandlingRestricted is also a PermissionError, an OSError)."""
    from liaison.domain.fields import NoticeError

    try:
        yield
    except NoticeError as exc:
        raise CommandError(translate(exc.message, current_language()), code=exc.code) from None


def home_from_args(args: argparse.Namespace) -> Home:
    return Home(args.home or default_home())


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` in a fresh event loop (asyncio is imported only by commands that run one)."""
    import asyncio

    return asyncio.run(coro)


def run_api(url: str, call: Callable[[ApiClient], Awaitable[T]]) -> T:
    """Run `call` with a connection to the relay at `url`, in a fresh event loop."""

    async def connected() -> T:
        from liaison.client.transport import ApiClient

        async with ApiClient(url) as api:
            return await call(api)

    return run(connected())


def on_relay(home: Home, args: argparse.Namespace, call: Callable[[ApiClient], Awaitable[T]]) -> T:
    """Run `call` against the relay of `--server`, else the one recorded in the home folder;
    directory and log reads log in with the home's device (issue 14, section 2)."""
    from liaison.client import officer

    async def with_device(api: ApiClient) -> T:
        if home.settings().device_id:
            api.device_login = lambda: officer.authenticate(home, api)
        return await call(api)

    return run_api(home.server_url(getattr(args, "server", None)), with_device)


def on_session(
    args: argparse.Namespace,
    call: Callable[[OfficerSession], Awaitable[T]],
    *,
    offline: bool = False,
    home: Home | None = None,
) -> T:
    """Run `call` with the officer session of `--home` (or `home`) on the relay of `--server`,
    else the one the home folder records; `offline` opens no connection."""
    from liaison.client.session import OfficerSession

    async def opened() -> T:
        session = OfficerSession.open(
            home or home_from_args(args), server=getattr(args, "server", None), offline=offline
        )
        async with session:
            return await call(session)

    return run(opened())


# --- Input and output -------------------------------------------------------------------------
def _json_value(value: Any) -> Any:
    """A relay answer (liaison.client.answers) as plain JSON values."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    raise TypeError(f"{type(value).__name__} is not JSON")


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=_json_value))


def print_result(args: argparse.Namespace, value: Any, text: str) -> None:
    """`value` as JSON with --json, else `text` for the officer."""
    if args.json:
        print_json(value)
    else:
        print(text)


def write_output(path: str, data: bytes) -> None:
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        Path(path).write_bytes(data)


def add_pdf_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pdf",
        metavar="FILE",
        help=_(
            "Write the notice as the signable bilingual document, an A4 PDF, to FILE "
            "(refused for H2)"
        ),
    )


def write_pdf(path: str, make: Callable[[], bytes]) -> None:
    """The PDF `make` returns, written to `path`; without WeasyPrint or its fonts, the officer
    is told what to install (exit status 1). H2 refusals pass through to notice_refusals."""
    from liaison.i18n.errors import pdf_unavailable_text
    from liaison.i18n.pdf import INSTALL_HINT, PdfUnavailable

    try:
        data = make()
    except PdfUnavailable as exc:
        raise CommandError(pdf_unavailable_text(INSTALL_HINT), code=exc.code) from None
    write_output(path, data)
    print(_("Written: {path}").format(path=path), file=sys.stderr)


def read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ClientError(
            _("Cannot read {path}: {reason}").format(path=path, reason=os_error_reason(exc))
        ) from exc
