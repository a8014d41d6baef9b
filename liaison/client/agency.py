"""Agency administrator operations: create the root and review keys, register, certify, revoke."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from typing import Any

from crypto.certs import (
    ROLES,
    DeviceCertificate,
    Revocation,
    TrustStore,
    issue_certificate,
    issue_review_key_statement,
    issue_revocation,
)
from crypto.encoding import b64e
from crypto.errors import CryptoError
from crypto.keys import (
    ReviewKeyPair,
    Rng,
    RootKey,
    compact_fingerprint,
    device_agency,
    parse_device_id,
    safety_number,
    validate_agency_code,
)
from crypto.review_keys import wrap_review_key
from liaison.client import directory, transparency
from liaison.client.errors import BadInput, HomeError, ServerError, VerificationError
from liaison.client.home import Home
from liaison.client.records import agency_document_from_json
from liaison.client.transport import ApiClient
from liaison.client.wire import decode_b64
from liaison.i18n import N_, _

AGENCY_FILE = "agency/agency.json"
ROOT_KEY_FILE = "agency/root.key"
REVIEW_KEY_FILE = "agency/review.key"
REQUEST_FORMAT = "liaison-device-request/1"
CERTIFICATE_FORMAT = "liaison-device-certificate/1"
DEFAULT_VALIDITY_DAYS = 365


@dataclass(frozen=True)
class Fingerprint:
    agency: str
    safety_number: str
    compact: str

    def to_dict(self) -> dict[str, str]:
        return {"agency": self.agency, "safety_number": self.safety_number, "compact": self.compact}


def fingerprint_of(agency: str, root_public: bytes) -> Fingerprint:
    return Fingerprint(agency, safety_number(root_public), compact_fingerprint(root_public))


def normalise_fingerprint(text: str) -> str:
    """Digits only for a safety number, upper-case base32 for a compact one."""
    cleaned = "".join(ch for ch in text if not ch.isspace() and ch != "-")
    return cleaned if cleaned.isdigit() else cleaned.upper()


def fingerprint_matches(text: str, root_public: bytes) -> bool:
    given = normalise_fingerprint(text)
    return given in (
        normalise_fingerprint(safety_number(root_public)),
        compact_fingerprint(root_public),
    )


def load_agency(home: Home) -> dict[str, Any]:
    record = home.load_record(AGENCY_FILE, agency_document_from_json)
    if record is None:
        raise HomeError(_("This home folder holds no agency: run `liaison agency init` first."))
    return record


def init_agency(
    home: Home,
    *,
    code: str,
    country: str,
    name_vi: str,
    name_zh: str,
    now: int | None = None,
    rng: Rng | None = None,
) -> Fingerprint:
    """Create the agency's root key and review key, locked with the administrator's passphrase."""
    try:
        validate_agency_code(code)
    except CryptoError as exc:
        raise BadInput(
            _("{code} is not an agency code (like VN-QN-CA: country, province, agency).").format(
                code=code
            )
        ) from exc
    country = country.upper()
    if not code.startswith(country + "-"):
        raise BadInput(
            _("The agency code {code} does not start with its country {country}.").format(
                code=code, country=country
            )
        )
    if not name_vi.strip() or not name_zh.strip():
        raise BadInput(_("The agency needs a name in Vietnamese and in Chinese."))
    if home.read_bytes(AGENCY_FILE) is not None:
        raise HomeError(
            _("This home folder already holds agency {code}.").format(
                code=load_agency(home)["code"]
            )
        )
    now = int(time.time()) if now is None else now
    root = RootKey.generate(rng)
    review = ReviewKeyPair.generate(rng)
    statement = issue_review_key_statement(
        root, agency=code, public_key=review.public, not_before=now
    )
    home.lock_secret(ROOT_KEY_FILE, root.to_bytes())
    home.lock_secret(REVIEW_KEY_FILE, review.to_bytes())
    home.write_json(
        AGENCY_FILE,
        {
            "code": code,
            "country": country,
            "name_vi": name_vi,
            "name_zh": name_zh,
            "root_key": b64e(root.public),
            "review_key_id": review.key_id,
            "review_statement": b64e(statement.to_bytes()),
            "next_serial": 1,
            "issued": {},
            "created_at": now,
        },
    )
    directory.pin_root(home, code, root.public, how="own-agency", at=now)
    return fingerprint_of(code, root.public)


def agency_fingerprint(home: Home) -> Fingerprint:
    record = load_agency(home)
    return fingerprint_of(record["code"], decode_b64(record["root_key"]))


async def register_agency(home: Home, api: ApiClient, admin_token: str) -> dict[str, Any]:
    """Register the agency's root and review statement with the relay (operator's admin token)."""
    record = load_agency(home)
    await transparency.pin_server(home, api)
    body = {
        "code": record["code"],
        "country": record["country"],
        "name_vi": record["name_vi"],
        "name_zh": record["name_zh"],
        "root_key": record["root_key"],
        "review_statement": record["review_statement"],
    }
    try:
        answer = await api.register_agency(admin_token, body)
        log_index = answer.get("log_index")
    except ServerError as exc:
        if exc.code != "agency_exists":
            raise
        existing = await api.get_agency(record["code"])
        if existing.get("root_key") != record["root_key"]:
            raise VerificationError(
                _("The server already holds agency {code} with another root key.").format(
                    code=record["code"]
                )
            ) from exc
        log_index = existing.get("log_index")
    home.update_config(server=api.base_url)
    record["registered_log_index"] = log_index
    home.write_json(AGENCY_FILE, record)
    await transparency.advance(home, api)
    return {"agency": record["code"], "log_index": log_index, "server": api.base_url}


def read_request(data: bytes) -> dict[str, Any]:
    try:
        request = json.loads(data)
    except ValueError as exc:
        raise BadInput(_("The request file is not a device request.")) from exc
    if not isinstance(request, dict) or request.get("format") != REQUEST_FORMAT:
        raise BadInput(_("The request file is not a device request."))
    try:
        parse_device_id(request["device_id"])
        decode_b64(request["signing_key"])
        decode_b64(request["encryption_key"])
        names = request["display_names"]
        if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
            raise ValueError
    except (KeyError, ValueError, CryptoError) as exc:
        raise BadInput(_("The request file is damaged or incomplete.")) from exc
    return request


def certify(
    home: Home,
    request_data: bytes,
    *,
    role: str,
    days: int = DEFAULT_VALIDITY_DAYS,
    now: int | None = None,
) -> bytes:
    """Issue a device certificate from an officer's request; returns the certificate file."""
    record = load_agency(home)
    request = read_request(request_data)
    if role not in ROLES:
        raise BadInput(_("Unknown role {role}.").format(role=role))
    agency, officer_id, _suffix = parse_device_id(request["device_id"])
    if agency != record["code"] or request.get("agency") != record["code"]:
        raise BadInput(
            _("The request is for agency {other}, not {agency}.").format(
                other=request.get("agency"), agency=record["code"]
            )
        )
    if days < 1:
        raise BadInput(_("The validity must be at least one day."))
    now = int(time.time()) if now is None else now
    root = RootKey.from_bytes(home.unlock_secret(ROOT_KEY_FILE))
    serial = int(record.get("next_serial", 1))
    cert = issue_certificate(
        root,
        agency=agency,
        officer_id=officer_id,
        device_id=request["device_id"],
        role=role,
        signing_key=decode_b64(request["signing_key"]),
        encryption_key=decode_b64(request["encryption_key"]),
        display_names=dict(request["display_names"]),
        serial=serial,
        not_before=now,
        not_after=now + days * 86400,
    )
    record["next_serial"] = serial + 1
    record.setdefault("issued", {})[cert.device_id] = {
        "serial": serial,
        "role": role,
        "cert_hash": b64e(cert.cert_hash()),
        "certificate": b64e(cert.to_bytes()),
        "not_after": cert.not_after,
        "server": request.get("server") or home.settings().server,
    }
    home.write_json(AGENCY_FILE, record)
    if role == "supervisor":
        # Seal every review key to the new supervisor now; `rewrap-review-keys` uploads them.
        wrap_missing(home, now=now)
    return certificate_file(home, cert.device_id)


