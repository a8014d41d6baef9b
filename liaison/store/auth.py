"""Authentication storage: the challenges devices answer and the digests of their tokens."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from liaison.store.records import ChallengeRecord, TokenRecord
from liaison.store.tables import auth_challenges, auth_tokens, revocations


class AuthReads:
    """Reads of `Store` (liaison/store/repository.py), each on a pooled read connection."""

    read_connection: Any  # Store.read_connection

    async def token(self, token_hash: bytes) -> TokenRecord | None:
        query = (
            select(auth_tokens.c.device_id, auth_tokens.c.expires_at, revocations.c.device_id)
            .select_from(
                auth_tokens.outerjoin(
                    revocations, revocations.c.device_id == auth_tokens.c.device_id
                )
            )
            .where(auth_tokens.c.token_hash == token_hash)
        )
        async with self.read_connection() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return TokenRecord(device_id=row[0], expires_at=row[1], device_revoked=row[2] is not None)


class AuthWrites:
    """Reads and writes of `WriteTx` (liaison/store/repository.py) in the writer's batch."""

    conn: Any  # TxCore.conn
    execute_write: Any  # TxCore.execute_write

    async def insert_challenge(self, *, challenge: bytes, device_id: str, expires_at: int) -> None:
        await self.execute_write(
            insert(auth_challenges).values(
                challenge=challenge, device_id=device_id, expires_at=expires_at, used=0
            )
        )

    async def challenge(self, challenge: bytes) -> ChallengeRecord | None:
        query = select(auth_challenges).where(auth_challenges.c.challenge == challenge)
        row = (await self.conn.execute(query)).first()
        if row is None:
            return None
        return ChallengeRecord(bytes(row.challenge), row.device_id, row.expires_at, bool(row.used))

    async def use_challenge(self, challenge: bytes) -> None:
        await self.execute_write(
            update(auth_challenges).where(auth_challenges.c.challenge == challenge).values(used=1)
        )

    async def insert_token(
        self, *, token_hash: bytes, device_id: str, expires_at: int, at: int
    ) -> None:
        await self.execute_write(
            insert(auth_tokens).values(
                token_hash=token_hash, device_id=device_id, expires_at=expires_at, created_at=at
            )
        )

    async def purge_expired(self, now: int) -> None:
        """Forget spent and stale challenges and tokens (they were never logged)."""
        await self.execute_write(delete(auth_challenges).where(auth_challenges.c.expires_at < now))
        await self.execute_write(delete(auth_tokens).where(auth_tokens.c.expires_at < now))
