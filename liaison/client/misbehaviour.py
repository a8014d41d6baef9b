"""Proof of a lying log: two signed checkpoints that cannot both be true, kept in the home."""

from __future__ import annotations

import time
from pathlib import Path

from liaison.client.errors import LogInconsistent
from liaison.client.home import Home
from liaison.client.records import MisbehaviourProof
from liaison.i18n import _

MISBEHAVIOUR_FILE = "misbehaviour.json"
PROOF_FORMAT = "liaison-log-misbehaviour/1"


class ServerMisbehaved(LogInconsistent):
    """The server signed two checkpoints that no append-only log can have; this home refuses it."""

    code = "server_misbehaved"


def recorded(home: Home) -> Path | None:
    path = home.root / MISBEHAVIOUR_FILE
    return path if path.exists() else None


def refuse_if_recorded(home: Home) -> None:
    """Raise ServerMisbehaved when this home holds a proof of misbehaviour of its server."""
    path = recorded(home)
    if path is not None:
        raise ServerMisbehaved(
            _(
                "This client refuses the server: it signed two conflicting views of its log. "
                "The proof is in {path}; give it to the agency's administrator and the other "
                "country's liaison office."
            ).format(path=path)
        )


def record(
    home: Home,
    *,
    reason: str,
    detail: str,
    first_note: str,
    second_note: str,
    proof: list[str] | None = None,
    now: int | None = None,
) -> ServerMisbehaved:
    """Write the proof (both signed notes and the failing proof) and answer the error to raise.

    `reason` is `same_size_different_root` or `not_consistent`; `detail` is the explanation
    already shown to the officer. The file is never overwritten: the first proof is kept.
    """
    path = home.root / MISBEHAVIOUR_FILE
    if not path.exists():
        settings = home.settings()
        document = MisbehaviourProof(
            format=PROOF_FORMAT,
            reason=reason,
            server=settings.server,
            server_identity=settings.server_identity,
            first_checkpoint=first_note,
            second_checkpoint=second_note,
            consistency_proof=tuple(proof) if proof is not None else None,
            detected_at=int(time.time()) if now is None else now,
        )
        home.write_json(MISBEHAVIOUR_FILE, document.to_json())
    return ServerMisbehaved(
        detail
        + " "
        + _(
            "Both signed checkpoints were written to {path} as proof; this client will not use "
            "that server again."
        ).format(path=path)
    )