def certificate_file(home: Home, device_id: str) -> bytes:
    """The certificate file of a device this agency certified (as `certify` wrote it), to
    hand over again: the certificate, the agency root, the relay and its log key."""
    record = load_agency(home)
    issued = record.get("issued", {}).get(device_id)
    if issued is None:
        raise BadInput(
            _("Agency {agency} has not certified device {device}.").format(
                agency=record["code"], device=device_id
            )
        )
    bundle = {
        "format": CERTIFICATE_FORMAT,
        "agency": record["code"],
        "certificate": issued["certificate"],
        "root_key": record["root_key"],
        "root_safety_number": safety_number(decode_b64(record["root_key"])),
        "server": issued.get("server") or home.settings().server,
        # The relay's log key as the administrator pinned it at registration, so the officer's
        # device need not trust the server on first use.
        "server_identity": home.config().get("server_identity"),
    }
    return (json.dumps(bundle, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


async def revoke(
    home: Home,
    api: ApiClient,
    device_id: str,
    *,
    reason: str = "unspecified",
    now: int | None = None,
) -> dict[str, Any]:
    """Sign a revocation of `device_id` with the agency root and upload it."""
    record = load_agency(home)
    try:
        agency = device_agency(device_id)
    except CryptoError as exc:
        raise BadInput(_("Not a device id: {value}").format(value=device_id)) from exc
    if agency != record["code"]:
        raise BadInput(
            _("Device {device} does not belong to agency {agency}.").format(
                device=device_id, agency=record["code"]
            )
        )
    issued = record.get("issued", {}).get(device_id)
    if issued is not None:
        cert_hash = decode_b64(issued["cert_hash"])
    else:
        answer = await api.get_device(device_id)
        cert = DeviceCertificate.from_bytes(decode_b64(answer["certificate"]))
        cert_hash = cert.cert_hash()
    now = int(time.time()) if now is None else now
    root = RootKey.from_bytes(home.unlock_secret(ROOT_KEY_FILE))
    revocation = issue_revocation(
        root,
        agency=agency,
        device_id=device_id,
        cert_hash=cert_hash,
        reason=reason,
        revoked_at=now,
    )
    answer = await api.upload_revocation(revocation.to_bytes())
    await transparency.advance(home, api)
    if issued is not None:
        # Remembered here too, so `agency devices` shows it without asking the relay.
        issued.update(revoked=True, revoked_at=now, revocation_log_index=answer.get("log_index"))
        home.write_json(AGENCY_FILE, record)
    return {"device_id": device_id, "log_index": answer.get("log_index"), "reason": reason}


# --- The agency's devices, as the administrator certified them --------------------------------
DEVICE_STATUSES = {
    "active": N_("active"),
    "revoked": N_("revoked"),
    "expired": N_("expired"),
    "not_activated": N_("certified, not activated yet"),
}


def device_fingerprint(signing_key: bytes) -> str:
    """The safety number of a device's signing key: what the officer and the administrator
    compare before the request is certified (`officer init` prints it)."""
    return safety_number(signing_key)


@dataclass(frozen=True)
class DeviceRequest:
    """A device request file as the administrator checks it before certifying."""

    device_id: str
    agency: str
    officer_id: str
    display_names: dict[str, str]
    fingerprint: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "agency": self.agency,
            "officer_id": self.officer_id,
            "display_names": dict(self.display_names),
            "fingerprint": self.fingerprint,
        }


def describe_request(data: bytes) -> DeviceRequest:
    """What a request file asks for, with the fingerprint to compare (BadInput if damaged)."""
    request = read_request(data)
    agency, officer_id, _suffix = parse_device_id(request["device_id"])
    return DeviceRequest(
        device_id=request["device_id"],
        agency=agency,
        officer_id=officer_id,
        display_names=dict(request["display_names"]),
        fingerprint=device_fingerprint(decode_b64(request["signing_key"])),
    )


@dataclass(frozen=True)
class AgencyDevice:
    """One device this agency certified, with its status (`DEVICE_STATUSES`)."""

    device_id: str
    officer_id: str
    role: str
    display_names: dict[str, str]
    serial: int
    certified_at: int
    not_after: int
    fingerprint: str
    status: str
    revoked_at: int | None = None
    revocation_log_index: int | None = None
    checked_on_relay: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "officer_id": self.officer_id,
            "role": self.role,
            "display_names": dict(self.display_names),
            "serial": self.serial,
            "certified_at": self.certified_at,
            "not_after": self.not_after,
            "fingerprint": self.fingerprint,
            "status": self.status,
            "revoked_at": self.revoked_at,
            "revocation_log_index": self.revocation_log_index,
            "checked_on_relay": self.checked_on_relay,
        }


