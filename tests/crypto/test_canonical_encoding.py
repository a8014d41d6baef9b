"""Canonical JSON (NFC + RFC 8785), strict base64, framing and the purpose labels."""

from __future__ import annotations

import json
import unicodedata

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.bindings import crypto_generichash_blake2b_salt_personal

from crypto import labels
from crypto.certs import DeviceCertificate
from crypto.encoding import (
    _is_canonical_ascii,
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


@settings(max_examples=300)
@given(json_values)
def test_ascii_fast_path_agrees_with_rfc8785(value):
    obj = {"v": value}
    data = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        reference = rfc8785.dumps(obj) == data and all(
            unicodedata.is_normalized("NFC", s) for s in _strings(obj)
        )
    except rfc8785.CanonicalizationError:
        reference = False
    if _is_canonical_ascii(obj, data):
        assert reference


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _strings(v)
    elif isinstance(obj, list):
        for item in obj:
            yield from _strings(item)


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
