"""The relay's fast paths agree with the general code they shortcut, and its request models
with the schemas it publishes for them (the canonical-JSON fast path of log entries is tested
with it, in tests/crypto/test_canonical_encoding.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.encoding import b64e
from liaison.server.errors import BadRequest
from liaison.server.models import Request, RetentionSetting, SendRequest, decode_request
from liaison.server.openapi import OPERATIONS
from tests.server.openapi_check import component_validator

_B64_32, _B64_64 = b64e(bytes(range(32))), b64e(bytes(range(64)))
_json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 2**40),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(
            ["", "AAAA", "q83v/+==", "not base64!", "YQ==\n", "x" * 40, _B64_32, _B64_64]
        ),
        st.text(max_size=6),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=18), st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=10,
)


def _request_models() -> list[type[Request]]:
    return sorted({op.request for op in OPERATIONS if op.request}, key=lambda m: m.__name__)


def _bodies(model: type[Request]) -> st.SearchStrategy[Any]:
    fields = sorted(model.__struct_fields__)
    keys = st.one_of(st.sampled_from(fields), st.text(max_size=4))
    return st.one_of(_json_values, st.dictionaries(keys, _json_values, max_size=len(fields) + 1))


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    return False


def _accepted(model: type[Request], body: Any) -> bool:
    try:
        decode_request(model, json.dumps(body).encode())
    except BadRequest as exc:
        assert exc.code == "invalid_request", exc.code
        return False
    return True


@pytest.mark.parametrize("model", _request_models(), ids=lambda m: m.__name__)
@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_request_model_accepts_what_its_published_schema_accepts(
    model: type[Request], data: st.DataObject
) -> None:
    body = data.draw(_bodies(model))
    in_schema = component_validator(model.__name__).is_valid(body)
    accepted = _accepted(model, body)
    if accepted:
        assert in_schema
    if in_schema and not _has_float(body):
        # JSON Schema counts 1.0 as an integer; the models want a JSON integer.
        assert accepted


@pytest.mark.parametrize("model", _request_models(), ids=lambda m: m.__name__)
def test_every_request_model_accepts_a_full_body(model: type[Request]) -> None:
    samples = {"days": 30, "requested_at": 1_764_390_000, "country": "VN", "case_tags": [_B64_32]}
    samples |= {"signature": _B64_64, "checkpoint": "note", "code": "VN-QN-CA"}
    samples |= {"blobs": ["ab" * 32], "blob": "cd" * 32, "size": 41}
    body = {name: samples.get(name, _B64_32) for name in model.__struct_fields__}
    assert component_validator(model.__name__).is_valid(body)
    assert _accepted(model, body)


def test_a_send_request_decodes_into_its_model() -> None:
    request = decode_request(SendRequest, b'{"envelope": "q83v/+==", "case_tags": ["AAAA"]}')
    assert (request.envelope, request.case_tags) == ("q83v/+==", ["AAAA"])
    assert decode_request(SendRequest, b'{"envelope": "q83v"}').case_tags == []
    for raw in (b'{"envelope": "q83v", "extra": 1}', b'{"envelope": "q8 3v"}', b"[]"):
        with pytest.raises(BadRequest) as refused:
            decode_request(SendRequest, raw)
        assert refused.value.code == "invalid_request"


def test_an_integer_field_takes_only_json_integers() -> None:
    assert decode_request(RetentionSetting, b'{"days": 30}').days == 30
    for raw in (b'{"days": 30.0}', b'{"days": true}', b'{"days": "30"}', b'{"days": 0}'):
        with pytest.raises(BadRequest) as refused:
            decode_request(RetentionSetting, raw)
        assert refused.value.code == "invalid_request"


def test_a_body_that_is_no_json_further_on_is_malformed_json() -> None:
    with pytest.raises(BadRequest) as refused:
        decode_request(SendRequest, b'{"envelope": 12, ')
    assert refused.value.code == "malformed_json"
