"""The relay's metrics in the Prometheus text format (issue 17, section 4), with prometheus-client.

Served only when `liaison serve --metrics-port P` is given, on its own address (127.0.0.1 by
default), never on the relay's public port: the figures say how busy each route and agency's
traffic is, which is for the operator. With `--workers N`, each worker writes its figures to a
shared folder (prometheus-client's multiprocess mode, PROMETHEUS_MULTIPROC_DIR set by the
supervisor) and the supervisor serves their sum.

What is measured: requests and their latency per route template (never the raw path, which
holds message and device ids), accepted messages, each group commit's size and time (its
statements, and its COMMIT: the fsync), the push writes waiting, the WebSockets open, the log
size, the retention purges.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from liaison.server.relay import Relay
    from liaison.store.records import LogEntryRecord

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COMMIT_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
SAMPLE_SECONDS = 1.0  # how often the gauges of the push hub are read

REQUESTS = Counter(
    "liaison_http_requests", "Requests answered, per route template", ["route", "method", "status"]
)
LATENCY = Histogram(
    "liaison_http_request_duration_seconds",
    "Time to answer a request, per route template (WebSockets not included)",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
ACCEPTED = Counter("liaison_messages_accepted", "Envelopes accepted and logged (not resends)")
BATCH_SIZE = Histogram(
    "liaison_group_commit_size", "Writes in each group commit", buckets=BATCH_BUCKETS
)
BATCH_SECONDS = Histogram(
    "liaison_group_commit_seconds",
    "Time of each group commit, from its first statement to its COMMIT's end",
    buckets=COMMIT_BUCKETS,
)
COMMIT_SECONDS = Histogram(
    "liaison_commit_seconds",
    "Time of each group commit's COMMIT alone (the write-ahead log's write and fsync)",
    buckets=COMMIT_BUCKETS,
)
PUSH_QUEUE = Gauge(
    "liaison_push_queue_depth",
    "Push writes to WebSockets not yet done",
    multiprocess_mode="livesum",
)
WEBSOCKETS = Gauge("liaison_websockets_open", "Push WebSockets open", multiprocess_mode="livesum")
LOG_SIZE = Gauge("liaison_log_size", "Entries in the transparency log", multiprocess_mode="livemax")
PURGE_RUNS = Counter("liaison_retention_purges", "Runs of the retention purge")
PURGED = Counter("liaison_retention_purged_envelopes", "Envelopes whose ciphertext was purged")

SEND_ROUTE = ("POST", "/v1/messages")


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def measure(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Count and time every request by its route template (outermost middleware)."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = _route(request)
        REQUESTS.labels(route, request.method, str(status)).inc()
        if route != "/v1/ws":
            LATENCY.labels(route, request.method).observe(time.perf_counter() - started)
        if status == 201 and (request.method, route) == SEND_ROUTE:
            ACCEPTED.inc()


def observe_batch(jobs: int, batch_seconds: float, commit_seconds: float) -> None:
    BATCH_SIZE.observe(jobs)
    BATCH_SECONDS.observe(batch_seconds)
    COMMIT_SECONDS.observe(commit_seconds)


def observe_log(entries: list[LogEntryRecord]) -> None:
    if entries:
        LOG_SIZE.set(entries[-1].index + 1)


def observe_purge(purged: int) -> None:
    PURGE_RUNS.inc()
    PURGED.inc(purged)


@contextlib.asynccontextmanager
async def measuring(relay: Relay) -> AsyncIterator[None]:
    """The store's and the push hub's figures, for as long as the relay runs."""
    relay.measured = True
    relay.store.group_commit.on_batch = observe_batch
    relay.store.add_commit_listener(observe_log)
    LOG_SIZE.set(await relay.store.log_size())

    async def sample() -> None:
        while True:
            WEBSOCKETS.set(relay.push.open_sockets)
            PUSH_QUEUE.set(relay.push.pending_writes)
            await asyncio.sleep(SAMPLE_SECONDS)

    task = asyncio.create_task(sample(), name="liaison-metrics")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        relay.store.group_commit.on_batch = None


def serve_metrics(host: str, port: int, multiprocess_dir: str | None = None) -> None:
    """Serve /metrics on host:port from a thread of this process: this process's figures, or
    the sum over the workers' files in `multiprocess_dir` (the supervisor's)."""
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

    registry = REGISTRY
    if multiprocess_dir is not None:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiprocess_dir)
    start_http_server(port, addr=host, registry=registry)


def worker_ended(multiprocess_dir: str, pid: int) -> None:
    """Drop an ended worker's live gauges (its counters stay in the sum)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, multiprocess_dir)
