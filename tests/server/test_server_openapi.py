"""The OpenAPI document: served, valid, complete, generated from the request models."""

from __future__ import annotations

import subprocess
import sys

from alembic.script import ScriptDirectory
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from liaison.server.federation.routes import ROUTES as FEDERATION_ROUTES
from liaison.server.handlers import ROUTES
from liaison.server.openapi import DOCUMENT, PATHS, SCHEMAS
from liaison.store.engine import MIGRATIONS_DIR


async def test_document_is_served_and_names_every_route(api) -> None:
    answer = await api.get("/v1/openapi.json")
    assert answer.body["openapi"] == "3.1.0"
    served = {(method.lower(), path) for method, path, _ in ROUTES + FEDERATION_ROUTES}
    documented = {
        (method, path)
        for path, item in answer.body["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert served == documented


def test_document_is_valid_openapi_3_1() -> None:
    validate(DOCUMENT)


def test_every_schema_is_valid_json_schema() -> None:
    for schema in SCHEMAS.values():
        Draft202012Validator.check_schema(schema)


def test_every_operation_documents_its_success_answer() -> None:
    for path, item in PATHS.items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert any(code.startswith(("2", "1")) for code in operation["responses"]), path


def test_db_upgrade_command_migrates_a_fresh_data_folder(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "liaison", "db", "upgrade", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None and f"revision {head}." in result.stdout
    assert (tmp_path / "liaison.db").exists()
