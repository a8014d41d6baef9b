"""`liaison serve --workers N`: a supervisor process and N relay processes on one port.

The supervisor binds the listening socket once (SO_REUSEADDR and SO_REUSEPORT) and every worker
accepts from that same socket, inherited as a file descriptor: one accept queue for all. This
is what lets a worker stop without dropping a connection. With one SO_REUSEPORT socket per
worker, the kernel hashes each new connection to one worker's own queue, and the connections
waiting in that queue are reset when the worker closes its socket (Linux, unless the operator
turns on net.ipv4.tcp_migrate_req); with one shared queue, a worker that stops accepting simply
leaves the waiting connections to the others.

What the workers share goes through PostgreSQL, as for separate relay processes: one log order
(the log_head row locked by each group commit while it writes), pushes and revocations
(LISTEN/NOTIFY on the push channel), the log tree caught up from the database before it
answers. The supervisor makes the keys and migrates the tables once, before any worker starts.

Signals to the supervisor: SIGHUP restarts the workers one at a time (a new worker is accepting
before the old one is told to stop; the old one stops accepting, finishes its in-flight
requests, closes its push sockets with 1001 so clients reconnect elsewhere, and exits); SIGTERM
or SIGINT stops them all the same way. A worker that dies is started again after a second.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiohttp import web

log = logging.getLogger(__name__)

# Response header naming the worker that answered (`index.generation`; generation counts the
# worker's restarts): operators and tests see which process served a request.
WORKER_HEADER = "Liaison-Worker"
# How long a stopping worker lets its in-flight requests finish.
DRAIN_SECONDS = 30.0
# How long a new worker may take to open the database and load the log before it counts failed.
START_SECONDS = 120.0
# After it stops accepting, how long a worker waits before closing its idle connections: a
# connection it accepted just before has not sent its request yet, and would otherwise be
# closed as idle under it (the client would see its request fail).
ACCEPTED_GRACE = 0.5
RESPAWN_DELAY = 1.0
POLL_SECONDS = 0.05


def bind_shared_socket(host: str, port: int, *, backlog: int = 1024) -> socket.socket:
    """The listening socket every worker accepts from (inheritable, so workers get it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        # A second supervisor (a new release) can bind beside this one during an upgrade.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


# --- the worker side ----------------------------------------------------------------------


def serve_worker(
    app: web.Application, fd: int, ready_fd: int | None, *, keepalive_timeout: float
) -> None:
    """Serve `app` on the inherited listening socket `fd` until SIGTERM or SIGINT, then drain.

    `ready_fd` is told once the worker accepts (the supervisor waits for it before stopping
    an old worker). SIGHUP is the supervisor's: a worker ignores it.
    """
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    sock.setblocking(False)
    asyncio.run(_serve(app, sock, ready_fd, keepalive_timeout))
    # Drained and closed: a late SIGTERM (the supervisor's, after a terminal's) ends nothing more.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


async def _serve(
    app: web.Application, sock: socket.socket, ready_fd: int | None, keepalive_timeout: float
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        keepalive_timeout=keepalive_timeout,
        shutdown_timeout=DRAIN_SECONDS,
    )
    await runner.setup()
    site = web.SockSite(runner, sock, shutdown_timeout=DRAIN_SECONDS)
    try:
        await site.start()
        if ready_fd is not None:
            os.write(ready_fd, b"ready\n")
            os.close(ready_fd)
        await stop.wait()
        # Stop accepting (the shared queue stays with the other workers), let the connections
        # just accepted send their requests, then finish the in-flight requests, close the
        # idle connections, the push sockets and the database.
        await site.stop()
        await asyncio.sleep(ACCEPTED_GRACE)
    finally:
        await runner.cleanup()


# --- the supervisor side ------------------------------------------------------------------


@dataclass
class _Worker:
    index: int
    generation: int
    process: subprocess.Popen[bytes]
    ready: int  # read end of the readiness pipe (-1 once read)

    @property
    def name(self) -> str:
        return f"{self.index}.{self.generation}"


@dataclass
class Supervisor:
    """Starts `count` workers with `command(name, ready_fd)` and keeps them running.

    `command` answers the worker's argument list; the listening socket `sock` and the ready
    pipe are passed to it. `on_exit(pid)` is called for every worker that ended (metrics).
    """

    sock: socket.socket
    count: int
    command: Callable[[str, int], Sequence[str]]
    env: dict[str, str] | None = None
    on_exit: Callable[[int], None] | None = None
    workers: dict[int, _Worker] = field(default_factory=dict)
    _hangup: bool = False
    _stopping: bool = False

    def run(self, on_ready: Callable[[], None] | None = None) -> int:
        signal.signal(signal.SIGHUP, self._on_hangup)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        status = 0
        try:
            for index in range(self.count):
                self.workers[index] = self._spawn(index, 0)
            for worker in list(self.workers.values()):
                if not self._wait_ready(worker):
                    if not self._stopping:
                        log.error("worker %s did not start; stopping", worker.name)
                        status = 1
                    self._stopping = True
                    break
            else:
                if on_ready is not None:
                    on_ready()
            while not self._stopping:
                if self._hangup:
                    self._hangup = False
                    self.rolling_restart()
                self._reap()
                time.sleep(POLL_SECONDS)
        finally:
            self.stop_all()
        return status

    def _on_hangup(self, _signum: int, _frame: object) -> None:
        self._hangup = True

    def _on_stop(self, _signum: int, _frame: object) -> None:
        self._stopping = True

    def _spawn(self, index: int, generation: int) -> _Worker:
        ready_r, ready_w = os.pipe()
        name = f"{index}.{generation}"
        try:
            process = subprocess.Popen(  # noqa: S603 (this program, its own arguments)
                list(self.command(name, ready_w)),
                pass_fds=(self.sock.fileno(), ready_w),
                env=self.env,
            )
        finally:
            os.close(ready_w)
        log.info("worker %s started (pid %d)", name, process.pid)
        return _Worker(index, generation, process, ready_r)

    def _wait_ready(self, worker: _Worker) -> bool:
        """Until the worker accepts (True), or exits, or START_SECONDS pass (False)."""
        deadline = time.monotonic() + START_SECONDS
        try:
            while time.monotonic() < deadline and not self._stopping:
                readable, _, _ = select.select([worker.ready], [], [], 0.2)
                if readable:
                    return os.read(worker.ready, 16).startswith(b"ready")
                if worker.process.poll() is not None:
                    return False
            return False
        finally:
            os.close(worker.ready)
            worker.ready = -1

    def rolling_restart(self) -> None:
        """Each worker in turn: a new one accepting first, then the old one drained."""
        log.info("restarting %d workers one at a time", len(self.workers))
        for index in sorted(self.workers):
            if self._stopping:
                return
            old = self.workers[index]
            new = self._spawn(index, old.generation + 1)
            if not self._wait_ready(new):
                log.error("worker %s did not start; keeping %s", new.name, old.name)
                self._end(new)
                return
            self.workers[index] = new
            self._end(old)
        log.info("restart done")

    def _end(self, worker: _Worker) -> None:
        """SIGTERM, then wait while it drains (SIGKILL after the drain time and a margin)."""
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
            try:
                worker.process.wait(DRAIN_SECONDS + 10)
            except subprocess.TimeoutExpired:
                log.error("worker %s did not stop in time; killed", worker.name)
                worker.process.kill()
                worker.process.wait()
        if self.on_exit is not None:
            self.on_exit(worker.process.pid)
        log.info("worker %s stopped (status %s)", worker.name, worker.process.returncode)

    def _reap(self) -> None:
        for index, worker in list(self.workers.items()):
            if worker.process.poll() is None or self._stopping:
                continue
            log.error(
                "worker %s exited with status %s; starting it again",
                worker.name,
                worker.process.returncode,
            )
            if self.on_exit is not None:
                self.on_exit(worker.process.pid)
            time.sleep(RESPAWN_DELAY)
            replacement = self._spawn(index, worker.generation + 1)
            self.workers[index] = replacement
            self._wait_ready(replacement)

    def stop_all(self) -> None:
        """SIGTERM to every worker at once, then wait for each to drain."""
        for worker in self.workers.values():
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in self.workers.values():
            self._end(worker)
        self.workers.clear()


def worker_command(name: str, fd: int, ready_fd: int) -> list[str]:
    """This `liaison serve` command line, as a worker on socket `fd`."""
    return [
        sys.executable,
        "-m",
        "liaison",
        *sys.argv[1:],
        "--worker",
        f"{name}:{fd}:{ready_fd}",
    ]
