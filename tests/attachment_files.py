"""Files and connections for attachment tests: large pseudo-random files written and compared
a mebibyte at a time, and a loopback proxy that drops a connection mid-transfer."""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path

MIB = 1024 * 1024


def random_file(path: Path, size: int, seed: int) -> Path:
    """`size` pseudo-random bytes written a mebibyte at a time (never the whole file in memory)."""
    rand = random.Random(seed)
    with open(path, "wb") as out:
        left = size
        while left:
            step = min(left, MIB)
            out.write(rand.randbytes(step))
            left -= step
    return path


def same_file(one: Path, other: Path) -> bool:
    if one.stat().st_size != other.stat().st_size:
        return False
    with open(one, "rb") as a, open(other, "rb") as b:
        while block := a.read(MIB):
            if block != b.read(MIB):
                return False
    return True


class DroppingProxy:
    """A loopback TCP proxy to a relay that cuts, once, the first connection carrying more
    than `cut_after` bytes from its client (a device or a peer relay): a connection dropped in
    the middle of an upload or of a blob crossing the border. With `answers`, the bytes counted
    and cut are the relay's answer instead: a download dropped midway."""

    def __init__(self, upstream_port: int, cut_after: int, *, answers: bool = False) -> None:
        self.upstream_port = upstream_port
        self.cut_after: int | None = cut_after
        self.answers = answers
        self.cuts = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pipe(src, dst, cut: bool) -> None:
            sent = 0
            try:
                while data := await src.read(65536):
                    limit = self.cut_after
                    if cut and limit is not None and sent + len(data) > limit:
                        dst.write(data[: limit - sent])
                        await dst.drain()
                        self.cuts += 1
                        self.cut_after = None  # only once
                        break
                    sent += len(data)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                for stream in (writer, up_writer):
                    with contextlib.suppress(Exception):
                        stream.close()

        await asyncio.gather(
            pipe(reader, up_writer, not self.answers), pipe(up_reader, writer, self.answers)
        )
