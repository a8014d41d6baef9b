"""Inbox search benchmark: time to search N received notices, each decrypted in memory.

Runs the demo's first steps on a relay on loopback, sends N notices from Dongxing to Nguyễn Văn
An, then times `notices.search` (which re-opens and verifies every cached envelope; no index),
once after a sync and once more. Figures: total seconds and milliseconds per message. The
keystore uses the cheap demo KDF profile, so the figure is the verification and round trips.

    .venv/bin/python bench/notices_search.py [--messages 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from liaison.cli.demo.tour import DemoContext, Step, run_demo, steps_until  # noqa: E402
from liaison.client import messages, notices  # noqa: E402
from liaison.client.home import KDF_PROFILE_ENV  # noqa: E402
from liaison.domain.notices import parse_notice  # noqa: E402

NOTICE = ROOT / "tests" / "golden" / "notices" / "verification_result.json"


async def bench(count: int, folder: Path) -> None:
    async def timed(ctx: DemoContext) -> None:
        data = json.loads(NOTICE.read_text(encoding="utf-8"))
        li, an, api = ctx.officers["li"], ctx.officers["an-phone"], ctx.client
        started = time.perf_counter()
        for i in range(count):
            data["header"]["our_ref"] = f"DX-2026-{i:04d}"
            payload = notices.notice_payload(parse_notice(data))
            await messages.send(li, api, ["VN-QN-CA/nguyen.van.an"], payload)
        sent = time.perf_counter() - started
        started = time.perf_counter()
        await messages.sync(an, api)
        synced = time.perf_counter() - started
        print(f"send: {1000 * sent / count:.1f} ms per notice; sync: {synced:.2f} s for {count}")
        requests = 0
        request = api.request

        async def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal requests
            requests += 1
            return await request(*args, **kwargs)

        api.request = counted  # type: ignore[method-assign]
        for run in ("first", "second"):
            requests = 0
            started = time.perf_counter()
            result = await notices.search(an, api, "DX-2026-0007")
            took = time.perf_counter() - started
            print(
                f"search ({run}): {count} notices in {took:.2f} s, "
                f"{1000 * took / count:.1f} ms per message, {requests / count:.1f} requests "
                f"per message, {len(result.hits)} hit(s)"
            )

    steps = [*steps_until("pins"), Step("bench", "search benchmark", timed)]
    await run_demo(folder, say=lambda line: None, steps=steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50)
    args = parser.parse_args()
    os.environ.setdefault(KDF_PROFILE_ENV, "interactive")
    with tempfile.TemporaryDirectory(prefix="liaison-bench-") as folder:
        asyncio.run(bench(args.messages, Path(folder)))


if __name__ == "__main__":
    main()
