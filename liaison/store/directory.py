"""Directory storage: agencies, their review-key statements, device certificates, revocations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from liaison.store.records import AgencyRecord, DeviceRecord, ReviewStatementRecord
from liaison.store.tables import agencies, certificates, review_statements, revocations

# --- named queries, shared by reads and writes --------------------------------------------


async def _agency(conn: AsyncConnection, code: str) -> AgencyRecord | None:
    row = (await conn.execute(select(agencies).where(agencies.c.code == code))).first()
    if row is None:
        return None
    statements = await _review_statement_bytes(conn, [code])
    return _agency_record(row, statements.get(code, ()))


async def _review_statement_bytes(
    conn: AsyncConnection, codes: Sequence[str] | None
) -> dict[str, tuple[bytes, ...]]:
    query = select(review_statements.c.agency, review_statements.c.statement).order_by(
        review_statements.c.log_index
    )
    if codes is not None:
        query = query.where(review_statements.c.agency.in_(codes))
    result: dict[str, list[bytes]] = {}
    for agency, statement in await conn.execute(query):
        result.setdefault(agency, []).append(bytes(statement))
    return {code: tuple(items) for code, items in result.items()}


def _agency_record(row: Any, statements: tuple[bytes, ...]) -> AgencyRecord:
    return AgencyRecord(
        code=row.code,
        country=row.country,
        name_vi=row.name_vi,
        name_zh=row.name_zh,
        root_key=bytes(row.root_key),
        log_index=row.log_index,
        review_statements=statements,
    )


def _review_statement_record(row: Any) -> ReviewStatementRecord:
    return ReviewStatementRecord(
        row.agency, row.key_id, bytes(row.statement), bytes(row.statement_hash), row.log_index
    )


_device_columns = (
    certificates,
    revocations.c.revocation,
    revocations.c.log_index.label("revocation_log_index"),
)


def _device_query():  # type: ignore[no-untyped-def]
    return select(*_device_columns).select_from(
        certificates.outerjoin(revocations, revocations.c.device_id == certificates.c.device_id)
    )


def _device_record(row: Any) -> DeviceRecord:
    return DeviceRecord(
        device_id=row.device_id,
        agency=row.agency,
        certificate=bytes(row.certificate),
        cert_hash=bytes(row.cert_hash),
        signing_key=bytes(row.signing_key),
        encryption_key=bytes(row.encryption_key),
        not_before=row.not_before,
        not_after=row.not_after,
        log_index=row.log_index,
        revocation=None if row.revocation is None else bytes(row.revocation),
        revocation_log_index=row.revocation_log_index,
    )


async def _device(conn: AsyncConnection, device_id: str) -> DeviceRecord | None:
    row = (await conn.execute(_device_query().where(certificates.c.device_id == device_id))).first()
    return None if row is None else _device_record(row)


async def _devices(conn: AsyncConnection, device_ids: Iterable[str]) -> dict[str, DeviceRecord]:
    ids = list(device_ids)
    if not ids:
        return {}
    rows = await conn.execute(_device_query().where(certificates.c.device_id.in_(ids)))
    return {row.device_id: _device_record(row) for row in rows}


# --- the store's reads (pooled read connections) -------------------------------------------


class DirectoryReads:
    """Reads of `Store` (liaison/store/repository.py), each on a pooled read connection."""

    read_connection: Any  # Store.read_connection

    async def agency(self, code: str) -> AgencyRecord | None:
        async with self.read_connection() as conn:
            return await _agency(conn, code)

    async def agencies(self) -> list[AgencyRecord]:
        async with self.read_connection() as conn:
            rows = (await conn.execute(select(agencies).order_by(agencies.c.code))).all()
            statements = await _review_statement_bytes(conn, None)
        return [_agency_record(row, statements.get(row.code, ())) for row in rows]

    async def review_statements(self, agency: str) -> list[ReviewStatementRecord]:
        query = (
            select(review_statements)
            .where(review_statements.c.agency == agency)
            .order_by(review_statements.c.log_index)
        )
        async with self.read_connection() as conn:
            return [_review_statement_record(row) for row in await conn.execute(query)]

    async def device(self, device_id: str) -> DeviceRecord | None:
        async with self.read_connection() as conn:
            return await _device(conn, device_id)

    async def devices(self, device_ids: Iterable[str]) -> dict[str, DeviceRecord]:
        async with self.read_connection() as conn:
            return await _devices(conn, device_ids)

    async def agency_devices(self, agency: str) -> list[DeviceRecord]:
        query = _device_query().where(certificates.c.agency == agency)
        async with self.read_connection() as conn:
            rows = await conn.execute(query.order_by(certificates.c.device_id))
            return [_device_record(row) for row in rows]


# --- writes (inside the group-commit writer's transaction) ---------------------------------


class DirectoryWrites:
    """Reads and writes of `WriteTx` (liaison/store/repository.py) in the writer's batch."""

    conn: Any  # TxCore.conn
    execute_write: Any  # TxCore.execute_write
    batch: Any  # TxCore.batch

    async def agency(self, code: str) -> AgencyRecord | None:
        return await _agency(self.conn, code)

    async def insert_agency(
        self,
        *,
        code: str,
        country: str,
        name_vi: str,
        name_zh: str,
        root_key: bytes,
        log_index: int,
        at: int,
    ) -> None:
        await self.execute_write(
            insert(agencies).values(
                code=code,
                country=country,
                name_vi=name_vi,
                name_zh=name_zh,
                root_key=root_key,
                log_index=log_index,
                created_at=at,
            )
        )

    async def review_statement_by_hash(self, statement_hash: bytes) -> ReviewStatementRecord | None:
        query = select(review_statements).where(
            review_statements.c.statement_hash == statement_hash
        )
        row = (await self.conn.execute(query)).first()
        return None if row is None else _review_statement_record(row)

    async def insert_review_statement(
        self,
        *,
        agency: str,
        key_id: str,
        statement: bytes,
        statement_hash: bytes,
        log_index: int,
        at: int,
    ) -> None:
        await self.execute_write(
            insert(review_statements).values(
                agency=agency,
                key_id=key_id,
                statement=statement,
                statement_hash=statement_hash,
                log_index=log_index,
                created_at=at,
            )
        )

    async def device(self, device_id: str) -> DeviceRecord | None:
        return await _device(self.conn, device_id)

    async def insert_certificate(
        self,
        *,
        device_id: str,
        agency: str,
        certificate: bytes,
        cert_hash: bytes,
        signing_key: bytes,
        encryption_key: bytes,
        not_before: int,
        not_after: int,
        log_index: int,
        at: int,
    ) -> None:
        await self.execute_write(
            insert(certificates).values(
                device_id=device_id,
                agency=agency,
                certificate=certificate,
                cert_hash=cert_hash,
                signing_key=signing_key,
                encryption_key=encryption_key,
                not_before=not_before,
                not_after=not_after,
                log_index=log_index,
                created_at=at,
            )
        )

    async def insert_revocation(
        self, *, device_id: str, revocation: bytes, revocation_hash: bytes, log_index: int, at: int
    ) -> None:
        self.batch.revoked_now.add(device_id)  # the batch's later sends see it
        await self.execute_write(
            insert(revocations).values(
                device_id=device_id,
                revocation=revocation,
                revocation_hash=revocation_hash,
                log_index=log_index,
                created_at=at,
            )
        )
