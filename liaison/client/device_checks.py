"""Checks of one device certificate and its revocation against an agency root: shared by the
own relay's directory (liaison/client/directory.py) and a peer relay's (foreign.py)."""

from __future__ import annotations

from crypto.certs import DeviceCertificate, Revocation, TrustStore
from crypto.errors import CertificateError, CryptoError
from liaison.client.errors import VerificationError
from liaison.i18n import _


def root_signed_revocation(cert: DeviceCertificate, raw: bytes, root: bytes) -> Revocation:
    """The revocation `raw` of `cert`, once it parses, names that certificate and is signed by
    the agency `root`."""
    try:
        revocation = Revocation.from_bytes(raw)
    except CryptoError as exc:
        raise VerificationError(_("The server sent a revocation of another certificate.")) from exc
    if revocation.device_id != cert.device_id or revocation.cert_hash != cert.cert_hash():
        raise VerificationError(_("The server sent a revocation of another certificate."))
    try:
        TrustStore.with_pins([(cert.agency, root)]).add_revocation(revocation)
    except CryptoError as exc:
        raise VerificationError(
            _("The revocation of device {device} is not signed by its agency root.").format(
                device=cert.device_id
            )
        ) from exc
    return revocation


def certificate_state(
    trust: TrustStore, cert: DeviceCertificate, *, now: int
) -> tuple[str | None, bool]:
    """(problem, revoked) of a certificate under the pinned roots and revocations of `trust`:
    problem is "certificate_expired" / "certificate_not_yet_valid" or None; one that does not
    verify otherwise is refused."""
    try:
        trust.verify_certificate(cert, now=now)
    except CertificateError as exc:
        if exc.code in ("certificate_expired", "certificate_not_yet_valid"):
            return exc.code, False
        if exc.code == "certificate_revoked":
            return None, True
        raise VerificationError(
            _("The certificate of device {device} does not verify: {code}.").format(
                device=cert.device_id, code=exc.code
            )
        ) from exc
    return None, False
