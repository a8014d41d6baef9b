"""One officer's device, opened once: the facade the command line and the officer desk share.

An `OfficerSession` holds the home folder, one connection to the relay and the device keys,
unlocked on first use and kept for the session (one passphrase prompt, one Argon2id run). Every
operation is `async`, returns typed values and prints nothing; refusals are `ClientError`s
(`liaison.client.errors`), crypto failures `CryptoError`s, invalid notices `NoticeError`s.

    async with OfficerSession.open(home_folder) as session:
        sent = await session.send(["CN-GX-DXGA"], Payload.text("..."))
        for record in await session.sync():
            message = await session.read(record.message_id)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from crypto.attachments import AttachmentRef
from crypto.certs import DeviceCertificate
from crypto.keys import DeviceKeys
from liaison.client import cases as case_ops
from liaison.client import holds as hold_ops
from liaison.client import notices as notice_ops
from liaison.client import officer
from liaison.client import review as review_ops
from liaison.client.attachments import (
    BlobSource,
    ProgressCallback,
    download_attachment,
    open_attachment,
    prepare_file,
    upload_signed_in,
)
from liaison.client.cases import CaseBook
from liaison.client.errors import BadInput, ClientError
from liaison.client.home import Home, PassphraseSource, default_home
from liaison.client.notices import SearchResult
from liaison.client.outbox import Outbox, OutboxItem, SendReport, send_waiting, summary_of
from liaison.client.payload import Payload
from liaison.client.read import OpenedMessage, ack, inbox, read
from liaison.client.records import MessageRecord
from liaison.client.review import ReviewedMessage
from liaison.client.send import SentMessage, send
from liaison.client.spool import SpooledBlob, discard, spool_file, spool_folder, spool_stream
from liaison.client.sync import sync
from liaison.client.transport import ApiClient
from liaison.client.watch import Backoff, Deliver, Retry, watch
from liaison.domain.agenda import Agenda, build_agenda
from liaison.domain.case_events import LoggedNotice
from liaison.domain.notices import Notice
from liaison.i18n import _

Clock = Callable[[], int]


# The progress callback of one file's transfer, given the file's name (None: no progress).
TransferProgress = Callable[[str], ProgressCallback | None]


def _system_clock() -> int:
    return int(time.time())


class OfficerSession:
    """An officer's device: send, sync, read, acknowledge, notices, cases, holds, review."""

    def __init__(self, home: Home, api: ApiClient | None, *, clock: Clock = _system_clock) -> None:
        self.home = home
        self._api = api
        self._clock = clock
        self._keys: DeviceKeys | None = None

    @classmethod
    def open(
        cls,
        home: Home | Path | None = None,
        *,
        server: str | None = None,
        offline: bool = False,
        passphrase: PassphraseSource | None = None,
        clock: Clock = _system_clock,
    ) -> OfficerSession:
        """A session on `home` (a folder, default `$LIAISON_HOME` or ~/.liaison) with the relay
        of `server`, else the one the home folder records; `offline` opens no connection (the
        operations that need the relay then refuse)."""
        if not isinstance(home, Home):
            home = Home(home or default_home(), passphrase=passphrase)
        api = None if offline else ApiClient(home.server_url(server))
        return cls(home, api, clock=clock)

    async def __aenter__(self) -> OfficerSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._api is not None:
            await self._api.close()

    # --- The device -------------------------------------------------------------------------
    @property
    def offline(self) -> bool:
        return self._api is None

    @property
    def api(self) -> ApiClient:
        if self._api is None:
            raise ClientError(_("This needs the server: leave out --offline."), code="offline")
        return self._api

    @property
    def certificate(self) -> DeviceCertificate:
        """This device's certificate (agency, officer id, device id, role)."""
        return officer.own_certificate(self.home)

    def unlock(self) -> DeviceKeys:
        """The device keys, unlocked once for the whole session."""
        if self._keys is None:
            self._keys = officer.device_keys(self.home)
        return self._keys

    def now(self) -> int:
        return self._clock()

    # --- Messages ---------------------------------------------------------------------------
    async def send(
        self,
        addresses: Sequence[str],
        payload: Payload,
        *,
        files: Sequence[Path | SpooledBlob] = (),
        progress: TransferProgress | None = None,
    ) -> SentMessage:
        """Seal `payload` to the addressed officers (`CODE` or `CODE/OFFICER`) and upload it;
        `files` are uploaded first and travel as the payload's attachments: a path is
        encrypted as it is uploaded (one pass), a spooled blob is uploaded as it is.
        `progress(name)` gives the callback of each file's transfer."""
        if files:
            refs = [await self.upload_file(path, progress=progress) for path in files]
            payload = dataclasses.replace(payload, attachments=(*payload.attachments, *refs))
        return await send(
            self.home, self.api, addresses, payload, keys=self.unlock(), now=self.now()
        )

    # --- The outbox (poor connectivity) -----------------------------------------------------
    def outbox(self) -> Outbox:
        """This device's encrypted outbox (liaison/client/outbox.py)."""
        return Outbox(self.home, self.unlock())

    def queue(
        self,
        addresses: Sequence[str],
        payload: Payload,
        *,
        summary: str | None = None,
        blobs: Sequence[SpooledBlob] = (),
    ) -> OutboxItem:
        """Keep a composed message in the outbox, to send in order when the relay answers;
        `blobs` (spooled attachments, ciphertext) move into the outbox with it."""
        return self.outbox().add(
            addresses,
            payload,
            summary=summary_of(payload) if summary is None else summary,
            now=self.now(),
            blobs=blobs,
        )

    def queue_notice(
        self, notice: Notice, addresses: Sequence[str], *, blobs: Sequence[SpooledBlob] = ()
    ) -> OutboxItem:
        """Keep a checked notice in the outbox (its addressing checked now, as on sending)."""
        notice_ops.check_addressing(notice, self.certificate.agency, addresses)
        summary = " ".join(x for x in (notice.type, str(notice.case_ref or "")) if x)
        return self.queue(
            addresses, notice_ops.notice_payload(notice), summary=summary, blobs=blobs
        )

    async def spool(
        self, chunks: AsyncIterable[bytes], *, name: str, media_type: str | None = None
    ) -> SpooledBlob:
        """Encrypt a file's bytes as they arrive into the home's spool (ciphertext only; the
        file key is in the returned reference): for `send(files=…)` or `queue(blobs=…)`."""
        return await spool_stream(spool_folder(self.home), chunks, name=name, media_type=media_type)

    async def send_outbox(self) -> SendReport:
        """Send the outbox's waiting items in order (see `outbox.send_waiting`)."""
        return await send_waiting(self.home, self.api, self.unlock(), clock=self.now)

    async def send_or_queue(
        self,
        addresses: Sequence[str],
        payload: Payload | None = None,
        *,
        summary: str | None = None,
        notice: Notice | None = None,
        blobs: Sequence[SpooledBlob] = (),
        files: Sequence[Path] = (),
    ) -> tuple[OutboxItem, SendReport]:
        """Queue the message (or checked `notice`) behind any waiting item and send the
        outbox: sent now when the relay answers, else kept waiting (never sent twice: the
        outbox runs it). `blobs` are its spooled attachments, `files` the officer's own files
        (encrypted into the spool now); both are uploaded before the envelope."""
        spooled = [await spool_file(spool_folder(self.home), path) for path in files]
        try:
            attached = (*blobs, *spooled)
            if notice is not None:
                item = self.queue_notice(notice, addresses, blobs=attached)
            else:
                assert payload is not None
                item = self.queue(addresses, payload, summary=summary, blobs=attached)
        finally:
            discard(spooled)  # moved into the outbox, unless the message was refused
        if self.offline:
            return item, SendReport(waiting=len(self.outbox().items()), unreachable=True)
        return item, await self.send_outbox()

    async def upload_file(
        self, file: Path | SpooledBlob, *, progress: TransferProgress | None = None
    ) -> AttachmentRef:
        """Upload one file (resuming after drops): a path encrypted as it goes, or a spooled
        blob as it is; its reference for a payload."""
        source: BlobSource
        if isinstance(file, SpooledBlob):
            source, name = file, file.reference.name
        else:
            outgoing = await prepare_file(file)
            source, name = outgoing, outgoing.name
        report = None if progress is None else progress(name)
        return await upload_signed_in(self.home, self.api, source, progress=report)

    async def attachment_stream(
        self, message_id: str, index: int
    ) -> tuple[AttachmentRef, AsyncGenerator[bytes, None]]:
        """Attachment `index` of a received message and its verified plaintext as it is
        downloaded and decrypted (`attachments.decrypt_stream`: nothing written anywhere).
        IndexError when the message has no such attachment."""
        refs = (await self.read(message_id)).payload.attachments
        if not 0 <= index < len(refs):
            raise IndexError(index)
        ref = refs[index]
        await officer.authenticate(self.home, self.api)
        return ref, open_attachment(self.api, ref, reauthenticate=self._sign_in_again)

    async def _sign_in_again(self) -> None:
        """A new token after the relay refused the one held (it expired during a transfer)."""
        officer.forget_token(self.home)
        await officer.authenticate(self.home, self.api)

    async def save_attachments(
        self, message_id: str, directory: Path, *, progress: TransferProgress | None = None
    ) -> list[Path]:
        """Download, verify and decrypt every attachment of a received message into
        `directory` (made if missing; existing files are never replaced); the paths written."""
        opened = await self.read(message_id)
        directory = Path(directory)
        if opened.payload.attachments:
            directory.mkdir(parents=True, exist_ok=True)
        saved = []
        for ref in opened.payload.attachments:
            report = None if progress is None else progress(ref.name)
            saved.append(
                await officer.authenticated(
                    self.home,
                    self.api,
                    lambda ref=ref, report=report: download_attachment(  # type: ignore[misc]
                        self.api,
                        ref,
                        directory,
                        progress=report,
                        reauthenticate=self._sign_in_again,
                    ),
                )
            )
        return saved

    async def sync(self) -> list[MessageRecord]:
        """Fetch new envelopes into the encrypted cache; the new records (nothing decrypted)."""
        return await sync(self.home, self.api, now=self.now())

    def inbox(self, *, include_acknowledged: bool = True) -> list[MessageRecord]:
        """Received messages in the cache, in log order (metadata only)."""
        return inbox(self.home, include_acknowledged=include_acknowledged)

    async def read(self, message_id: str) -> OpenedMessage:
        """Open one received message (syncing first when it is not cached yet)."""
        try:
            self.home.find_message(message_id)
        except ClientError:
            await self.sync()
        return await read(self.home, self.api, message_id, keys=self.unlock(), now=self.now())

    async def acknowledge(self, message_id: str) -> dict[str, Any]:
        """Tell the relay (and its log) that this device received the message."""
        return await ack(self.home, self.api, message_id)

    async def watch(
        self,
        deliver: Deliver,
        *,
        count: int | None = None,
        on_ready: Callable[[], None] | None = None,
        on_retry: Retry | None = None,
        on_reconnect: Callable[[], None] | None = None,
        backoff: Backoff | None = None,
    ) -> int:
        """Deliver each new message as the relay announces it; see `liaison.client.watch`."""
        self.unlock()  # before waiting, not when the first message arrives
        return await watch(
            self.home,
            self.api,
            deliver,
            count=count,
            on_ready=on_ready,
            on_retry=on_retry,
            on_reconnect=on_reconnect,
            backoff=backoff,
        )

    # --- Notices ----------------------------------------------------------------------------
    async def send_notice(
        self, notice: Notice, addresses: Sequence[str], *, now: int | None = None
    ) -> tuple[SentMessage, LoggedNotice]:
        """Send a checked notice; its case tag and sealed local copy are kept on the way.
        `now` is the send time when the caller checked the notice against a moment."""
        return await case_ops.send_notice(
            self.home,
            self.api,
            notice,
            addresses,
            now=self.now() if now is None else now,
            keys=self.unlock(),
        )

    async def read_notice(self, message_id: str) -> tuple[OpenedMessage, Notice]:
        """Open a received notice (syncing first when it is not cached yet)."""
        return await notice_ops.read_notice(self.home, self.api, message_id, now=self.now())

    async def forward(
        self, message_id: str, addresses: Sequence[str]
    ) -> tuple[Notice, SentMessage]:
        """Re-send a received notice's content as a new notice from this officer."""
        return await notice_ops.forward(self.home, self.api, message_id, addresses, now=self.now())

    async def search(
        self,
        query: str,
        *,
        include_acknowledged: bool = True,
        on_error: Callable[[str, str], None] | None = None,
    ) -> SearchResult:
        """Received messages whose decrypted content matches `query` (no plaintext index)."""
        return await notice_ops.search(
            self.home,
            self.api,
            query,
            include_acknowledged=include_acknowledged,
            now=self.now(),
            on_error=on_error,
        )

    # --- Cases and handovers ----------------------------------------------------------------
    async def case_book(self, *, now: int | None = None) -> CaseBook:
        """Every case this device can derive (syncing first unless the session is offline)."""
        return await case_ops.load_book(
            self.home, self._api, now=self.now() if now is None else now, keys=self.unlock()
        )

    async def agenda(self, *, days: int = 7, now: int | None = None) -> Agenda:
        """Deadlines and handovers of the next `days` days, from this device's cases."""
        moment = self.now() if now is None else now
        book = await self.case_book(now=moment)
        return build_agenda(book.cases, now=moment, days=days)

    def countersign(self, record: LoggedNotice) -> tuple[str, str]:
        """The `record_hash` and `countersignature` of a receipt for a handover record."""
        return case_ops.countersign_record(self.unlock(), record)

    # --- Legal holds ------------------------------------------------------------------------
    async def place_hold(self, case_ref: str, reason: str) -> dict[str, Any]:
        return await hold_ops.place(self.home, self.api, case_ref, reason)

    async def release_hold(self, case_ref: str) -> dict[str, Any]:
        return await hold_ops.release(self.home, self.api, case_ref)

    async def holds(self) -> list[dict[str, Any]]:
        """The agency's active holds, with the case references this device noted."""
        return await hold_ops.active(self.home, self.api)

    # --- Supervisor review and the audit log ------------------------------------------------
    async def review_traffic(
        self, *, officer_id: str | None = None, start: int | None = None, end: int | None = None
    ) -> list[dict[str, Any]]:
        """The agency's traffic (metadata only), for a supervisor."""
        return await review_ops.list_traffic(
            self.home, self.api, officer_id=officer_id, start=start, end=end
        )

    async def review(self, message_id: str, reason: str) -> ReviewedMessage:
        """Open a message of the agency (its id, or a prefix naming one message of the agency's
        traffic) as its supervisor; the relay logs the review first."""
        prefix = message_id.strip().lower()
        if len(prefix) != 32:
            matches = [
                m["message_id"]
                for m in await self.review_traffic()
                if str(m["message_id"]).startswith(prefix)
            ]
            if len(matches) != 1:
                raise BadInput(
                    _("{prefix} does not name exactly one message of the agency.").format(
                        prefix=prefix
                    )
                )
            prefix = str(matches[0])
        return await review_ops.read(self.home, self.api, prefix, reason, now=self.now())

    async def audit_log(self) -> list[dict[str, Any]]:
        """The log records this device may see, each checked against a signed checkpoint."""
        return await review_ops.audit_log(self.home, self.api)


__all__ = ["OfficerSession"]
