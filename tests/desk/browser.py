"""Browser-test helpers: Debian's Chromium for Playwright, and `liaison desk` as a process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_or_skip() -> str:
    """Chromium's path; outside CI a missing Chromium skips the test, in CI it fails it."""
    for path in (*CHROMIUM_PATHS, shutil.which("chromium") or ""):
        if path and os.access(path, os.X_OK):
            return path
    reason = "no Chromium found at /usr/bin/chromium (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the desk's browser tests: {reason}")
    pytest.skip(reason)


def artifacts_dir() -> Path:
    """Where screenshots go: $LIAISON_SCREENSHOT_DIR, else $LIAISON_TEST_ARTIFACTS, else a
    folder in the temp dir (never the repository)."""
    folder = Path(
        os.environ.get("LIAISON_SCREENSHOT_DIR")
        or os.environ.get("LIAISON_TEST_ARTIFACTS")
        or Path(tempfile.gettempdir()) / "liaison-desk-artifacts"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def desk_process(env: dict[str, str], home: Path, *extra: str) -> Iterator[str]:
    """`liaison desk --no-browser` on `home`; yields the launch URL it prints."""
    process = subprocess.Popen(
        [sys.executable, "-m", "liaison", "desk", "--no-browser", "--home", str(home), *extra],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = ""
        for line in process.stdout:
            if line.startswith("http://127.0.0.1:"):
                url = line.strip()
                break
        if not url:
            raise AssertionError(f"the desk did not start: {process.stderr.read()}")  # type: ignore[union-attr]
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
