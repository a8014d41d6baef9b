"""`liaison watch` rides out a relay restart: it says it is retrying, reconnects, misses nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from liaison.cli.demo.tour import DEMO_PASSPHRASE
from tests.e2e.e2e_relay import Cli, RelayThread, demo_world

TEXT = "Đề nghị xác minh nhân thân / 请核查身份 (sent while the watch was reconnecting)"


@pytest.mark.slow
def test_watch_reconnects_after_the_relay_restarts_and_misses_nothing(
    relay: RelayThread, cli: Cli, tmp_path: Path
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "pins")
    li, an = ctx.officers["li"], ctx.officers["an-laptop"]
    watcher = cli.popen(
        None, "watch", "--count", "1", "--home", str(li.root), LIAISON_PASSPHRASE=DEMO_PASSPHRASE
    )
    try:
        assert "Watching" in watcher.stderr.readline()
        relay.stop()
        retrying = watcher.stderr.readline()
        # The first wait is the first step (1 s) drawn with jitter from its upper half.
        waited = re.search(r"trying again in (\d+\.\d) s", retrying)
        assert waited and 0.5 <= float(waited.group(1)) <= 1.0, retrying
        assert "Cannot reach the server" in retrying
        relay.start()  # same port, same data folder
        # Sent while the watch may still be waiting: it fetches what arrived once it is back.
        sent = json.loads(cli.at(an, "send", "--to", "CN-GX-DXGA", "--text", TEXT, "--json").stdout)
        out, err = watcher.communicate(timeout=60)
    finally:
        watcher.kill()
    assert watcher.returncode == 0, err
    assert "Connected to the server again." in err
    assert sent["message_id"] in out and TEXT in out
