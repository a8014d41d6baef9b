"""The relay's repository: `Store` (pooled reads) and `WriteTx` (writes in a group commit).

Each area keeps its queries in its own module, as a class of reads that `Store` takes in and a
class of writes that `WriteTx` takes in: directory (agencies, review statements, devices),
auth (challenges, tokens), mailbox (envelopes, deliveries), log (entries, cosignatures), review
(review-key wraps, traffic), retention (periods, case tags, holds, purges), attachments
(blob records and the envelopes declaring them). Every write goes
through the group-commit writer (liaison/store/writer.py).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from liaison.store.attachments import AttachmentReads, AttachmentWrites
from liaison.store.auth import AuthReads, AuthWrites
from liaison.store.directory import DirectoryReads, DirectoryWrites
from liaison.store.engine import create_engines, is_sqlite, upgrade
from liaison.store.federation import FederationReads, FederationWrites
from liaison.store.log import LogReads, LogWrites
from liaison.store.mailbox import MailboxReads, MailboxWrites
from liaison.store.retention import RetentionReads, RetentionWrites
from liaison.store.review import ReviewReads, ReviewWrites
from liaison.store.writer import (
    GATHER_TURNS,
    CommitListener,
    GroupCommitWriter,
    Job,
    SendCheck,
    TxCore,
    WriterBacklog,
)

T = TypeVar("T")


class WriteTx(
    DirectoryWrites,
    AuthWrites,
    MailboxWrites,
    LogWrites,
    ReviewWrites,
    RetentionWrites,
    AttachmentWrites,
    FederationWrites,
    TxCore,
    WriterBacklog,
):
    """One request's writes inside the writer's batch transaction (see `TxCore`)."""


class Store(
    DirectoryReads,
    AuthReads,
    MailboxReads,
    LogReads,
    ReviewReads,
    RetentionReads,
    AttachmentReads,
    FederationReads,
):
    """The relay's storage. `open()` then `close()`; use as an async context manager."""

    def __init__(
        self,
        url: str,
        *,
        connect_args: dict[str, Any] | None = None,
        gather_turns: int = GATHER_TURNS,
    ) -> None:
        self.url = url
        self.postgres = not is_sqlite(url)
        self._connect_args = connect_args
        self.reader: AsyncEngine | None = None
        self.group_commit: GroupCommitWriter[WriteTx] = GroupCommitWriter(
            WriteTx, postgres=self.postgres, gather_turns=gather_turns
        )

    @property
    def gather_turns(self) -> int:
        """Event-loop turns a batch may wait for more writes (GroupCommitWriter._gather)."""
        return self.group_commit.gather_turns

    @gather_turns.setter
    def gather_turns(self, turns: int) -> None:
        self.group_commit.gather_turns = turns

    async def open(self, *, migrate: bool = True) -> None:
        writer, self.reader = create_engines(self.url, connect_args=self._connect_args)
        if migrate:
            await upgrade(self.reader)
        self.group_commit.start(writer)

    async def close(self) -> None:
        await self.group_commit.stop()
        if self.reader is not None:
            await self.reader.dispose()

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Called after each committed batch with the log entries it appended, in order."""
        self.group_commit.add_commit_listener(listener)

    async def write(self, job: Job[WriteTx, T], *, send_check: SendCheck | None = None) -> T:
        """Run `job` in the next group commit; answer once it is durable (see
        `GroupCommitWriter.write`). A send job gives its `send_check` (what it will ask
        `send_precheck`): on PostgreSQL the batch's send checks are read in one round trip."""
        return await self.group_commit.write(job, send_check=send_check)

    def writer_backlog(self) -> WriterBacklog:
        """How far behind the group-commit writer is (the readiness check)."""
        return self.group_commit.backlog()

    async def ping(self) -> None:
        """One trivial query on a pooled read connection: raises when the database does not
        answer (the readiness check bounds the wait)."""
        async with self.read_connection() as conn:
            await conn.exec_driver_sql("SELECT 1")

    def read_connection(self) -> Any:
        """A pooled read connection: `async with store.read_connection() as conn`."""
        assert self.reader is not None
        return self.reader.connect()
