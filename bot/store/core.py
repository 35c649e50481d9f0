"""The connection, its worker thread, and the store's parts."""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, TypeVar

from sqlite_utils import Database

from bot.store.concerns import Concerns
from bot.store.conversations import FormSessions
from bot.store.knowledge import KnowledgeFeedback
from bot.store.outbox import Outbox
from bot.store.slack import SlackEvents
from bot.store.surveys import PulseActions, Surveys
from bot.store.teams import TeamsActivities, TeamsDirectory
from bot.store.migrations import migrations

T = TypeVar("T")


class StoreError(Exception):
    """The database could not be opened or used; the message is for people."""


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="peerbot-store")
        self._db: Database | None = None
        self.forms = FormSessions(self)
        self.outbox = Outbox(self)
        self.knowledge = KnowledgeFeedback(self)
        self.slack_events = SlackEvents(self)
        self.teams = TeamsDirectory(self)
        self.teams_activities = TeamsActivities(self)
        self.concerns = Concerns(self)
        self.surveys = Surveys(self)
        self.pulse_actions = PulseActions(self)

    @classmethod
    async def open(cls, path: Path) -> "Store":
        store = cls(path)
        try:
            await store.run(store._connect)
        except (sqlite3.Error, OSError) as exc:
            store._executor.shutdown(wait=False)
            raise StoreError(f"cannot open the database at {path}: {exc}") from None
        return store

    def _connect(self) -> None:
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        db = Database(conn)
        db.execute("PRAGMA busy_timeout = 10000")
        db.enable_wal()
        # Deleted rows are overwritten on disk, not left readable: anything
        # that once sat next to an answer must not linger in the file.
        db.execute("PRAGMA secure_delete = ON")
        db.execute("PRAGMA foreign_keys = ON")
        migrations.apply(db)
        self._db = db

    @property
    def db(self) -> Database:
        """Only for code already running on the store's thread."""
        if self._db is None:
            raise StoreError("the store is closed")
        return self._db

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn`` on the store's own thread and wait for it without blocking the loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def ping(self) -> bool:
        def check() -> bool:
            return self.db.execute("select 1").fetchone() == (1,)

        try:
            return await self.run(check)
        except (sqlite3.Error, StoreError):
            return False

    async def applied_migrations(self) -> list[str]:
        return await self.run(lambda: [m.name for m in migrations.applied(self.db)])

    def _shut(self) -> None:
        if self._db is not None:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
            self._db = None

    async def close(self) -> None:
        try:
            await self.run(self._shut)
        finally:
            self._executor.shutdown(wait=True)
