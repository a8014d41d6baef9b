"""Officer desk benchmark: inbox page with 10,000 messages, notice form, send-to-appearance.

Runs the demo's first steps on a relay on loopback, starts two desks in the same process
(Nguyễn Văn An in Vietnamese, Lý Vĩ in Chinese) and measures:

- the inbox page over an index of N messages (server-side time, first page and a deep page
  reached by key, and a search), p50 and p99;
- the verification-request form (server-side render time), p50 and p99;
- send-to-appearance: An submits a plain message on the desk's form; Lý Vĩ's open inbox is
  told by Server-Sent Events and fetches its rows; time from the submit to the rows holding
  the message, p50 and p99 over S sends.

The inbox index is filled with N synthetic entries (what the desk keeps in memory per
message; sending 10,000 real envelopes would time the relay, not the page). The keystore uses
the cheap test KDF profile.

    .venv/bin/python bench/desk.py [--messages 10000] [--sends 100] [--runs 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from liaison.cli.demo.tour import DEMO_PASSPHRASE, DemoContext, Step, run_demo, steps_until  # noqa: E402
from liaison.client.home import KDF_PROFILE_ENV  # noqa: E402
from liaison.desk.app import DESK, DeskSettings, create_app  # noqa: E402
from liaison.desk.inbox import InboxEntry  # noqa: E402
from liaison.desk.security import Sessions  # noqa: E402
from liaison.domain.notices import NOTICE_TYPES, search_key  # noqa: E402

Timings = dict[str, list[float]]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def timing_middleware(timings: Timings) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def timed(request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            label = request.headers.get("X-Bench-Label")
            if label:
                timings.setdefault(label, []).append(1000 * (time.perf_counter() - started))

    return timed


async def open_desk(ctx: DemoContext, name: str, language: str, timings: Timings) -> TestClient:  # type: ignore[type-arg]
    sessions = Sessions()
    app = create_app(DeskSettings(home=ctx.officers[name].root), sessions=sessions)
    app.middlewares.insert(0, timing_middleware(timings))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    await client.get(f"/launch?token={sessions.launch_token}")
    await app[DESK].unlock(DEMO_PASSPHRASE)
    client.session.cookie_jar.update_cookies({"liaison_desk_lang": language})
    return client


def csrf_of(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def fill_index(client: TestClient, count: int) -> None:  # type: ignore[type-arg]
    index = client.server.app[DESK].index
    index.extend(
        InboxEntry(
            message_id=f"{i:032x}",
            log_index=10_000_000 + i,
            sent_at=1_764_800_000 + i,
            sender_names={"vi": "Lý Vĩ", "zh": "李伟"},
            sender_device="CN-GX-DXGA:li.wei:desk",
            kind="notice",
            title=f"DX-2026-{i:05d}",
            notice_type=NOTICE_TYPES[i % len(NOTICE_TYPES)],
            case_ref=f"QN-2026-{i % 300:04d}",
            urgent=i % 13 == 0,
            handling="H1",
            search_text=search_key(f"DX-2026-{i:05d} Lò Thị Mai Móng Cái {i}"),
        )
        for i in range(count)
    )


async def bench(args: argparse.Namespace, folder: Path) -> None:
    async def timed(ctx: DemoContext) -> None:
        timings: Timings = {}
        an = await open_desk(ctx, "an-phone", "vi", timings)
        li = await open_desk(ctx, "li", "zh", timings)
        try:
            fill_index(an, args.messages)
            deep = 10_000_000 + args.messages // 2
            pages = {
                "inbox first page": "/",
                "inbox deep page (by key)": f"/?before={deep}",
                "inbox search (no diacritics)": "/?q=lo+thi+mai+mong+cai+4242",
                "inbox filter (urgent, case)": "/?urgent=1&case=QN-2026-0013",
                "notice form (verification request)": "/compose/notice/verification_request",
            }
            for label, path in pages.items():
                for _run in range(args.runs):
                    answer = await an.get(path, headers={"X-Bench-Label": label})
                    assert answer.status == 200, await answer.text()
                    await answer.read()

            appearances: list[float] = []
            token = csrf_of(await (await an.get("/compose")).text())
            events = await li.get("/events")
            for i in range(args.sends):
                started = time.perf_counter()
                sent = await an.post(
                    "/compose/message",
                    data={"csrf_token": token, "to": "CN-GX-DXGA", "text": f"Bench {i}"},
                )
                html = await sent.text()
                assert sent.status == 200, html
                message_id = re.search(r"[0-9a-f]{32}", html).group(0)  # type: ignore[union-attr]
                while True:
                    line = (await events.content.readline()).decode()
                    if line.startswith("data: ") and line.strip().endswith(message_id):
                        break
                rows = await (await li.get("/?rows=1")).text()
                assert message_id in rows
                appearances.append(1000 * (time.perf_counter() - started))
            events.close()
        finally:
            await an.close()
            await li.close()

        print(f"desk benchmark: {args.messages} messages in the inbox index, {args.runs} runs")
        for label in pages:
            values = timings[label]
            print(
                f"  {label:38s} p50 {percentile(values, 0.5):7.2f} ms"
                f"   p99 {percentile(values, 0.99):7.2f} ms (server-side)"
            )
        p50, p99 = percentile(appearances, 0.5), percentile(appearances, 0.99)
        label = f"send-to-appearance ({args.sends} sends)"
        print(
            f"  {label:38s} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms"
            " (submit on one desk to rows on the other)"
        )

    steps = [*steps_until("pins"), Step("bench", "desk benchmark", timed)]
    await run_demo(folder, say=lambda line: None, steps=steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--sends", type=int, default=100)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault(KDF_PROFILE_ENV, "test")
    print("command: .venv/bin/python bench/desk.py " + " ".join(sys.argv[1:]))
    with tempfile.TemporaryDirectory(prefix="liaison-bench-desk-") as folder:
        asyncio.run(bench(args, Path(folder)))


if __name__ == "__main__":
    main()
