"""Errors that come from outside the domain, in the officer's language, at the edge.

`crypto/` stays free of gettext: its errors carry a stable `code`, and this module words each
code for the officer. OS errors are worded by their errno class, PdfUnavailable by its code, and
argparse's own words ("usage", "options", its errors) come from our catalogues too.
"""

from __future__ import annotations

import errno

from liaison.i18n import N_, _, current_language, translations

# What each crypto error code means for the officer (crypto/errors.py; the code stays stable).
CRYPTO_MESSAGES = {
    "crypto_error": N_("a cryptographic check failed"),
    "malformed": N_("the data is damaged or not in the expected format"),
    "unsupported_version": N_("the data uses a version this program does not support"),
    "bad_signature": N_("a signature does not verify"),
    "bad_certificate": N_("a certificate cannot be trusted"),
    "untrusted_root": N_("the certificate was not issued by a trusted root"),
    "certificate_expired": N_("the certificate has expired"),
    "certificate_not_yet_valid": N_("the certificate is not valid yet"),
    "certificate_revoked": N_("the certificate has been revoked"),
    "certificate_bad_signature": N_("the certificate's signature does not verify"),
    "bad_envelope": N_("the message cannot be opened"),
    "not_a_recipient": N_("this message is not addressed to you"),
    "bad_review_wrap": N_("the supervisor's copy of the message cannot be opened"),
    "decryption_failed": N_("the message cannot be decrypted (damaged or not for this key)"),
    "replay": N_("this message was already received (replay)"),
    "sender_mismatch": N_("the sender's certificate does not match the message"),
    "sent_in_future": N_("the message's send time lies in the future; check the clock"),
    "keystore_locked": N_("wrong passphrase, or the key file was altered"),
    "local_seal_failed": N_(
        "a file kept encrypted on this device was changed, or is another device's"
    ),
    "bad_proof": N_("the audit log proof does not verify"),
    "bad_attachment": N_("the attachment does not match its reference"),
    "attachment_decryption_failed": N_("the attachment cannot be decrypted (damaged or altered)"),
    "attachment_hash_mismatch": N_("the attachment's hash does not match its reference"),
    "attachment_trailing_data": N_("the attachment has extra data after its end"),
    "attachment_truncated": N_("the attachment is incomplete"),
    "federation_error": N_("a request between the two relays failed its checks"),
    "federation_request_malformed": N_("a request between the two relays is malformed"),
    "federation_bad_signature": N_("a request between the two relays is not signed by the peer"),
    "federation_digest_mismatch": N_("a request between the two relays was altered on the way"),
    "federation_clock_skew": N_("the two relays' clocks differ too much; check the clocks"),
    "federation_replayed": N_("a request between the two relays was sent again (replay)"),
    "federation_busy": N_("the relay is busy with the peer's requests; try again later"),
    "federation_misdirected": N_("a request between the two relays was addressed elsewhere"),
    "peer_ack_bad_signature": N_("the peer relay's acknowledgement does not verify"),
    "unknown_peer": N_("the other relay is not a peer of this relay"),
    "bad_home_statement": N_("the agency's home-relay statement cannot be trusted"),
    "peer_misbehaved": N_("the peer relay answered something false; it is not trusted"),
}

# OS errors by errno class: the OS's own text is in the machine's language, often English.
_OS_MESSAGES = {
    errno.ENOENT: N_("file or folder not found"),
    errno.EACCES: N_("permission denied"),
    errno.EPERM: N_("operation not permitted"),
    errno.EEXIST: N_("the file already exists"),
    errno.EISDIR: N_("this is a folder, not a file"),
    errno.ENOTDIR: N_("a part of the path is not a folder"),
    errno.ENOSPC: N_("no space left on the disk"),
    errno.EROFS: N_("the disk is read-only"),
    errno.ECONNREFUSED: N_("the server refused the connection"),
    errno.ECONNRESET: N_("the connection was reset"),
    errno.ETIMEDOUT: N_("the connection timed out"),
    errno.EHOSTUNREACH: N_("the server cannot be reached"),
    errno.ENETUNREACH: N_("the network cannot be reached"),
}
OS_ERROR = N_("system error ({errno})")
WITH_PATH = N_("{reason}: {path}")
PDF_UNAVAILABLE = N_(
    "PDF files cannot be written on this machine: WeasyPrint, its system libraries or the "
    "fonts (DejaVu, Noto Sans CJK) are missing. Install: {install}"
)

# argparse's own words (Python 3.11 argparse.py), so that its help and errors are in our
# catalogues; install_argparse_translation() points argparse at them.
ARGPARSE_MESSAGES = (
    N_("usage: "),
    N_("options"),
    N_("positional arguments"),
    N_("show this help message and exit"),
    N_("show program's version number and exit"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("the following arguments are required: %s"),
    N_("unrecognized arguments: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid %(type)s value: %(value)r"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("expected at least one argument"),
    N_("not allowed with argument %s"),
    N_("one of the arguments %s is required"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("ignored explicit argument %r"),
    N_("unexpected option string: %s"),
    N_("can't open '%(filename)s': %(error)s"),
    N_("unknown parser %(parser_name)r (choices: %(choices)s)"),
)


def crypto_error_text(code: str) -> str:
    """The officer's wording of a crypto error code, in the current language."""
    return _(CRYPTO_MESSAGES.get(code, CRYPTO_MESSAGES["crypto_error"]))


def os_error_reason(exc: OSError) -> str:
    """Why an OS call failed, in the current language, by its errno class (no path)."""
    message = _OS_MESSAGES.get(exc.errno) if exc.errno is not None else None
    return _(message) if message else _(OS_ERROR).format(errno=exc.errno)


def os_error_text(exc: OSError) -> str:
    """An OS error in the current language, by its errno class, with the path it concerns."""
    reason = os_error_reason(exc)
    path = exc.filename
    return _(WITH_PATH).format(reason=reason, path=path) if path else reason


def pdf_unavailable_text(install: str) -> str:
    """PdfUnavailable (code pdf_unavailable) in the current language; `install` is the install
    command line, names only."""
    return _(PDF_UNAVAILABLE).format(install=install)


def _argparse_gettext(message: str) -> str:
    return translations(current_language()).gettext(message)


def _argparse_ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_language()).ngettext(singular, plural, n)


def install_argparse_translation() -> None:
    """Make argparse's own words come from our catalogues in the current language.

    argparse imports `gettext` and `ngettext` as module globals (`_`, `ngettext`) and looks them
    up at each call, in the process-wide "messages" domain; pointing those two names at our
    catalogues is the one change that needs no global gettext state. Idempotent."""
    import argparse

    argparse._ = _argparse_gettext  # type: ignore[attr-defined]
    argparse.ngettext = _argparse_ngettext  # type: ignore[attr-defined]
