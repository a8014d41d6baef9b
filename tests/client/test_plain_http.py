"""Issue 14, defect 12: no device or admin token over plain http:// to another machine, unless
the officer asks for it (`liaison --insecure-http`, with a warning)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from liaison.client.errors import TransportError
from liaison.client.transport import ApiClient, allow_insecure_http
from tests.e2e.e2e_relay import PROJECT_ROOT


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "http://[::1]:8080",
        "https://relay.example",
    ],
)
def test_loopback_and_https_are_allowed(url: str) -> None:
    assert ApiClient(url).base_url == url


@pytest.mark.parametrize(
    "url", ["http://relay.example", "http://10.0.0.5:8080", "http://[2001:db8::1]"]
)
def test_plain_http_to_another_machine_is_refused_unless_allowed(url: str) -> None:
    with pytest.raises(TransportError, match="--insecure-http"):
        ApiClient(url)
    allow_insecure_http()
    try:
        assert ApiClient(url).base_url == url
    finally:
        allow_insecure_http(False)


def test_the_cli_refuses_then_warns_with_insecure_http() -> None:
    # 0.0.0.0 is not a loopback address, yet a connection to it fails at once (nothing listens).
    command = ["agency", "retention", "VN-QN-CA", "--days", "30", "--admin-token", "x"]

    def liaison(*options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "liaison", *options, *command, "--server", "http://0.0.0.0:1"],
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            env={"PYTHONPATH": str(PROJECT_ROOT), "LIAISON_LANG": "en", "PATH": "/usr/bin:/bin"},
            timeout=60,
        )

    refused = liaison()
    assert refused.returncode != 0 and "--insecure-http" in refused.stderr
    allowed = liaison("--insecure-http")
    assert allowed.returncode != 0  # nobody listens there: it tried
    assert "Warning: plain http:// allowed" in allowed.stderr
    assert "Refusing plain http://" not in allowed.stderr
