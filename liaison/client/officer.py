"""Officer device operations: create device keys and a request, activate a certificate, sign in."""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from crypto.auth import auth_challenge_message
from crypto.certs import DeviceCertificate, TrustStore
from crypto.encoding import b64e
from crypto.errors import CryptoError
from crypto.keys import (
    DeviceKeys,
    Rng,
    default_rng,
    safety_number,
    validate_agency_code,
    validate_officer_id,
)
from liaison.client import agency as agency_ops
from liaison.client import directory, transparency
from liaison.client.errors import BadInput, HomeError, ServerError, VerificationError
from liaison.client.home import Home
from liaison.client.records import CertificateRecord, DeviceRequest, TokenRecord
from liaison.client.transport import ApiClient
from liaison.client.wire import decode_b64
from liaison.i18n import _

DEVICE_KEY_FILE = "device/device.key"
REQUEST_FILE = "device/request.json"
CERTIFICATE_FILE = "device/certificate.json"
TOKEN_FILE = "token.json"  # noqa: S105 (a file name)
# A cached token is dropped this long before the server says it expires.
TOKEN_MARGIN = 30


def officer_id_from_name(name: str) -> str:
    """ "Nguyễn Văn An" -> "nguyen.van.an"; empty when the name has no Latin letters."""
    decomposed = unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D"))
    ascii_only = "".join(ch for ch in decomposed if ord(ch) < 128).lower()
    return re.sub(r"[^a-z0-9]+", ".", ascii_only).strip(".")[:64]


def init_officer(
    home: Home,
    *,
    agency: str,
    name_vi: str,
    name_zh: str,
    server: str,
    officer_id: str | None = None,
    device_name: str | None = None,
    now: int | None = None,
    rng: Rng | None = None,
) -> dict[str, Any]:
    """Create this device's keys (locked) and the request the agency administrator certifies."""
    try:
        validate_agency_code(agency)
    except CryptoError as exc:
        raise BadInput(_("{code} is not an agency code.").format(code=agency)) from exc
    officer_id = officer_id or officer_id_from_name(name_vi)
    try:
        validate_officer_id(officer_id)
    except CryptoError as exc:
        raise BadInput(
            _("Give an officer id of lower-case letters, digits, '.', '_' or '-' (--officer-id).")
        ) from exc
    suffix = device_name or (rng or default_rng)(4).hex()
    if not re.fullmatch(r"[a-z0-9-]{1,32}", suffix):
        raise BadInput(_("A device name is lower-case letters, digits and '-'."))
    if home.read_bytes(DEVICE_KEY_FILE) is not None:
        raise HomeError(_("This home folder already holds a device."))
    now = int(time.time()) if now is None else now
    keys = DeviceKeys.generate(rng)
    device_id = f"{agency}:{officer_id}:{suffix}"
    request = {
        "format": agency_ops.REQUEST_FORMAT,
        "agency": agency,
        "officer_id": officer_id,
        "device_id": device_id,
        "display_names": {"vi": name_vi, "zh": name_zh},
        "signing_key": b64e(keys.signing_public),
        "encryption_key": b64e(keys.encryption_public),
        "server": server,
        "created_at": now,
    }
    home.lock_secret(DEVICE_KEY_FILE, keys.to_bytes())
    home.write_json(REQUEST_FILE, DeviceRequest.from_json(request).to_json())
    home.update_config(server=server, agency=agency, officer_id=officer_id, device_id=device_id)
    return request


def device_keys(home: Home) -> DeviceKeys:
    return DeviceKeys.from_bytes(home.unlock_secret(DEVICE_KEY_FILE))


def own_request(home: Home) -> DeviceRequest:
    request = home.load_record(REQUEST_FILE, DeviceRequest.from_json)
    if request is None:
        raise HomeError(_("This home folder holds no device: run `liaison officer init` first."))
    return request


def own_certificate(home: Home) -> DeviceCertificate:
    record = CertificateRecord.from_json(home.read_json(CERTIFICATE_FILE))
    if record is None:
        raise HomeError(_("This device is not activated yet: run `liaison officer activate CERT`."))
    return DeviceCertificate.from_bytes(decode_b64(record.certificate))


@dataclass(frozen=True)
class CertificateFile:
    certificate: DeviceCertificate
    root_key: bytes
    raw: dict[str, Any]


def read_certificate_file(data: bytes) -> CertificateFile:
    try:
        bundle = json.loads(data)
        if bundle.get("format") != agency_ops.CERTIFICATE_FORMAT:
            raise ValueError
        cert = DeviceCertificate.from_bytes(decode_b64(bundle["certificate"]))
        root = decode_b64(bundle["root_key"])
    except (ValueError, KeyError, AttributeError, CryptoError, VerificationError) as exc:
        raise BadInput(_("The file is not a device certificate from an agency.")) from exc
    return CertificateFile(cert, root, bundle)


