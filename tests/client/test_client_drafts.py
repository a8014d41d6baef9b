"""The desk's drafts in the home folder: sealed with the device's local-draft key, opened only
by that device under their own name, newest first, deleted for good."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crypto.keys import DeviceKeys
from liaison.client.drafts import DraftError, Drafts
from liaison.client.home import Home


def test_a_draft_round_trips_and_opens_only_on_its_device_under_its_name(
    tmp_path: Path,
) -> None:
    home = Home(tmp_path / "home")
    keys = DeviceKeys.generate()
    drafts = Drafts(home, keys)
    first = drafts.save("message", [("to", "CN-GX-DXGA"), ("text", "Nháp một")], now=100)
    second = drafts.save(
        "notice",
        [("fields.persons[0].name", "Lò Văn Nháp"), ("fields.persons[0].name", "x")],
        notice_type="verification_request",
        title="QN-2026-0300",
        now=200,
    )
    assert [d.name for d in drafts.items()] == [second.name, first.name]
    assert drafts.load(second.name) == second  # repeated fields kept in order
    sealed = (home.root / "drafts" / f"{first.name}.sealed").read_bytes()
    assert "Nháp một".encode() not in sealed
    assert os.stat(home.root / "drafts" / f"{first.name}.sealed").st_mode & 0o077 == 0

    with pytest.raises(DraftError):
        Drafts(home, DeviceKeys.generate()).load(first.name)  # another device
    folder = home.root / "drafts"
    one, two = folder / f"{first.name}.sealed", folder / f"{second.name}.sealed"
    a, b = one.read_bytes(), two.read_bytes()
    one.write_bytes(b)
    two.write_bytes(a)  # swapped: the names are in the associated data
    for name in (first.name, second.name):
        with pytest.raises(DraftError) as refused:
            drafts.load(name)
        assert refused.value.code == "draft_damaged"
    assert drafts.items() == []
    with pytest.raises(DraftError):
        drafts.load("../outbox/x")
    drafts.delete(first.name)
    assert not one.exists()
