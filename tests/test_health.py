"""The relay answers its health check on a real loopback port."""

from pathlib import Path

from liaison.server.app import Settings, create_app


async def test_health_answers_ok(aiohttp_client, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(Settings(data_dir=tmp_path)))
    response = await client.get("/v1/health")
    assert response.status == 200
    assert (await response.json())["status"] == "ok"