async def activate(
    home: Home,
    api: ApiClient,
    data: bytes,
    *,
    root_fingerprint: str | None = None,
    confirm: Callable[[str, str], bool] | None = None,
    now: int | None = None,
) -> dict[str, Any]:
    """Check the certificate against this device's keys and its agency root, then upload it.

    The certificate file carries the agency root key. Its fingerprint is what the administrator
    shows in person (`liaison agency fingerprint`): the officer either gives it with
    `root_fingerprint` or confirms it through `confirm(agency, safety_number)`. Only then is the
    own-agency root pinned.
    """
    request = own_request(home)
    bundle = read_certificate_file(data)
    cert = bundle.certificate
    if (
        cert.device_id != request.device_id
        or cert.signing_key != decode_b64(request.signing_key)
        or cert.encryption_key != decode_b64(request.encryption_key)
    ):
        raise VerificationError(_("This certificate was not issued for this device's keys."))
    now = int(time.time()) if now is None else now
    check = TrustStore()
    check.pin(cert.agency, bundle.root_key)
    try:
        check.verify_certificate(cert, now=now)
    except CryptoError as exc:
        raise VerificationError(
            _("The certificate does not verify against the agency root it names ({code}).").format(
                code=exc.code
            )
        ) from exc
    if root_fingerprint is not None:
        if not agency_ops.fingerprint_matches(root_fingerprint, bundle.root_key):
            raise VerificationError(
                _(
                    "The agency root in the certificate file does not match the fingerprint you "
                    "were given: do not use this certificate."
                )
            )
    elif confirm is None or not confirm(cert.agency, safety_number(bundle.root_key)):
        raise VerificationError(
            _("The agency root fingerprint was not confirmed; nothing was changed.")
        )
    existing = directory.pinned_root(home, cert.agency)
    if existing is not None and existing != bundle.root_key:
        raise VerificationError(_("This home folder pinned another root for the agency."))
    given = bundle.raw.get("server_identity")
    if isinstance(given, dict) and home.settings().server_identity is None:
        home.update_config(server_identity=given)
    pinned = await transparency.pin_server(home, api)
    live = transparency.ServerIdentity.from_dict(await api.server_info())
    if live != pinned:
        raise VerificationError(
            _(
                "The server at {url} is not the relay your agency registered with (its log key "
                "differs): refused."
            ).format(url=api.base_url)
        )
    registered = await api.get_agency(cert.agency)
    if registered.get("root_key") != b64e(bundle.root_key):
        raise VerificationError(
            _("The server holds another root key for agency {agency}: refused.").format(
                agency=cert.agency
            )
        )
    answer = await api.upload_certificate(cert.to_bytes())
    directory.pin_root(home, cert.agency, bundle.root_key, how="enrolment", at=now)
    home.write_json(
        CERTIFICATE_FILE, CertificateRecord(b64e(cert.to_bytes()), answer.log_index).to_json()
    )
    home.update_config(server=api.base_url, role=cert.role)
    await transparency.advance(home, api)
    return {"device_id": cert.device_id, "log_index": answer.log_index, "role": cert.role}


async def authenticate(home: Home, api: ApiClient, *, now: int | None = None) -> str:
    """A bearer token for this device: the cached one if still fresh, else challenge-response."""
    from liaison.client.misbehaviour import refuse_if_recorded

    refuse_if_recorded(home)  # no request at all to a server this home holds proof against
    now = int(time.time()) if now is None else now
    cached = TokenRecord.from_json(home.read_json(TOKEN_FILE))
    if (
        cached is not None
        and cached.server == api.base_url
        and cached.expires_at - TOKEN_MARGIN > now
    ):
        api.token = cached.token
        return cached.token
    device_id = home.settings().device_id
    if not device_id:
        raise HomeError(_("This home folder holds no device: run `liaison officer init` first."))
    own_certificate(home)
    identity = await transparency.pin_server(home, api)
    keys = device_keys(home)
    challenge = await api.auth_challenge(device_id)
    challenge_bytes = decode_b64(challenge.challenge)
    signature = keys.signing.sign(
        auth_challenge_message(identity.public_key, challenge_bytes)
    ).signature
    answer = await api.auth_token(device_id, challenge.challenge, bytes(signature))
    home.write_json(
        TOKEN_FILE, TokenRecord(answer.token, answer.expires_at, api.base_url).to_json()
    )
    api.token = answer.token
    return answer.token


def forget_token(home: Home) -> None:
    path = home.root / TOKEN_FILE
    path.unlink(missing_ok=True)


Answer = TypeVar("Answer")


async def authenticated(
    home: Home, api: ApiClient, call: Callable[[], Awaitable[Answer]]
) -> Answer:
    """Run `call` with a token; a token the server no longer accepts (401) is renewed once.
    The one place the client refreshes a token: every authenticated request goes through it."""
    await authenticate(home, api)
    try:
        return await call()
    except ServerError as exc:
        if exc.status != 401:
            raise
    forget_token(home)
    await authenticate(home, api)
    return await call()


# Directory and log reads log in with this home's device when no token is held yet.
transparency.set_device_login(authenticate)
