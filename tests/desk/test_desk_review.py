"""Supervisor review on the desk: metadata list, a required reason, the review logged before
the message opens, and the officer's audit log showing it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import OpenDesk, csrf_of

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from e2e_relay import RelayThread, demo_world  # noqa: E402

from liaison.cli.demo.tour import DemoContext  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoContext]:
    """The demo up to its review step: Phạm Thu Hà (`supervisor`, VN-QN-CA) holds the review
    keys; An's first message to Dongxing was reviewed once already."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIAISON_KDF_PROFILE", "test")
        relay = RelayThread(tmp_path_factory.mktemp("relay"))
        relay.start()
        try:
            yield demo_world(relay, tmp_path_factory.mktemp("world"), "review")
        finally:
            relay.stop()


async def test_a_supervisor_reviews_with_a_reason_and_the_officer_sees_it(
    open_desk: OpenDesk, world: DemoContext
) -> None:
    supervisor, _s = await open_desk("supervisor")
    listing = await (await supervisor.get("/review")).text()
    message_id = world.sent["request"].message_id
    assert f"/review/{message_id}" in listing
    assert "Đề nghị xác minh" not in listing  # metadata only: nothing decrypted for the list
    form = await (await supervisor.get(f"/review/{message_id}")).text()
    no_reason = await supervisor.post(
        f"/review/{message_id}", data={"csrf_token": csrf_of(form), "reason": "  "}
    )
    assert no_reason.status == 400 and "verify good" not in await no_reason.text()
    reviewed = await supervisor.post(
        f"/review/{message_id}",
        data={"csrf_token": csrf_of(form), "reason": "Kiểm tra định kỳ / 例行检查"},
    )
    page = await reviewed.text()
    assert reviewed.status == 200 and "verify good" in page
    assert "Đề nghị xác minh nhân thân" in page
    an, _s = await open_desk("an-phone")
    audit = await (await an.get("/audit")).text()
    assert audit.count('class="review"') >= 2  # the demo's review and this one
    assert message_id in audit


async def test_an_officer_has_no_review_pages(open_desk: OpenDesk) -> None:
    an, _s = await open_desk("an-phone")
    assert "/review" not in await (await an.get("/")).text()
    assert (await an.get("/review")).status == 403
