"""The send checks of a batch read together (issue 17, section 1): what each send sees is what
it would see asking alone — envelopes and counters of the sends before it in the same batch,
and a revocation written earlier in the same batch."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from liaison.store import SendCheck, Store, database_url

SENDER, RECIPIENT = "AG:sender", "AG:recipient"


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


async def _setup(tx: Any) -> None:
    await tx.insert_agency(
        code="AG", country="VN", name_vi="a", name_zh="a", root_key=b"k" * 32, log_index=0, at=1
    )
    for device in (SENDER, RECIPIENT):
        await tx.insert_certificate(
            device_id=device,
            agency="AG",
            certificate=device.encode(),
            cert_hash=_digest(device),
            signing_key=b"s" * 32,
            encryption_key=b"e" * 32,
            not_before=0,
            not_after=2**40,
            log_index=0,
            at=1,
        )


def _send(message_id: str, counter: int, seen: list[Any]) -> Any:
    """A send job as the relay's: check, then store unless refused; `seen` gets its check."""

    async def job(tx: Any) -> None:
        check = await tx.send_precheck(
            message_id=message_id, sender_device=SENDER, devices=(SENDER, RECIPIENT)
        )
        seen.append(check)
        if check.existing is not None or check.revoked:
            return
        if check.last_counter is not None and counter <= check.last_counter:
            return
        index = await tx.append_log(message_id.encode(), _digest(message_id), at=counter)
        tx.insert_envelope(
            message_id=message_id,
            envelope_hash=_digest("envelope " + message_id),
            sender_device=SENDER,
            counter=counter,
            envelope=b"ciphertext",
            log_index=index,
            received_at=counter,
            recipients=(RECIPIENT,),
        )

    return job


def _check(message_id: str) -> SendCheck:
    return SendCheck(message_id, SENDER, (SENDER, RECIPIENT))


async def test_sends_of_one_batch_see_each_other_and_the_stored_ones(store: Store) -> None:
    await store.write(_setup)
    seen: list[Any] = []
    await store.write(_send("m0", 5, seen), send_check=_check("m0"))
    seen.clear()
    store.gather_turns = 4
    sizes: list[int] = []
    store.add_commit_listener(lambda entries: sizes.append(len(entries)))
    jobs = [("m0", 9), ("m1", 6), ("m1", 7), ("m2", 6), ("m3", 8)]
    await asyncio.gather(*(store.write(_send(m, c, seen), send_check=_check(m)) for m, c in jobs))
    assert sizes == [2]  # one batch, storing m1 (6) and m3 (8): m2's 6 is not above m1's
    stored, first, again, low, later = seen
    assert stored.existing is not None and stored.existing.counter == 5  # read ahead
    assert first.existing is None and first.last_counter == 5
    assert again.existing is not None and again.existing.counter == 6  # from the batch
    assert low.last_counter == 6  # the batch's own m1 counts
    assert later.last_counter == 6 and not later.revoked


async def test_a_revocation_earlier_in_the_batch_is_seen_by_the_sends_after_it(
    store: Store,
) -> None:
    await store.write(_setup)

    async def revoke(tx: Any) -> None:
        index = await tx.append_log(b"revocation", _digest("revocation"), at=2)
        await tx.insert_revocation(
            device_id=RECIPIENT,
            revocation=b"r",
            revocation_hash=_digest("r"),
            log_index=index,
            at=2,
        )

    seen: list[Any] = []
    store.gather_turns = 4
    await asyncio.gather(
        store.write(_send("before", 1, seen), send_check=_check("before")),
        store.write(revoke),
        store.write(_send("after", 2, seen), send_check=_check("after")),
    )
    before, after = seen
    assert not before.revoked
    assert after.revoked == {RECIPIENT}


@pytest.mark.postgres
async def test_a_batch_of_sends_overtaken_by_another_process_runs_again_locked(
    tmp_path: Path, postgres_url: str
) -> None:
    """Two stores on one database, as two workers: a batch of sends reads the log head and its
    checks without locking it; when the other process commits a send meanwhile (same sender,
    so the first batch's counter check read before it is stale), the batch writes nothing,
    runs again holding the lock, sees the other's envelope and counter, and the log keeps one
    order with no gap."""
    schema = f"t_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(postgres_url)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        settings = {"server_settings": {"search_path": schema}}
        url = database_url(tmp_path, postgres_url)
        async with (
            Store(url, connect_args=settings) as one,
            Store(url, connect_args=settings) as two,
        ):
            await one.write(_setup)
            other_committed = asyncio.Event()
            runs: list[Any] = []

            async def slow_send(tx: Any) -> None:
                await _send("slow", 7, runs)(tx)
                await other_committed.wait()  # (the rerun passes at once)

            slow = asyncio.create_task(one.write(slow_send, send_check=_check("slow")))
            for _ in range(3000):  # until the slow batch has read its check, unlocked
                if runs:
                    break
                await asyncio.sleep(0.01)
            assert runs and runs[0].last_counter is None
            # (Were the lock held while the slow batch's job runs, this would wait forever.)
            await asyncio.wait_for(two.write(_send("fast", 9, []), send_check=_check("fast")), 60)
            other_committed.set()
            await slow
            assert one.group_commit.conflicts == 1
            first, again = runs
            assert again.last_counter == 9  # the rerun saw the other's send: 7 is refused
            assert await one.envelope("slow") is None
            assert (await one.envelope("fast")) is not None
            size = await one.log_size()
            entries = await one.log_entries(0, size)
            assert [e.index for e in entries] == list(range(size))
            assert entries[-1].data == b"fast"
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
