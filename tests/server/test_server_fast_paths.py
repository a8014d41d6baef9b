"""The relay's fast paths agree with the general code they shortcut (the canonical-JSON fast
path of log entries is tested with it, in tests/crypto/test_canonical_encoding.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 2**40),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(["", "AAAA", "q83v/+==", "not base64!", "YQ==\n", "x" * 40]),
        st.text(max_size=6),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=18), st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=10,
)


def _request_schemas() -> list[str]:
    from liaison.server.openapi import PATHS

    names = set()
    for path in PATHS.values():
        for operation in path.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                names.add(ref.rsplit("/", 1)[1])
    return sorted(names)


def _bodies(schema_name: str) -> st.SearchStrategy[Any]:
    from liaison.server.openapi import SCHEMAS

    fields = sorted(SCHEMAS[schema_name].get("properties", {}))
    keys = st.one_of(st.sampled_from(fields or ["x"]), st.text(max_size=4))
    return st.one_of(_json_values, st.dictionaries(keys, _json_values, max_size=len(fields) + 1))


@pytest.mark.parametrize("name", _request_schemas())
@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_quick_request_check_accepts_only_what_jsonschema_accepts(
    name: str, data: st.DataObject
) -> None:
    from liaison.server.openapi import SCHEMAS, _inline, _quick_check, request_errors, validator

    body = data.draw(_bodies(name))
    quick = _quick_check(_inline(SCHEMAS[name]))
    if quick is not None and quick(body):
        assert validator(name).is_valid(body)
    assert (request_errors(name)(body) is None) == validator(name).is_valid(body)


def test_a_plain_send_request_takes_the_quick_check() -> None:
    from liaison.server.openapi import SCHEMAS, _inline, _quick_check

    quick = _quick_check(_inline(SCHEMAS["SendRequest"]))
    assert quick is not None
    assert quick({"envelope": "q83v/+=="})
    assert quick({"envelope": "q83v", "case_tags": ["AAAA"]})
    assert not quick({"envelope": "q83v", "extra": 1})
    assert not quick({"envelope": "q8 3v"})
