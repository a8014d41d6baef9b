"""Desk fixtures: a real relay on loopback with the demo's enrolled officers (the end-to-end
helpers of tests/e2e), and desks served in-process for aiohttp's test client."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

E2E = Path(__file__).resolve().parents[1] / "e2e"
sys.path.insert(0, str(E2E))

from e2e_relay import RelayThread, demo_world  # noqa: E402

from liaison.cli.demo.tour import DEMO_PASSPHRASE, DemoContext  # noqa: E402
from liaison.desk.app import DeskSettings, create_app  # noqa: E402
from liaison.desk.security import Sessions  # noqa: E402

DeskClient = TestClient  # type: ignore[type-arg]
OpenDesk = Callable[..., Awaitable[tuple[TestClient, Sessions]]]  # type: ignore[type-arg]


@pytest.fixture(scope="module")
def relay_and_world(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RelayThread, DemoContext]]:
    """One relay per module with the demo's agencies, officers and pinned roots: `an-phone`
    (Nguyễn Văn An, VN-QN-CA) and `li` (Lý Vĩ, CN-GX-DXGA) among them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIAISON_KDF_PROFILE", "test")
        relay = RelayThread(tmp_path_factory.mktemp("relay"))
        relay.start()
        try:
            yield relay, demo_world(relay, tmp_path_factory.mktemp("world"), "pins")
        finally:
            relay.stop()


@pytest.fixture(scope="module")
def world(relay_and_world: tuple[RelayThread, DemoContext]) -> DemoContext:
    return relay_and_world[1]


@pytest.fixture
def relay(relay_and_world: tuple[RelayThread, DemoContext]) -> RelayThread:
    """The module's relay (a test may stop and start it again on the same port and data)."""
    return relay_and_world[0]


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIAISON_KDF_PROFILE", "test")


@pytest.fixture
async def open_desk(world: DemoContext) -> AsyncIterator[OpenDesk]:
    """`await open_desk("li", unlock=True, launch=True)`: a desk on that officer's home (or on
    an agency administrator's home: `open_desk("VN-QN-CA")`), served
    on 127.0.0.1, its launch link followed (session cookie) and its keys unlocked."""
    clients: list[TestClient] = []  # type: ignore[type-arg]

    async def start(
        name: str, *, unlock: bool = True, launch: bool = True, **settings: object
    ) -> tuple[TestClient, Sessions]:  # type: ignore[type-arg]
        sessions = Sessions()
        # An officer's home by name, or an agency administrator's by agency code.
        home = world.officers[name] if name in world.officers else world.admins[name]
        app = create_app(DeskSettings(home=home.root, **settings), sessions=sessions)  # type: ignore[arg-type]
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        if launch:
            answer = await client.get(
                f"/launch?token={sessions.launch_token}", allow_redirects=False
            )
            assert answer.status == 303
        if unlock:
            page = await client.get("/unlock")
            token = csrf_of(await page.text())
            answer = await client.post(
                "/unlock",
                data={"csrf_token": token, "passphrase": DEMO_PASSPHRASE},
                allow_redirects=False,
            )
            assert answer.status == 303, await answer.text()
        return client, sessions

    yield start
    for client in clients:
        await client.close()


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]