def issued_devices(home: Home, *, now: int | None = None) -> list[AgencyDevice]:
    """The devices this home's agency certified, as it recorded them (no relay asked): a
    device not known to be revoked counts as active until its certificate expires."""
    record = load_agency(home)
    now = int(time.time()) if now is None else now
    out = []
    for device_id, item in sorted(record.get("issued", {}).items()):
        cert = DeviceCertificate.from_bytes(decode_b64(item["certificate"]))
        if item.get("revoked"):
            status = "revoked"
        elif cert.not_after <= now:
            status = "expired"
        else:
            status = "active"
        out.append(
            AgencyDevice(
                device_id=device_id,
                officer_id=str(cert.officer_id),
                role=str(item.get("role", cert.role)),
                display_names=dict(cert.display_names),
                serial=int(item.get("serial", cert.serial)),
                certified_at=cert.not_before,
                not_after=cert.not_after,
                fingerprint=device_fingerprint(cert.signing_key),
                status=status,
                revoked_at=item.get("revoked_at"),
                revocation_log_index=item.get("revocation_log_index"),
            )
        )
    return out


async def agency_devices(
    home: Home, api: ApiClient, *, now: int | None = None
) -> list[AgencyDevice]:
    """`issued_devices`, each checked on the relay: a revocation the relay holds counts only
    if the agency root signed it for that very certificate; a device whose certificate the
    relay does not hold was certified but never activated. A revocation the relay learned is
    remembered in the home."""
    record = load_agency(home)
    root = decode_b64(record["root_key"])
    out = []
    changed = False
    for device in issued_devices(home, now=now):
        item = record["issued"][device.device_id]
        try:
            answer = await api.get_device(device.device_id)
        except ServerError as exc:
            if exc.code != "unknown_device":
                raise
            status = device.status if device.status == "revoked" else "not_activated"
            out.append(dataclasses.replace(device, status=status, checked_on_relay=True))
            continue
        if answer.revoked and answer.revocation and device.status != "revoked":
            revocation = Revocation.from_bytes(decode_b64(answer.revocation))
            check = TrustStore()
            check.pin(record["code"], root)
            try:
                check.add_revocation(revocation)
            except CryptoError as exc:
                raise VerificationError(
                    _("The revocation of device {device} is not signed by its agency root.").format(
                        device=device.device_id
                    )
                ) from exc
            if revocation.device_id != device.device_id or revocation.cert_hash != decode_b64(
                item["cert_hash"]
            ):
                raise VerificationError(_("The server sent a revocation of another certificate."))
            item.update(
                revoked=True,
                revoked_at=revocation.revoked_at,
                revocation_log_index=answer.revocation_log_index,
            )
            changed = True
            device = dataclasses.replace(
                device,
                status="revoked",
                revoked_at=revocation.revoked_at,
                revocation_log_index=answer.revocation_log_index,
            )
        out.append(dataclasses.replace(device, checked_on_relay=True))
    if changed:
        home.write_json(AGENCY_FILE, record)
    return out


