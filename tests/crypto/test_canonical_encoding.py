"""Canonical JSON (NFC + RFC 8785), strict base64, framing and the purpose labels."""

from __future__ import annotations

import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.bindings import crypto_generichash_blake2b_salt_personal

from crypto import labels
from crypto.certs import DeviceCertificate
from crypto.encoding import (
    MAX_SAFE_INTEGER,
    _rfc8785_json,
    b64d,
    b64e,
    blake2b,
    canonical_json,
    frame,
    parse_canonical_json,
)
from crypto.envelope import Envelope
from crypto.errors import MalformedError

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53) + 1, 2**53 - 1), st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def test_strings_are_nfc_normalised_before_canonicalisation():
    decomposed = "Nguye\u0302\u0303n"  # e + combining circumflex + combining tilde
    assert canonical_json({"name": decomposed}) == canonical_json({"name": "Nguyễn"})
    assert canonical_json({"name": decomposed}) == '{"name":"Nguyễn"}'.encode()


def test_keys_are_sorted_and_output_is_compact_utf8():
    assert (
        canonical_json({"b": 1, "a": [True, None, "中"]}) == '{"a":[true,null,"中"],"b":1}'.encode()
    )


def test_keys_equal_after_normalisation_are_refused():
    with pytest.raises(MalformedError):
        canonical_json({"e\u0301": 1, "é": 2})


@pytest.mark.parametrize("value", [1.5, 2**53, b"bytes", {1: "int key"}, object()])
def test_values_without_canonical_form_are_refused(value):
    with pytest.raises(MalformedError):
        canonical_json({"v": value})


@settings(max_examples=200)
@given(json_values)
def test_canonical_json_round_trips_to_nfc_form(value):
    data = canonical_json({"v": value})
    parsed = parse_canonical_json(data)
    assert canonical_json(parsed) == data
    assert json.loads(data) == parsed


_ascii = st.text(st.characters(max_codepoint=0x7F), max_size=8)
_any_text = st.text(st.characters(max_codepoint=0x2FFFF, exclude_categories=("Cs",)), max_size=8)
_mixed_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER),
        _ascii,
        _any_text,
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(_ascii, _any_text), inner, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(st.dictionaries(st.one_of(_ascii, _any_text), _mixed_values, max_size=6))
def test_ascii_fast_path_gives_the_rfc8785_bytes(obj):
    try:
        reference = _rfc8785_json(obj)
    except MalformedError:  # two keys equal after NFC: never ASCII, so never the fast path
        with pytest.raises(MalformedError):
            canonical_json(obj)
        return
    assert canonical_json(obj) == reference


def test_a_log_entry_takes_the_fast_path_with_the_rfc8785_bytes():
    entry = {
        "kind": "envelope",
        "message_id": "0f" * 16,
        "envelope_hash": "q83v/+==",
        "sender": "VN-QN-CA:officer1:abcd",
        "recipients": ["CN-GX-DX:officer2:ef01", "VN-QN-CA:officer3:2345"],
        "size": 2048,
        "at": 1_764_390_000,
    }
    assert canonical_json(entry) == _rfc8785_json(entry) == bytes(rfc8785.dumps(entry))


@pytest.mark.parametrize("value", [1.5, -0.25, 1e21, 3.0])
def test_floats_are_encoded_as_rfc8785_only_when_allowed(value):
    with pytest.raises(MalformedError):
        canonical_json({"lat": value})
    assert canonical_json({"lat": value}, allow_floats=True) == rfc8785.dumps({"lat": value})


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_floats_are_refused_even_when_floats_are_allowed(value):
    with pytest.raises(MalformedError):
        canonical_json({"lat": value}, allow_floats=True)


@pytest.mark.parametrize(
    "data",
    [
        b'{"b":1,"a":2}',
        b'{"a": 1}',
        b'{"a":1,"a":1}',
        b'{"a":1.0}',
        b'{"a":NaN}',
        b"[1]",
        '{"a":"e\u0301"}'.encode(),
        b'{"a":"\\u00e9"}',
        b"\xff",
        b'{"a":9007199254740993}',
        b'{"a":"\\ud800"}',
        b'{"\\udc00":1}',
    ],
)
def test_non_canonical_json_is_refused(data):
    with pytest.raises(MalformedError):
        parse_canonical_json(data)


def test_base64_is_standard_padded_and_strict():
    assert b64e(b"\xfb\xff") == "+/8="
    assert b64d("+/8=") == b"\xfb\xff"
    for bad in ("+/8", "-_8=", "+/9=", " +/8=", "+/8=\n", "ü", 5):
        with pytest.raises(MalformedError):
            b64d(bad)


def test_frame_is_length_prefixed_and_unambiguous():
    assert frame(b"ab", b"") == b"\x00\x00\x00\x02ab\x00\x00\x00\x00"
    assert frame(b"a", b"bc") != frame(b"ab", b"c")


def test_blake2b_matches_the_public_pynacl_binding():
    for data, key in [(b"", b""), (b"x" * 300, b"k" * 32), (b"abc", b"k" * 64)]:
        expected = crypto_generichash_blake2b_salt_personal(data, digest_size=32, key=key)
        assert blake2b(data, key=key) == expected


def test_every_label_is_distinct_prefixed_and_nul_free():
    assert len(set(labels.ALL_LABELS)) == len(labels.ALL_LABELS)
    declared = {v for k, v in vars(labels).items() if k.startswith("LABEL_")}
    assert declared == set(labels.ALL_LABELS)
    for label in labels.ALL_LABELS:
        assert label.startswith(labels.PREFIX) and b"\x00" not in label and label.isascii()
    # No label is a prefix of another, so `label || 0x00 || payload` cannot collide.
    for a in labels.ALL_LABELS:
        for b in labels.ALL_LABELS:
            assert a == b or not b.startswith(a + b"\x00")


@settings(max_examples=300)
@given(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps({"v": v}).encode())))
def test_arbitrary_input_is_parsed_or_refused_as_malformed(data):
    for parse in (parse_canonical_json, DeviceCertificate.from_bytes, Envelope.from_bytes):
        try:
            parse(data)
        except MalformedError:
            pass


def test_deeply_nested_ascii_json_parses_as_it_did_before_the_fast_path():
    data = b'{"a":' + b"[" * 500 + b"]" * 500 + b"}"
    assert canonical_json(parse_canonical_json(data)) == data


@pytest.mark.parametrize("depth", [600, 2000, 100_000])
@pytest.mark.parametrize("key", ["a", "\u00e9"])
def test_deeply_nested_json_parses_or_is_malformed_never_a_recursion_error(depth, key):
    data = ('{"' + key + '":').encode() + b"[" * depth + b"]" * depth + b"}"
    try:
        parse_canonical_json(data)
    except MalformedError:
        pass  # refused with the package's own error: what every caller handles
