"""Running the desk: bind 127.0.0.1, print (and open) the one-time launch link, serve."""

from __future__ import annotations

import asyncio
import webbrowser
from collections.abc import Callable

from aiohttp import web

from liaison.desk.app import create_app
from liaison.desk.security import Sessions
from liaison.desk.state import DESK, DeskSettings

HOST = "127.0.0.1"


async def serve(
    settings: DeskSettings,
    *,
    port: int = 0,
    passphrase: str | None = None,
    open_browser: bool = True,
    say: Callable[[str], None] = print,
    started: Callable[[str], None] | None = None,
) -> None:
    """Serve the desk until cancelled; `passphrase` (from the terminal) unlocks it at once."""
    sessions = Sessions()
    app = create_app(settings, sessions=sessions)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, port)
    await site.start()
    try:
        bound = runner.addresses[0][1]
        if passphrase is not None:
            await app[DESK].unlock(passphrase)
        url = f"http://{HOST}:{bound}/launch?token={sessions.launch_token}"
        say(url)
        if started is not None:
            started(url)
        if open_browser:
            webbrowser.open(url)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