# --- The agency's review keys sealed to its supervisors (uploaded by review.publish_wraps) ---
def review_key_entries(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The agency's review keys, oldest first: {key_id, statement (b64), keystore}."""
    keys = record.get("review_keys")
    if isinstance(keys, list) and keys:
        return keys
    return [
        {
            "key_id": record["review_key_id"],
            "statement": record["review_statement"],
            "keystore": REVIEW_KEY_FILE,
        }
    ]


def _supervisors(record: dict[str, Any]) -> dict[str, DeviceCertificate]:
    return {
        device_id: DeviceCertificate.from_bytes(decode_b64(item["certificate"]))
        for device_id, item in sorted(record.get("issued", {}).items())
        if item.get("role") == "supervisor" and not item.get("revoked")
    }


def wrap_missing(home: Home, *, now: int | None = None) -> list[str]:
    """Seal every review key to every supervisor device that lacks it; answer the devices served.

    Wraps are kept in agency.json until `publish_wraps` uploads them.
    """
    record = load_agency(home)
    wraps: dict[str, dict[str, Any]] = record.setdefault("review_wraps", {})
    keys = review_key_entries(record)
    missing = [
        (device_id, cert, key)
        for device_id, cert in _supervisors(record).items()
        for key in keys
        if key["key_id"] not in wraps.get(device_id, {})
    ]
    if not missing:
        return []
    root = RootKey.from_bytes(home.unlock_secret(ROOT_KEY_FILE))
    pairs: dict[str, ReviewKeyPair] = {}
    now = int(time.time()) if now is None else now
    served = []
    for device_id, cert, key in missing:
        if key["key_id"] not in pairs:
            pairs[key["key_id"]] = ReviewKeyPair.from_bytes(home.unlock_secret(key["keystore"]))
        wrap = wrap_review_key(
            root,
            pairs[key["key_id"]],
            device_id=device_id,
            encryption_key=cert.encryption_key,
            issued_at=now,
        )
        wraps.setdefault(device_id, {})[key["key_id"]] = {
            "wrap": b64e(wrap.to_bytes()),
            "published": False,
        }
        served.append(device_id)
    home.write_json(AGENCY_FILE, record)
    return sorted(set(served))


async def publish_home(home: Home, api: ApiClient, *, now: int | None = None) -> dict[str, Any]:
    """Sign, with the agency root, a home statement naming the relay of `api` (its pinned
    origin and log key) and post it there (PROTOCOL.md §16.4), where it is logged (`home`)."""
    from crypto.federation import issue_home_statement

    record = load_agency(home)
    identity = await transparency.pin_server(home, api)
    root = RootKey.from_bytes(home.unlock_secret(ROOT_KEY_FILE))
    statement = issue_home_statement(
        root,
        agency=record["code"],
        relay_origin=identity.origin,
        relay_key=identity.public_key,
        issued_at=int(time.time()) if now is None else now,
    )
    answer = await api.request(
        "POST",
        f"/v1/agencies/{record['code']}/home",
        json={"statement": b64e(statement.to_bytes())},
        route="/v1/agencies/{code}/home",
    )
    return {**answer, "relay_origin": identity.origin}
