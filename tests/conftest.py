"""Suite-wide fixtures: where the published vectors live, PostgreSQL selection and its CI report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VECTORS_DIR = PROJECT_ROOT.parent / "shared" / "vectors"
PG_URL_ENV = "LIAISON_TEST_DATABASE_URL"

_pg_counts = {"ran": 0, "skipped": 0}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    pg_url = os.environ.get(PG_URL_ENV)
    for item in items:
        if "postgres" in item.keywords and not pg_url:
            item.add_marker(pytest.mark.skip(reason=f"PostgreSQL tests need {PG_URL_ENV}"))
        if "vectors" in item.keywords and not VECTORS_DIR.is_dir():
            item.add_marker(
                pytest.mark.skip(reason=f"published vectors not found at {VECTORS_DIR}")
            )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "postgres" not in report.keywords:
        return
    if report.when == "call":
        _pg_counts["ran"] += 1
    elif report.skipped:
        _pg_counts["skipped"] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get("LIAISON_PG_REPORT")
    if target:
        Path(target).write_text(json.dumps(_pg_counts))


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    """The shared published vectors; tests using it carry the `vectors` marker."""
    if not VECTORS_DIR.is_dir():
        pytest.skip(f"published vectors not found at {VECTORS_DIR}")
    return VECTORS_DIR


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL URL for tests marked `postgres` (CI sets it; locally they skip)."""
    url = os.environ.get(PG_URL_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {PG_URL_ENV}")
    return url
