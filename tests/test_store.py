"""The store: SQLite set up for a long-running bot, and kept off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from bot.store import Store


async def test_the_database_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path):
    store = await Store.open(tmp_path / "p.db")
    try:
        pragmas = await store.run(
            lambda: {
                name: store.db.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "busy_timeout", "secure_delete")
            }
        )
        assert pragmas == {"journal_mode": "wal", "busy_timeout": 10000, "secure_delete": 1}
    finally:
        await store.close()


async def test_migrations_run_once_and_survive_reopening(tmp_path: Path):
    first = await Store.open(tmp_path / "p.db")
    applied = await first.applied_migrations()
    await first.close()
    second = await Store.open(tmp_path / "p.db")
    try:
        again = await second.applied_migrations()
        assert applied == again and applied[0] == "0001_conversations_and_deliveries"
    finally:
        await second.close()


async def test_database_work_happens_off_the_event_loop_thread(tmp_path: Path):
    store = await Store.open(tmp_path / "p.db")
    try:
        worker = await store.run(lambda: threading.current_thread().name)
        assert worker.startswith("peerbot-store")
        assert worker != threading.current_thread().name
        # The loop keeps running while the store is busy.
        ticks = 0

        async def tick():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        ticker = asyncio.create_task(tick())
        await store.run(time.sleep, 0.2)
        ticker.cancel()
        assert ticks >= 10
    finally:
        await store.close()


async def test_an_unopenable_database_is_a_readable_error(tmp_path: Path):
    from bot.store import StoreError

    bad = tmp_path / "not-a-db"
    bad.write_bytes(b"this is not sqlite" * 100)
    try:
        await Store.open(bad)
    except StoreError as exc:
        assert "cannot open the database" in str(exc)
    else:
        raise AssertionError("opening garbage should fail")
