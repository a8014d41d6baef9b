"""The desk's one door to the officer's device: every client call the pages make goes here.

It holds one `OfficerSession` (liaison.client.session, the facade the command line shares)
while the desk is unlocked: the session's home folder keeps the passphrase and the unlocked
device keys, so `lock()` closes the session and drops it, and with it both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from crypto.attachments import AttachmentRef
from crypto.certs import DeviceCertificate
from liaison.client import agency as agency_ops
from liaison.client import cases as case_ops
from liaison.client import directory, officer
from liaison.client import holds as hold_ops
from liaison.client import trust as trust_ops
from liaison.client.cases import CaseBook
from liaison.client.drafts import DraftError, Drafts
from liaison.client.errors import ClientError, PassphraseError, TransportError
from liaison.client.handover_steps import PreparedStep, StepRequest, prepare_step
from liaison.client.home import Home
from liaison.client.outbox import OutboxItem, SendReport, waiting_count
from liaison.client.payload import Payload
from liaison.client.read import OpenedMessage, inbox, read
from liaison.client.records import SendCounter
from liaison.client.review import ReviewedMessage
from liaison.client.send import COUNTER_FILE, SentMessage
from liaison.client.session import OfficerSession
from liaison.client.spool import LEFTOVER_SECONDS, SpooledBlob, spool_folder, sweep
from liaison.client.transport import ApiClient
from liaison.domain.case_events import Action
from liaison.domain.handover import HandoverActionRefused, refusal_for
from liaison.domain.notices import Notice
from liaison.domain.replies import awaiting_reply
from liaison.domain.warnings import SchedulingWarning, warnings_for_proposal
from liaison.i18n import _

Deliver = Callable[[Any, OpenedMessage | ClientError], Awaitable[None]]


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
        self._session: OfficerSession | None = None
        # An agency home without a device (the administrator's desk): its unlocked home.
        self._agency: tuple[Home, ApiClient | None] | None = None
        self._outbox_run = asyncio.Lock()  # one outbox run at a time in this process
        self._sends = 0  # messages this desk delivered (each changes what awaits a reply)

    # --- Lock and unlock --------------------------------------------------------------------
    @property
    def unlocked(self) -> bool:
        return self._session is not None or self._agency is not None

    @property
    def has_device(self) -> bool:
        """An officer's device is activated in this home (inbox, cases, review...)."""
        return self._locked_home.read_bytes(officer.CERTIFICATE_FILE) is not None

    @property
    def is_administrator(self) -> bool:
        """This home holds its agency's root key (certify, revoke)."""
        return self._locked_home.read_bytes(agency_ops.AGENCY_FILE) is not None

    def unlock(self, passphrase: str) -> None:
        """Unlock the device keys with `passphrase` (PassphraseError when it does not); in an
        agency home without a device, the agency root key."""
        if not passphrase:
            raise PassphraseError(_("The passphrase must not be empty."))
        home = Home(self.root, passphrase=lambda confirm: passphrase)
        if not self.has_device and self.is_administrator:
            home.unlock_secret(agency_ops.ROOT_KEY_FILE)
            url = self._server or home.settings().server
            self._agency = (home, ApiClient(url) if url else None)
            return
        session = OfficerSession(home, ApiClient(home.server_url(self._server)))
        session.unlock()
        self._session = session
        sweep(spool_folder(home), older_than=LEFTOVER_SECONDS)

    async def lock(self) -> None:
        """Forget the unlocked keys and the passphrase (their only references are dropped)."""
        session, self._session = self._session, None
        agency, self._agency = self._agency, None
        if session is not None:
            await session.close()
        if agency is not None and agency[1] is not None:
            await agency[1].close()

    def _open(self) -> OfficerSession:
        if self._session is None:
            raise DeskLocked(_("The desk is locked: unlock it with your passphrase."))
        return self._session

    # --- The device -------------------------------------------------------------------------
    @property
    def certificate(self) -> DeviceCertificate:
        return officer.own_certificate(self._locked_home)

    @property
    def is_supervisor(self) -> bool:
        return self.certificate.role == "supervisor"

    def received_records(self) -> list[Any]:
        """The cached received messages, in log order (metadata, still encrypted)."""
        return list(inbox(self._locked_home))

    def message_record(self, message_id: str) -> Any:
        return self._locked_home.find_message(message_id)

    def seen(self) -> set[str]:
        """Messages this officer has opened on the desk (ids only, no content)."""
        value = self._locked_home.read_json("desk/seen.json", [])
        return {str(v) for v in value} if isinstance(value, list) else set()

    def mark_seen(self, message_ids: set[str]) -> None:
        self._locked_home.write_json("desk/seen.json", sorted(message_ids))

    def sent_version(self) -> tuple[int, int]:
        """Changes whenever this home sends: the desk's own sends, counted once delivered (the
        sealed local copy kept), and the envelope counter that any program sending from this
        home (the command line too) advances before its envelope leaves."""
        counter = SendCounter.from_json(self._locked_home.read_json(COUNTER_FILE)).counter
        return self._sends, counter

    def _sent(self, count: int = 1) -> None:
        self._sends += count

    # --- Messages ---------------------------------------------------------------------------
    async def send_text(self, addresses: Sequence[str], text: str) -> SentMessage:
        sent = await self._open().send(addresses, Payload.text(text))
        self._sent()
        return sent

    async def spool(
        self, chunks: AsyncIterable[bytes], *, name: str, media_type: str | None = None
    ) -> SpooledBlob:
        """A file from the browser, encrypted as it arrives into the home's spool (only its
        blob is written; its key is in the returned reference)."""
        return await self._open().spool(chunks, name=name, media_type=media_type)

    def drafts(self) -> Drafts:
        """The encrypted drafts in the home folder (they open only while unlocked)."""
        session = self._open()
        return Drafts(session.home, session.unlock())

    def draft_files(self, name: str) -> list[SpooledBlob]:
        """The files kept with draft `name`, as new names in the spool (hard links or copies:
        the draft stays whole until what is sent from it has gone); none for no such draft."""
        if not name:
            return []
        session = self._open()
        try:
            draft = Drafts(session.home, session.unlock()).load(name)
        except DraftError:
            return []
        return [blob.copy_to(spool_folder(session.home)) for blob in draft.blobs]

    async def attachment(
        self, message_id: str, index: int
    ) -> tuple[AttachmentRef, AsyncGenerator[bytes, None]]:
        """Attachment `index` of a received message: its reference and its plaintext as it is
        downloaded, decrypted and verified (the last piece only once the whole blob checked
        out, else the stream raises its AttachmentError). Nothing is written to disk."""
        try:
            return await self._open().attachment_stream(message_id, index)
        except IndexError:
            raise ClientError(
                _("The message has no such attachment."), code="no_such_attachment"
            ) from None

    async def send_notice(self, notice: Notice, addresses: Sequence[str]) -> SentMessage:
        sent, _event = await self._open().send_notice(notice, addresses)
        self._sent()
        return sent

    # --- The outbox (poor connectivity) -----------------------------------------------------
    def outbox_count(self) -> int:
        """Items waiting in the outbox (no decryption: works while locked)."""
        return waiting_count(self._locked_home)

    def outbox_items(self) -> list[OutboxItem]:
        return self._open().outbox().items()

    async def send_outbox(self) -> SendReport:
        """Send the waiting items in order (one run at a time; another program's run is
        reported as busy)."""
        async with self._outbox_run:
            report = await self._open().send_outbox()
        self._sent(len(report.sent))
        return report

    async def send_or_queue(
        self,
        addresses: Sequence[str],
        *,
        text: str | None = None,
        notice: Notice | None = None,
        blobs: Sequence[SpooledBlob] = (),
    ) -> tuple[SentMessage | None, OutboxItem, SendReport]:
        """Through the outbox: sent now when the relay answers (the SentMessage), else kept
        waiting (None). `blobs` are the spooled files (they move into the outbox). A refusal
        of this very message (no such recipient…) takes it back out of the outbox (its blobs
        deleted) and is raised, as a direct send would."""
        session = self._open()
        payload = Payload.text(text) if text is not None else None
        async with self._outbox_run:
            item, report = await session.send_or_queue(
                addresses, payload, notice=notice, blobs=blobs
            )
        self._sent(len(report.sent))
        sent = next((s for i, s in report.sent if i.name == item.name), None)
        if sent is None and report.error is not None and report.stopped_at is not None:
            if report.stopped_at.name == item.name:
                session.outbox().delete(item.item_id)
                raise report.error
        return sent, item, report

    def retry_outbox_item(self, item_id: str) -> None:
        self._open().outbox().retry(item_id)

    def delete_outbox_item(self, item_id: str) -> None:
        self._open().outbox().delete(item_id)

    async def open(self, message_id: str, *, mark_read: bool = True) -> OpenedMessage:
        """Open a received message with full verification (RefusedEnvelope says what failed)."""
        return await self._open().read(message_id)

    async def open_batch(self, message_ids: Sequence[str]) -> list[OpenedMessage | ClientError]:
        """Open several messages, each sender verified once for the batch (for the inbox)."""
        session = self._open()
        lookups = directory.Lookups(session.home, session.api, session.now())
        out: list[OpenedMessage | ClientError] = []
        for message_id in message_ids:
            try:
                out.append(
                    await read(
                        session.home,
                        session.api,
                        message_id,
                        keys=session.unlock(),
                        mark_read=False,
                        lookups=lookups,
                    )
                )
            except ClientError as exc:
                out.append(exc)
        return out

    async def acknowledge(self, message_id: str) -> dict[str, Any]:
        return await self._open().acknowledge(message_id)

    async def forward(self, message_id: str, addresses: Sequence[str]) -> SentMessage:
        """Pass a received notice on; H2 raises HandlingRestricted before anything is sealed."""
        _notice, sent = await self._open().forward(message_id, addresses)
        self._sent()
        return sent

    async def watch(
        self,
        deliver: Deliver,
        *,
        on_ready: Callable[[], None] | None = None,
        on_retry: Callable[[float, ClientError], None] | None = None,
        on_reconnect: Callable[[], None] | None = None,
    ) -> None:
        """Keep the push channel to the relay open and deliver each new message, opened."""
        await self._open().watch(
            deliver, on_ready=on_ready, on_retry=on_retry, on_reconnect=on_reconnect
        )

    # --- Cases and handovers ----------------------------------------------------------------
    async def case_book(self) -> CaseBook:
        """Every case this device can derive (after a sync), its notices opened once."""
        return await self._open().case_book()

    async def awaiting_reply(self) -> frozenset[str]:
        """The received notices that await this agency's reply (liaison.domain.replies); from
        the notices this device holds when the relay cannot be reached."""
        session = self._open()
        try:
            book = await session.case_book()
        except TransportError:
            book = await case_ops.load_book(session.home, None, keys=session.unlock())
        return awaiting_reply(book.events, book.cases.values(), agency=book.agency)

    async def proposal_warnings(self, notice: Notice) -> list[SchedulingWarning]:
        """What an officer should know before proposing this handover (gate hours, clashes
        with other handovers of the escorts, an unverified case)."""
        book = await self.case_book()
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
        book = await self.case_book()
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
        book = await self.case_book()
        handover = book.handover(handover_id)
        reason = refusal_for(handover, Action.RECORD, book.side)
        return HandoverActionRefused(reason) if reason is not None else None

    async def handover_step(
        self, request: StepRequest, *, send: bool
    ) -> tuple[PreparedStep, SentMessage | None]:
        """Build (and with `send`, send) the notice of one handover step: accept, counter,
        reschedule, cancel or countersign. The warnings come back before sending; a step the
        handover's state does not allow is refused (HandoverActionRefused) before anything is
        sealed, bad input too (ClientError, NoticeError)."""
        session = self._open()
        book = await session.case_book()
        now = session.now()
        prepared = prepare_step(request, book, session.unlock(), now)
        if not send:
            return prepared, None
        sent, _event = await session.send_notice(prepared.notice, prepared.addresses, now=now)
        self._sent()
        return prepared, sent

    # --- Agency administration (a home holding the agency root) ------------------------------
    def _agency_home(self) -> tuple[Home, ApiClient | None]:
        if self._agency is not None:
            return self._agency
        session = self._open()
        return session.home, session.api

    def _relay(self) -> tuple[Home, ApiClient]:
        home, api = self._agency_home()
        if api is None:
            raise ClientError(
                _("No server is configured in this home folder: give --server URL."),
                code="no_server",
            )
        return home, api

    def agency(self) -> dict[str, Any]:
        """The agency record of this home (code, names, certificates issued)."""
        home, _api = self._agency_home()
        return agency_ops.load_agency(home)

    def agency_fingerprint(self) -> agency_ops.Fingerprint:
        """The agency root's fingerprint, to read aloud."""
        home, _api = self._agency_home()
        return agency_ops.agency_fingerprint(home)

    async def agency_devices(self) -> tuple[list[agency_ops.AgencyDevice], bool]:
        """The devices the agency certified, checked on the relay when it answers; the flag
        says whether it did (else the statuses are as this home recorded them)."""
        home, api = self._agency_home()
        if api is not None:
            try:
                return await agency_ops.agency_devices(home, api), True
            except TransportError:
                pass
        return agency_ops.issued_devices(home), False

    def issued_devices(self) -> list[agency_ops.AgencyDevice]:
        """The devices the agency certified, as this home recorded them (no relay asked)."""
        home, _api = self._agency_home()
        return agency_ops.issued_devices(home)

    def certify(self, request: bytes, *, role: str, days: int) -> bytes:
        """Issue the certificate file for a device request."""
        home, _api = self._agency_home()
        return agency_ops.certify(home, request, role=role, days=days)

    def certificate_file(self, device_id: str) -> bytes:
        """The certificate file of a device this agency certified, to hand over again."""
        home, _api = self._agency_home()
        return agency_ops.certificate_file(home, device_id)

    async def revoke(self, device_id: str, reason: str) -> dict[str, Any]:
        home, api = self._relay()
        return await agency_ops.revoke(home, api, device_id, reason=reason)

    # --- Trust: pinned agency roots ---------------------------------------------------------
    def pins(self) -> list[dict[str, Any]]:
        """The agency roots this device trusts, with their fingerprints and how they were pinned."""
        return trust_ops.list_pins(self._locked_home)

    async def pin(self, agency: str, fingerprint: str) -> dict[str, Any]:
        """Pin `agency`'s root if the relay's matches `fingerprint` and its registration is in
        the signed log (VerificationError otherwise: nothing is pinned)."""
        session = self._open()
        return await trust_ops.add(session.home, session.api, agency, fingerprint)

    # --- Legal holds (a supervisor's device) -------------------------------------------------
    @property
    def has_case_secret(self) -> bool:
        """The agency case secret that names cases to the relay is on this device."""
        return hold_ops.has_case_secret(self._locked_home)

    async def holds(self) -> list[dict[str, Any]]:
        """The agency's active holds, with the case references this device noted."""
        return await self._open().holds()

    async def place_hold(self, case_ref: str, reason: str) -> dict[str, Any]:
        """Hold a case past retention; the reason and the case reference stay here."""
        return await self._open().place_hold(case_ref, reason)

    async def release_hold(self, case_ref: str) -> dict[str, Any]:
        return await self._open().release_hold(case_ref)

    # --- Supervisor review and the audit log ------------------------------------------------
    async def review_traffic(self) -> list[dict[str, Any]]:
        """The agency's traffic, metadata only (a supervisor's device)."""
        return await self._open().review_traffic()

    async def review(self, message_id: str, reason: str) -> ReviewedMessage:
        """Open an agency message as its supervisor: the relay logs the review (with the
        reason's commitment) first, the record is verified, then the message is decrypted."""
        return await self._open().review(message_id, reason)

    async def audit_log(self) -> list[dict[str, Any]]:
        """The log records the relay shows this device, each checked against a checkpoint."""
        return await self._open().audit_log()


__all__ = ["DeskLocked", "DeskOfficer"]
