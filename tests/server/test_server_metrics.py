"""/metrics (issue 17, section 4): figures per route template, commits, sockets, log size; served
apart from the relay's port and only when asked; with --workers, the sum over the workers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from liaison.server.app import create_app
from liaison.server.metrics import observe_purge
from tests.e2e.e2e_relay import PROJECT_ROOT, free_port
from tests.server.factory import china_agency, vietnam_agency
from tests.server.helpers import enrol, register, send
from tests.server.relay_api import Api


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page: (name, sorted labels) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(page: dict, name: str, **labels: str) -> float:
    return page.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape() -> dict:
    return samples(generate_latest(REGISTRY).decode())


async def test_requests_commits_sockets_and_the_log_are_measured(aiohttp_client, settings) -> None:
    shown: list[str] = []
    app = create_app(replace(settings, metrics=True, announce_admin_token=shown.append))
    api = Api(await aiohttp_client(app), shown[0])
    before = scrape()
    vn, cn = vietnam_agency(), china_agency()
    await register(api, vn, cn)
    alice, wei = vn.device("alice"), cn.device("wei")
    await enrol(api, alice, wei)
    sender, receiver = await api.login(alice), await api.login(wei)
    async with api.client.ws_connect("/v1/ws", params={"token": receiver}) as ws:
        answers = [await send(api, sender, alice.seal([wei], f"m{i}")) for i in range(3)]
        assert [a.status for a in answers] == [201] * 3
        await send(api, sender, alice.seal([wei], "again", counter=1))  # refused: old counter
        for _ in range(3):
            await asyncio.wait_for(ws.receive_json(), timeout=10)
        ack = f"/v1/messages/{answers[0].body['message_id']}/ack"
        assert (await api.post(ack, token=receiver)).status == 200
        for _ in range(40):  # the socket gauge is sampled every second
            page = scrape()
            if value(page, "liaison_websockets_open") >= 1:
                break
            await asyncio.sleep(0.1)
    size = (await api.get("/v1/log/checkpoint")).body["size"]

    def grew(name: str, **labels: str) -> float:
        return value(page, name, **labels) - value(before, name, **labels)

    assert value(page, "liaison_websockets_open") >= 1
    assert grew("liaison_messages_accepted_total") == 3
    assert grew("liaison_http_requests_total", route="/v1/messages", method="POST", status="201")
    assert grew("liaison_http_requests_total", route="/v1/messages", method="POST", status="409")
    # The route template, never the raw path with its message id.
    ack_route = "/v1/messages/{message_id}/ack"
    assert grew("liaison_http_requests_total", route=ack_route, method="POST", status="200") == 1
    assert not [key for key in page if answers[0].body["message_id"] in str(key)]
    assert grew("liaison_http_request_duration_seconds_count", route="/v1/messages", method="POST")
    assert grew("liaison_group_commit_size_count") >= 5
    assert grew("liaison_commit_seconds_count") >= 5
    assert value(page, "liaison_log_size") == size
    assert ("liaison_push_queue_depth", ()) in page


def test_purges_are_counted() -> None:
    before = scrape()
    observe_purge(4)
    page = scrape()
    assert (
        value(page, "liaison_retention_purges_total")
        - value(before, "liaison_retention_purges_total")
        == 1
    )
    assert (
        value(page, "liaison_retention_purged_envelopes_total")
        - value(before, "liaison_retention_purged_envelopes_total")
        == 4
    )


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIAISON_", "LANG"))}
    env.update(LIAISON_LANG="en", PYTHONPATH=str(PROJECT_ROOT))
    return env


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _serve(tmp: Path, *extra: str) -> tuple[subprocess.Popen[str], int, int]:
    port, metrics_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "liaison",
            "serve",
            "--data-dir",
            str(tmp / "data"),
            "--port",
            str(port),
            "--metrics-port",
            str(metrics_port),
            *extra,
        ],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line or "listening" in line:
            break
    for _ in range(100):
        try:
            _get(f"http://127.0.0.1:{port}/v1/server")  # not a route the tests count
            break
        except OSError:
            time.sleep(0.1)
    return process, port, metrics_port


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()


def test_metrics_are_served_on_their_own_port_only(tmp_path: Path) -> None:
    process, port, metrics_port = _serve(tmp_path)
    try:
        for _ in range(3):
            assert _get(f"http://127.0.0.1:{port}/v1/health")[0] == 200
        status, public = _get(f"http://127.0.0.1:{port}/metrics")
        assert status == 404 and "liaison_" not in public
        status, text = _get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert status == 200
        page = samples(text)
        assert (
            value(
                page, "liaison_http_requests_total", route="/v1/health", method="GET", status="200"
            )
            >= 3
        )
    finally:
        _stop(process)


def test_the_metrics_port_is_not_the_relays(tmp_path: Path) -> None:
    port = str(free_port())
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "liaison",
            "serve",
            "--data-dir",
            str(tmp_path),
            "--port",
            port,
            "--metrics-port",
            port,
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "never on the public port" in result.stderr


@pytest.mark.postgres
@pytest.mark.slow
def test_the_workers_figures_are_added_up(tmp_path: Path, postgres_url: str) -> None:
    from tests.e2e.e2e_relay import pg_schema

    with pg_schema(postgres_url) as schema:
        process, port, metrics_port = _serve(
            tmp_path, "--db", postgres_url, "--db-schema", schema, "--workers", "2"
        )
        try:
            answered = asyncio.run(_health_from_both(port))
            page = samples(_get(f"http://127.0.0.1:{metrics_port}/metrics")[1])
            route = {"route": "/v1/health", "method": "GET", "status": "200"}
            # Every request counted once, whichever worker answered it.
            assert value(page, "liaison_http_requests_total", **route) == len(answered)
            assert len(set(answered)) == 2
        finally:
            _stop(process)


async def _health_from_both(port: int) -> list[str]:
    """GET /v1/health on new connections until both workers have answered (at most 200)."""
    answered: list[str] = []
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(200):
            async with session.get(f"http://127.0.0.1:{port}/v1/health") as response:
                assert response.status == 200
                answered.append(response.headers["Liaison-Worker"])
            if len(set(answered)) == 2 and len(answered) >= 10:
                break
    return answered
