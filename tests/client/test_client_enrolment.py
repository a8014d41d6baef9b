"""Enrolment without a server: agency keys, requests, certificates, fingerprint confirmation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crypto.certs import DeviceCertificate, TrustStore
from crypto.encoding import b64d
from liaison.client import agency, officer
from liaison.client.errors import BadInput, HomeError, VerificationError
from liaison.client.home import Home

NOW = 1_800_000_000


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIAISON_KDF_PROFILE", "test")


def make_home(path: Path) -> Home:
    return Home(path, passphrase=lambda confirm: "pw")


@pytest.fixture
def admin(tmp_path: Path) -> Home:
    home = make_home(tmp_path / "admin")
    agency.init_agency(
        home,
        code="VN-QN-CA",
        country="VN",
        name_vi="Công an tỉnh Quảng Ninh",
        name_zh="广宁省公安厅",
        now=NOW,
    )
    return home


def request_for(tmp_path: Path, agency_code: str = "VN-QN-CA") -> tuple[Home, bytes]:
    home = make_home(tmp_path / f"officer-{agency_code}")
    request = officer.init_officer(
        home,
        agency=agency_code,
        name_vi="Nguyễn Văn An",
        name_zh="阮文安",
        server="http://127.0.0.1:1",
        now=NOW,
    )
    return home, json.dumps(request).encode()


def test_certificate_binds_the_request_keys_under_the_agency_root(
    admin: Home, tmp_path: Path
) -> None:
    home, request = request_for(tmp_path)
    bundle = json.loads(agency.certify(admin, request, role="supervisor", now=NOW))
    cert = DeviceCertificate.from_bytes(b64d(bundle["certificate"]))
    assert cert.device_id == home.config()["device_id"]
    assert cert.device_id.startswith("VN-QN-CA:nguyen.van.an:")
    assert cert.role == "supervisor"
    assert cert.signing_key == officer.device_keys(home).signing_public
    trust = TrustStore.with_pins([("VN-QN-CA", b64d(bundle["root_key"]))])
    trust.verify_certificate(cert, now=NOW + 1)
    assert agency.fingerprint_matches(bundle["root_safety_number"], b64d(bundle["root_key"]))
    serials = [
        DeviceCertificate.from_bytes(
            b64d(json.loads(agency.certify(admin, request, role="officer", now=NOW))["certificate"])
        ).serial
        for _ in range(2)
    ]
    assert serials == [cert.serial + 1, cert.serial + 2]


def test_request_of_another_agency_is_not_certified(admin: Home, tmp_path: Path) -> None:
    _home, request = request_for(tmp_path, "CN-GX-DXGA")
    with pytest.raises(BadInput, match="CN-GX-DXGA"):
        agency.certify(admin, request, role="officer", now=NOW)


@pytest.mark.parametrize("data", [b"", b"{}", b'{"format": "liaison-device-request/1"}'])
def test_damaged_request_is_refused(admin: Home, data: bytes) -> None:
    with pytest.raises(BadInput):
        agency.certify(admin, data, role="officer", now=NOW)


def test_second_agency_in_one_home_is_refused(admin: Home) -> None:
    with pytest.raises(HomeError):
        agency.init_agency(admin, code="VN-QN-BP", country="VN", name_vi="a", name_zh="b", now=NOW)


async def test_activation_needs_the_fingerprint_confirmed(admin: Home, tmp_path: Path) -> None:
    home, request = request_for(tmp_path)
    certificate = agency.certify(admin, request, role="officer", now=NOW)
    shown: list[tuple[str, str]] = []

    def decline(code: str, number: str) -> bool:
        shown.append((code, number))
        return False

    with pytest.raises(VerificationError, match="not confirmed"):
        await officer.activate(home, None, certificate, confirm=decline, now=NOW)  # type: ignore[arg-type]
    assert shown == [("VN-QN-CA", agency.agency_fingerprint(admin).safety_number)]
    wrong = "11111 22222 33333 44444 55555 66666"
    with pytest.raises(VerificationError, match="does not match"):
        await officer.activate(home, None, certificate, root_fingerprint=wrong, now=NOW)  # type: ignore[arg-type]
    assert home.read_json("pins.json") is None


@pytest.mark.parametrize(
    ("name", "officer_id"),
    [("Nguyễn Văn An", "nguyen.van.an"), ("Đỗ Thị Hà", "do.thi.ha"), ("李伟", "")],
)
def test_officer_id_from_a_latin_name(name: str, officer_id: str) -> None:
    assert officer.officer_id_from_name(name) == officer_id
