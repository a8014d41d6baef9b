"""Keys, safety numbers, compact fingerprints and identifier syntax."""

from __future__ import annotations

import re

import pytest

from crypto.errors import MalformedError
from crypto.keys import (
    DeviceKeys,
    ReviewKeyPair,
    RootKey,
    compact_fingerprint,
    device_agency,
    safety_number,
    validate_agency_code,
    validate_device_id,
)
from tests.crypto.crypto_world import pinned_rng


def test_keys_round_trip_through_bytes():
    rng = pinned_rng(b"keys")
    device = DeviceKeys.generate(rng)
    assert DeviceKeys.from_bytes(device.to_bytes()).encryption_public == device.encryption_public
    assert DeviceKeys.from_bytes(device.to_bytes()).signing_public == device.signing_public
    assert device.signing_public != device.encryption_public
    root = RootKey.generate(rng)
    assert RootKey.from_bytes(root.to_bytes()).public == root.public
    review = ReviewKeyPair.generate(rng)
    assert ReviewKeyPair.from_bytes(review.to_bytes()).key_id == review.key_id


def test_pinned_rng_gives_identical_keys():
    assert (
        DeviceKeys.generate(pinned_rng(b"s")).to_bytes()
        == DeviceKeys.generate(pinned_rng(b"s")).to_bytes()
    )
    assert (
        DeviceKeys.generate(pinned_rng(b"s")).to_bytes()
        != DeviceKeys.generate(pinned_rng(b"t")).to_bytes()
    )


def test_wrong_length_key_material_is_malformed():
    for bad in (b"", b"x" * 63, b"x" * 65):
        with pytest.raises(MalformedError):
            DeviceKeys.from_bytes(bad)
    with pytest.raises(MalformedError):
        safety_number(b"x" * 31)


def test_safety_number_is_six_groups_of_five_digits_and_key_specific():
    a, b = RootKey.generate().public, RootKey.generate().public
    number = safety_number(a)
    assert re.fullmatch(r"\d{5}( \d{5}){5}", number)
    assert safety_number(a) == number
    assert safety_number(b) != number


def test_compact_fingerprint_is_qr_alphanumeric_and_key_specific():
    a, b = RootKey.generate().public, RootKey.generate().public
    fp = compact_fingerprint(a)
    assert re.fullmatch(r"[A-Z2-7]{32}", fp)
    assert compact_fingerprint(b) != fp


@pytest.mark.parametrize("code", ["VN-QN-CA", "CN-GX-FCG", "VN-HN-BDBP-01"])
def test_agency_codes_accepted(code):
    assert validate_agency_code(code) == code


@pytest.mark.parametrize(
    "code", ["", "vn-qn-ca", "VN", "VNM-QN-CA", "VN-QN-CA-X-Y", "VN:QN", "VN-QN-CÁ"]
)
def test_agency_codes_refused(code):
    with pytest.raises(MalformedError):
        validate_agency_code(code)


def test_device_ids_name_agency_officer_and_device():
    assert validate_device_id("VN-QN-CA:nguyen.van_a-2:phone") == "VN-QN-CA:nguyen.van_a-2:phone"
    assert device_agency("CN-GX-FCG:li.wei:tablet-1") == "CN-GX-FCG"
    for bad in (
        "VN-QN-CA:nguyen",
        "VN-QN-CA:Nguyen:phone",
        "VN-QN-CA:a:b:c",
        "XX:a:b",
        "VN-QN-CA::p",
    ):
        with pytest.raises(MalformedError):
            validate_device_id(bad)
