"""Words for the stable keys the client and the relay store (inbox status, how a root key was
pinned, audit-log entry kinds): the keys stay in the data and in --json, the officer reads these.
"""

from __future__ import annotations

from liaison.i18n import N_, _

# Inbox status of a message record (liaison/client/messages.py).
INBOX_STATUS = {
    "new": N_("new"),
    "read": N_("read"),
    "sent": N_("sent"),
    "refused": N_("refused"),
    "unverified": N_("unverified"),
}
# How an agency's root key was pinned (liaison/client/directory.py `how`).
TRUST_HOW = {
    "own-agency": N_("own agency"),
    "enrolment": N_("at enrolment"),
    "in-person": N_("compared in person"),
}
# Kinds of the relay's audit-log entries (PROTOCOL.md, server/openapi.py LogEntry).
AUDIT_KINDS = {
    "agency": N_("agency registered"),
    "review_key": N_("supervisor review key"),
    "certificate": N_("certificate"),
    "revocation": N_("revocation"),
    "envelope": N_("message"),
    "ack": N_("acknowledgement of receipt"),
    "review_key_wrap": N_("supervisor review key handed over"),
    "review": N_("supervisor review"),
    "review_refused": N_("supervisor review refused"),
    "review_refusals_counted": N_("refused supervisor reviews counted"),
    "retention": N_("retention period"),
    "hold": N_("legal hold"),
    "hold_release": N_("legal hold released"),
    "purge": N_("expired ciphertext deleted"),
    "home": N_("agency home relay"),
    "peer": N_("peer relay"),
    "forwarded_out": N_("message forwarded to the peer relay"),
    "forwarded_in": N_("message received from the peer relay"),
    "peer_ack": N_("receipt from the peer relay"),
    "peer_review": N_("supervisor review on the peer relay"),
}


def _word(table: dict[str, str], key: str | None) -> str:
    # An unknown key (a newer relay) is shown as it is: a code, not a sentence.
    if key is None:
        return ""
    return _(table[key]) if key in table else key


def inbox_status(key: str | None) -> str:
    return _word(INBOX_STATUS, key)


def trust_how(key: str | None) -> str:
    return _word(TRUST_HOW, key)


def audit_kind(key: str | None) -> str:
    return _word(AUDIT_KINDS, key)
