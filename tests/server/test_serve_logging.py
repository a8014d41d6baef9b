"""`liaison serve` (issue 17 §4): the "listening" line comes once the socket accepts, and
`--log-format json` writes one JSON object a line, with no token in it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.e2e.e2e_relay import PROJECT_ROOT, free_port

START_TIMEOUT = 60


def test_listening_line_after_bind_and_json_logs(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIAISON_", "LANG"))}
    env.update(LIAISON_LANG="en", PYTHONPATH=str(PROJECT_ROOT))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "liaison",
            "serve",
            "--data-dir",
            str(tmp_path / "data"),
            "--port",
            str(port),
            "--log-format",
            "json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        token = ""
        deadline = time.monotonic() + START_TIMEOUT
        line = ""
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line or "listening" in line:
                break
            if line.startswith("  "):
                token = line.strip()
        assert "listening" in line and token
        # No retry: the line is printed only once the port accepts.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health/live", timeout=10) as r:
            assert r.status == 200
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _out, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    lines = [text for text in err.splitlines() if text.strip()]
    assert lines, "the relay logged its start (migrations)"
    for text in lines:
        record = json.loads(text)
        assert {"time", "level", "logger", "message"} <= set(record), record
        assert record["time"].endswith("+00:00")
    assert token not in err
