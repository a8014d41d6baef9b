"""The desk's one door to the officer's device: every client call the pages make goes here.

Today it is built on the client modules (messages, notices, cases); once the officer-session
facade (`liaison.client.session.OfficerSession`) lands, only this module changes. The unlocked
device keys and the passphrase live in this object alone, and `lock()` drops both.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crypto.certs import DeviceCertificate
from crypto.keys import DeviceKeys
from liaison.client import cases as case_ops
from liaison.client import directory, officer
from liaison.client import messages as message_ops
from liaison.client import notices as notice_ops
from liaison.client import review as review_ops
from liaison.client import trust as trust_ops
from liaison.client.cases import CaseBook
from liaison.client.errors import ClientError, PassphraseError
from liaison.client.home import Home
from liaison.client.messages import OpenedMessage, SentMessage
from liaison.client.payload import Payload
from liaison.client.review import ReviewedMessage
from liaison.client.transport import ApiClient
from liaison.domain.case_events import Action
from liaison.domain.handover import HandoverActionRefused, refusal_for
from liaison.domain.notices import Notice
from liaison.domain.warnings import SchedulingWarning, warnings_for_proposal
from liaison.i18n import _

if TYPE_CHECKING:
    from liaison.cli.handover import PreparedStep

Deliver = Callable[[dict[str, Any], OpenedMessage | ClientError], Awaitable[None]]


class DeskLocked(ClientError):
    """The desk is locked (never unlocked, or locked after idle time): unlock it first."""

    code = "desk_locked"


def _locked_passphrase(confirm: bool) -> str:
    raise DeskLocked(_("The desk is locked: unlock it with your passphrase."))


class DeskOfficer:
    """The officer's device as the desk sees it: unlocked once, locked on demand."""

    def __init__(self, root: Path, *, server: str | None = None) -> None:
        self.root = Path(root)
        self._server = server
        # A home that can read certificates and the cache but never unlock a keystore.
        self._locked_home = Home(self.root, passphrase=_locked_passphrase)
        self._home: Home | None = None
        self._keys: DeviceKeys | None = None
        self._api: ApiClient | None = None

    # --- Lock and unlock --------------------------------------------------------------------
    @property
    def unlocked(self) -> bool:
        return self._keys is not None

    def unlock(self, passphrase: str) -> None:
        """Unlock the device keys with `passphrase` (PassphraseError when it does not)."""
        if not passphrase:
            raise PassphraseError(_("The passphrase must not be empty."))
        # Today's client re-reads the keystore for some calls (send, sign-in), so the home keeps
        # the passphrase while unlocked; the facade's `unlock()` makes that unnecessary.
        home = Home(self.root, passphrase=lambda confirm: passphrase)
        keys = officer.device_keys(home)
        self._api = ApiClient(home.server_url(self._server))
        self._home, self._keys = home, keys

    async def lock(self) -> None:
        """Forget the unlocked keys and the passphrase (their only references are dropped)."""
        api, self._api = self._api, None
        self._home = None
        self._keys = None
        if api is not None:
            await api.close()

    def _session(self) -> tuple[Home, ApiClient, DeviceKeys]:
        if self._home is None or self._api is None or self._keys is None:
            raise DeskLocked(_("The desk is locked: unlock it with your passphrase."))
        return self._home, self._api, self._keys

    # --- The device -------------------------------------------------------------------------
    @property
    def certificate(self) -> DeviceCertificate:
        return officer.own_certificate(self._locked_home)

    def received_records(self) -> list[dict[str, Any]]:
        """The cached received messages, in log order (metadata, still encrypted)."""
        return message_ops.inbox(self._locked_home)

    def message_record(self, message_id: str) -> dict[str, Any]:
        return self._locked_home.find_message(message_id)

    def seen(self) -> set[str]:
        """Messages this officer has opened on the desk (ids only, no content)."""
        value = self._locked_home.read_json("desk/seen.json", [])
        return {str(v) for v in value} if isinstance(value, list) else set()

    def mark_seen(self, message_ids: set[str]) -> None:
        self._locked_home.write_json("desk/seen.json", sorted(message_ids))

    # --- Messages ---------------------------------------------------------------------------
    async def send_text(self, addresses: Sequence[str], text: str) -> SentMessage:
        home, api, _keys = self._session()
        return await message_ops.send(home, api, addresses, Payload.text(text))

    async def send_notice(self, notice: Notice, addresses: Sequence[str]) -> SentMessage:
        home, api, _keys = self._session()
        sent, _event = await case_ops.send_notice(home, api, notice, addresses)
        return sent

    async def open(self, message_id: str, *, mark_read: bool = True) -> OpenedMessage:
        """Open a received message with full verification (RefusedEnvelope says what failed)."""
        home, api, keys = self._session()
        return await message_ops.read(home, api, message_id, keys=keys, mark_read=mark_read)

    async def open_batch(self, message_ids: Sequence[str]) -> list[OpenedMessage | ClientError]:
        """Open several messages, each sender verified once for the batch (for the inbox)."""
        home, api, keys = self._session()
        lookups = directory.Lookups(home, api, int(time.time()))
        out: list[OpenedMessage | ClientError] = []
        for message_id in message_ids:
            try:
                out.append(
                    await message_ops.read(
                        home, api, message_id, keys=keys, mark_read=False, lookups=lookups
                    )
                )
            except ClientError as exc:
                out.append(exc)
        return out

    async def acknowledge(self, message_id: str) -> dict[str, Any]:
        home, api, _keys = self._session()
        return await message_ops.ack(home, api, message_id)

    async def forward(self, message_id: str, addresses: Sequence[str]) -> SentMessage:
        """Pass a received notice on; H2 raises HandlingRestricted before anything is sealed."""
        home, api, _keys = self._session()
        _notice, sent = await notice_ops.forward(home, api, message_id, addresses)
        return sent

    async def case_book(self) -> CaseBook:
        """Every case this device can derive (after a sync), its notices opened once."""
        home, api, keys = self._session()
        return await case_ops.load_book(home, api, keys=keys)

    async def proposal_warnings(self, notice: Notice) -> list[SchedulingWarning]:
        """What an officer should know before proposing this handover (gate hours, clashes
        with other handovers of the escorts, an unverified case)."""
        home, api, keys = self._session()
        book = await case_ops.load_book(home, api, keys=keys)
        return warnings_for_proposal(
            notice.fields,
            case_ref=notice.case_ref,
            cases=book.cases,
            now=int(time.time()),
            sender_agency=book.agency,
        )

    async def record_start(self, handover_id: str) -> dict[str, str]:
        """Form values a handover record starts with: the handover it closes, its case, the
        other side's agency and reference."""
        home, api, keys = self._session()
        book = await case_ops.load_book(home, api, keys=keys)
        handover = book.handover(handover_id)
        values = {"fields.in_reply_to": handover.handover_id, "header.case_ref": handover.case_ref}
        proposal = book.event(handover.handover_id)
        if proposal is not None:
            if proposal.sender_agency != book.agency:
                values["header.recipient_unit"] = proposal.sender_agency
                values["header.their_ref"] = str(proposal.header.get("our_ref", ""))
            else:
                values["header.recipient_unit"] = str(proposal.header.get("recipient_unit", ""))
        return values

    async def record_refusal(self, handover_id: str) -> HandoverActionRefused | None:
        """Why this side may not record the handover now (cancelled, not confirmed…), or None."""
        home, api, keys = self._session()
        book = await case_ops.load_book(home, api, keys=keys)
        handover = book.handover(handover_id)
        reason = refusal_for(handover, Action.RECORD, book.side)
        return HandoverActionRefused(reason) if reason is not None else None

    # --- Trust: pinned agency roots ---------------------------------------------------------
    def pins(self) -> list[dict[str, Any]]:
        """The agency roots this device trusts, with their fingerprints and how they were pinned."""
        return trust_ops.list_pins(self._locked_home)

    async def pin(self, agency: str, fingerprint: str) -> dict[str, Any]:
        """Pin `agency`'s root if the relay's matches `fingerprint` and its registration is in
        the signed log (VerificationError otherwise: nothing is pinned)."""
        home, api, _keys = self._session()
        return await trust_ops.add(home, api, agency, fingerprint)

    # --- Supervisor review and the audit log -----------------------------------------------
    @property
    def is_supervisor(self) -> bool:
        return self.certificate.role == "supervisor"

    async def review_traffic(self) -> list[dict[str, Any]]:
        """The agency's traffic, metadata only (a supervisor's device)."""
        home, api, _keys = self._session()
        return await review_ops.list_traffic(home, api)

    async def review(self, message_id: str, reason: str) -> ReviewedMessage:
        """Open an agency message as its supervisor: the relay logs the review (with the
        reason's commitment) first, the record is verified, then the message is decrypted."""
        home, api, _keys = self._session()
        return await review_ops.read(home, api, message_id, reason)

    async def audit_log(self) -> list[dict[str, Any]]:
        """The log records the relay shows this device, each checked against a checkpoint."""
        home, api, _keys = self._session()
        return await review_ops.audit_log(home, api)

    async def handover_step(
        self, step: str, options: Mapping[str, Any], *, send: bool
    ) -> tuple[PreparedStep, SentMessage | None]:
        """Build (and with `send`, send) the notice of one handover step: propose, accept,
        counter, reschedule, cancel or countersign. The warnings come back before sending;
        a step the handover's state does not allow is refused before anything is sealed.

        The step builder lives in the command line today (`liaison.cli.handover`); the
        facade's handover operations replace this call."""
        from liaison.cli.handover import prepare_step

        home, api, keys = self._session()
        book = await case_ops.load_book(home, api, keys=keys)
        now = int(time.time())
        args = argparse.Namespace(
            step=step,
            handover=options.get("handover"),
            case=options.get("case"),
            to=options.get("to"),
            at=options.get("at"),
            tz=options.get("tz") or None,
            place=options.get("place"),
            persons=options.get("persons", "1"),
            escort=list(options.get("escort", [])),
            vehicle=options.get("vehicle"),
            reception=list(options.get("reception", [])),
            reason_code=options.get("reason_code"),
            reason=options.get("reason"),
            handling=options.get("handling", "H1"),
            copy=[],
            record=None,
        )
        prepared = prepare_step(args, book, keys, now)
        if not send:
            return prepared, None
        sent, _event = await case_ops.send_notice(
            home, api, prepared.notice, prepared.addresses, now=now
        )
        return prepared, sent

    async def watch(self, deliver: Deliver, *, on_ready: Callable[[], None] | None = None) -> None:
        """Keep the push channel to the relay open and deliver each new message, opened."""
        home, api, _keys = self._session()
        await message_ops.watch(home, api, deliver, on_ready=on_ready)


__all__ = ["DeskLocked", "DeskOfficer"]
