"""`liaison demo` runs to completion on its own servers and leaves nothing behind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from liaison.cli.demo.border import BORDER_STEPS
from liaison.cli.demo.tour import STEPS
from tests.e2e.e2e_relay import Cli


@pytest.mark.slow
def test_demo_runs_every_step_and_removes_its_folder(cli: Cli) -> None:
    result = cli(None, "demo")
    out = result.stdout
    for number, step in enumerate(STEPS, start=1):
        assert f"{number}. {step.title}" in out
    assert "Demo complete" in out
    assert "已收到，正在核实" in out  # the reply, opened on the Vietnamese side
    # The sender's other device got its own copy of what the phone sent.
    assert re.search(r"an-laptop opened \w+ from VN-QN-CA:nguyen\.van\.an:phone", out)
    assert out.count("the log (size") == 4  # every officer's audit passed
    # Then across the border, two relays: both logs show each crossing's envelope.
    for number, (title, _step) in enumerate(BORDER_STEPS, start=1):
        assert f"{number}. {title}" in out
    assert out.count("(forwarded_in), envelope hash") == 2
    # Each officer pinned the other country's agency through its own relay and read the other's.
    assert out.count("whose log key the client now holds") == 2
    assert "Lý Vĩ synced from the Chinese relay" in out
    assert "Nguyễn Văn An synced from the Vietnamese relay" in out
    assert out.count("audit verify --across` finds both relays' entries") == 2
    folder = re.search(r"data in (\S+)\.\n", out)
    assert folder is not None
    assert not Path(folder.group(1)).exists()
