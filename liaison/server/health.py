"""Readiness and liveness of the relay (GET /v1/health, GET /v1/health/live).

Ready means the relay can do its work now: its database answers a trivial query within a bound,
and its group-commit writer keeps up (the oldest write waiting for its commit has waited less
than a bound). A load balancer or an orchestrator takes a relay that is not ready out of
rotation (503) and sends requests to it again once it is; liveness only says that the process
answers, so that it is restarted when it does not.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from liaison import __version__
from liaison.server.federation import forwarding
from liaison.server.relay import ReadinessLimits, Relay

__all__ = ["ReadinessLimits", "liveness", "readiness"]

log = logging.getLogger(__name__)


async def _database(relay: Relay, bound: float) -> dict[str, Any]:
    started = time.monotonic()
    try:
        await asyncio.wait_for(relay.store.ping(), bound)
    except TimeoutError:
        return {"status": "timeout", "seconds": round(time.monotonic() - started, 3)}
    except Exception as exc:  # any failure to answer: the reason goes to the log, not out
        log.warning("readiness: the database does not answer: %s", type(exc).__name__)
        return {"status": "unavailable", "seconds": round(time.monotonic() - started, 3)}
    return {"status": "ok", "seconds": round(time.monotonic() - started, 3)}


def _writer(relay: Relay, max_wait: float) -> dict[str, Any]:
    backlog = relay.store.writer_backlog()
    if not backlog.running:
        status = "stopped"
    elif backlog.oldest_wait > max_wait:
        status = "behind"
    else:
        status = "ok"
    return {
        "status": status,
        "waiting": backlog.waiting,
        "oldest_wait_seconds": round(backlog.oldest_wait, 3),
    }


_REASONS = {
    ("database", "timeout"): "the database does not answer in time",
    ("database", "unavailable"): "the database does not answer",
    ("writer", "behind"): "the writer does not keep up with the writes",
    ("writer", "stopped"): "the writer has stopped",
}


async def readiness(relay: Relay, limits: ReadinessLimits) -> tuple[dict[str, Any], int]:
    """The readiness answer and its HTTP status: 200 when ready, 503 (code not_ready) when not."""
    checks = {
        "database": await _database(relay, limits.database_timeout),
        "writer": _writer(relay, limits.max_write_wait),
    }
    answer: dict[str, Any] = {"status": "ok", "version": __version__, **checks}
    reasons = [
        _REASONS[name, check["status"]] for name, check in checks.items() if check["status"] != "ok"
    ]
    if not reasons:
        # Ready, but a peer relay's forwarding backlog is old (issue 15): still 200, named.
        degraded = forwarding.degraded_peers(relay)
        if degraded:
            answer.update(status="degraded", degraded_peers=degraded)
        # A peer whose log forked (§16.7) is distrusted until its operator acts: named too.
        distrusted = forwarding.distrusted_peers(relay)
        if distrusted:
            answer.update(
                status="degraded",
                distrusted_peers=distrusted,
                reason="; ".join(
                    f"peer {p['origin']} distrusted: its log does not extend the checkpoint "
                    f"this relay cosigned ({p['reason']})"
                    for p in distrusted
                ),
            )
        return answer, 200
    answer.update(
        status="unavailable",
        code="not_ready",
        message="The relay is not ready: " + "; ".join(reasons) + ".",
    )
    return answer, 503


def liveness() -> dict[str, Any]:
    """The process is up and its event loop answers (nothing else is checked)."""
    return {"status": "ok", "version": __version__}
