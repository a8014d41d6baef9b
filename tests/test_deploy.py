"""deploy/ (issue 17 §4): the pilot's compose file, nginx configuration and scripts, checked
without a Docker daemon: the compose file parses and names its services, healthchecks and
volumes; nginx has the TLS, WebSocket and attachment settings; the scripts pass `bash -n`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SCRIPTS = ["entrypoint.sh", "pilot-init.sh", "backup.sh"]


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))


def test_compose_names_the_services_healthchecks_and_volumes() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"relay", "postgres", "nginx"}
    for name in services:
        assert services[name]["healthcheck"]["test"], name
    relay_check = " ".join(services["relay"]["healthcheck"]["test"])
    assert "/v1/health" in relay_check and "/v1/health/live" not in relay_check  # readiness
    assert "/v1/health" in " ".join(services["nginx"]["healthcheck"]["test"])
    assert set(compose["volumes"]) == {"pgdata", "relay-data"}
    assert "relay-data:/var/lib/liaison" in services["relay"]["volumes"]
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert services["relay"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["nginx"]["depends_on"]["relay"]["condition"] == "service_healthy"
    # Only nginx is published; the relay and PostgreSQL stay on the compose network.
    assert "ports" not in services["relay"] and "ports" not in services["postgres"]
    assert services["relay"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY / "Dockerfile").is_file()
    assert "./nginx/pilot.conf:/etc/nginx/conf.d/default.conf:ro" in services["nginx"]["volumes"]
    # The password comes from deploy/.env, never from the compose file itself.
    assert "${POSTGRES_PASSWORD" in services["postgres"]["environment"]["POSTGRES_PASSWORD"]


def _location(conf: str, path: str) -> str:
    match = re.search(r"location " + re.escape(path) + r" \{(.*?)\n    \}", conf, re.S)
    assert match, path
    return match.group(1)


@pytest.mark.parametrize("name", ["nginx/pilot.conf", "nginx-liaison.conf"])
def test_nginx_has_tls_push_attachment_and_federation_locations(name: str) -> None:
    conf = (DEPLOY / name).read_text("utf-8")
    assert "listen 443 ssl;" in conf and "ssl_certificate_key " in conf
    push = _location(conf, "/v1/ws")
    assert "proxy_set_header Upgrade $http_upgrade;" in push
    assert "proxy_set_header Connection $connection_upgrade;" in push
    assert "proxy_read_timeout 1h;" in push
    # A file of up to 2 GiB is one streamed PUT of its ciphertext, from a device or a peer relay.
    for path in ("/v1/uploads/", "/v1/federation/blobs/"):
        streamed = _location(conf, path)
        assert "client_max_body_size 2100m;" in streamed, path
        assert "proxy_request_buffering off;" in streamed, path
    assert "proxy_buffering off;" in _location(conf, "/v1/blobs/")
    assert "client_max_body_size 33m;" in _location(conf, "/v1/federation/")  # envelope batches
    assert "/metrics" not in re.sub(r"#.*", "", conf)  # never proxied
    assert conf.count("{") == conf.count("}")


def test_pilot_env_example_names_what_compose_reads_and_env_is_ignored() -> None:
    example = (DEPLOY / "pilot.env.example").read_text("utf-8")
    names = set(re.findall(r"^([A-Z_]+)=", example, re.M))
    compose_text = (DEPLOY / "compose.yaml").read_text("utf-8")
    used = set(re.findall(r"\$\{([A-Z_]+)", compose_text))
    assert used <= names, used - names
    ignored = (DEPLOY.parent / ".gitignore").read_text("utf-8").splitlines()
    assert "deploy/.env" in ignored and "deploy/secrets/" in ignored


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_parse(script: str) -> None:
    path = DEPLOY / script
    assert path.read_text("utf-8").startswith("#!/usr/bin/env bash\n")
    subprocess.run(["bash", "-n", str(path)], check=True)


def test_entrypoint_migrates_then_serves() -> None:
    text = (DEPLOY / "entrypoint.sh").read_text("utf-8")
    assert text.index("liaison db upgrade") < text.index("liaison serve")
    assert "exec " in text[text.index("liaison serve") :]
    assert "--log-format json" in text


@pytest.mark.skipif(shutil.which("openssl") is None, reason="pilot-init.sh needs openssl")
def test_pilot_init_makes_the_env_token_and_certificate(tmp_path: Path) -> None:
    folder = tmp_path / "deploy"
    folder.mkdir()
    for name in ("pilot-init.sh", "pilot.env.example"):
        shutil.copy2(DEPLOY / name, folder / name)
    done = subprocess.run(
        ["bash", str(folder / "pilot-init.sh"), "relay.example.org"],
        capture_output=True,
        text=True,
        check=True,
    )
    token = (folder / "secrets" / "admin.token").read_text()
    assert len(token) >= 40 and token in done.stderr  # shown once to the operator
    assert (folder / "secrets" / "admin.token").stat().st_mode & 0o077 == 0
    env = (folder / ".env").read_text()
    assert "LIAISON_HOST=relay.example.org" in env and "POSTGRES_PASSWORD=change-me" not in env
    assert (folder / ".env").stat().st_mode & 0o077 == 0
    assert (folder / "secrets" / "tls" / "fullchain.pem").read_text().startswith("-----BEGIN")
    assert (folder / "secrets" / "tls" / "privkey.pem").stat().st_mode & 0o077 == 0
    again = subprocess.run(
        ["bash", str(folder / "pilot-init.sh")], capture_output=True, text=True, check=True
    )
    assert "keeping the existing" in again.stderr
    assert (folder / "secrets" / "admin.token").read_text() == token
