"""Validators built from the relay's OpenAPI document (jsonschema, tests only)."""

from __future__ import annotations

from functools import cache

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from liaison.server.openapi import DOCUMENT, PATHS

DOCUMENT_URI = "urn:liaison:openapi"
_REGISTRY = Registry().with_resource(
    DOCUMENT_URI, Resource.from_contents(DOCUMENT, default_specification=DRAFT202012)
)


def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=_REGISTRY)


@cache
def response_validator(path: str, method: str, status: int) -> Draft202012Validator:
    """A validator for the documented JSON answer of (path template, method, status)."""
    response = PATHS[path][method.lower()]["responses"][str(status)]
    if "content" not in response:
        raise KeyError(f"{method} {path} {status} has no JSON body")
    pointer = f"/paths/{path.replace('~', '~0').replace('/', '~1')}/{method.lower()}"
    return _validator(pointer + f"/responses/{status}/content/application~1json/schema")


@cache
def component_validator(name: str) -> Draft202012Validator:
    """A validator for components/schemas/`name` of the served document."""
    return _validator(f"/components/schemas/{name}")
