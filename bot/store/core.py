"""The connection, its worker thread, and the store's parts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Generator, TypeVar

from sqlite_utils import Database

from bot.store.concerns import Concerns
from bot.store.conversations import FormSessions
from bot.store.flow_states import FlowStates
from bot.store.knowledge import KnowledgeFeedback
from bot.store.leases import Leases
from bot.store.limits import AttemptLimits
from bot.store.outbox import Outbox
from bot.store.schedule import ScheduledJobs
from bot.store.slack import SlackEvents
from bot.store.surveys import PulseActions, Surveys
from bot.store.teams import TeamsActivities, TeamsDirectory
from bot.store.migrations import migrations

T = TypeVar("T")
log = logging.getLogger(__name__)

# How long a write waits for another process's write to finish before it
# gives up. Writes here take milliseconds; this is for a stalled neighbour.
BUSY_TIMEOUT_SECONDS = 10


class _Database(Database):
    """sqlite-utils' Database, with write transactions that take the write
    lock up front.

    A plain ``BEGIN`` starts as a reader; when a reader turns writer after
    another connection (another process on the same file) has committed,
    SQLite fails it at once with "database is locked" (SQLITE_BUSY_SNAPSHOT)
    instead of waiting, because waiting could never help. ``BEGIN
    IMMEDIATE`` takes the write lock first, so the busy timeout applies and
    the transaction reads what it is about to change. Every ``atomic()``
    block in the store writes, so all of them begin this way; nested
    blocks stay savepoints. PostgreSQL has no such upgrade failure; there
    the same blocks are plain transactions.
    """

    @contextlib.contextmanager
    def atomic(self) -> Generator["Database", None, None]:
        if self.conn.in_transaction:
            with super().atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        else:
            try:
                self.conn.execute("COMMIT")
            except BaseException:
                self.rollback()
                raise


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
        self.jobs = ScheduledJobs(self)
        self.limits = AttemptLimits(self)
        self.leases = Leases(self)
        self.flow_states = FlowStates(self)

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
        # This connection is the only one this process opens on the file
        # (the schedule keeps its jobs here too), so within a process writes
        # queue on this thread; between processes the busy timeout and
        # BEGIN IMMEDIATE make a writer wait its turn rather than fail.
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        db = _Database(conn)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
        _enable_wal(db)
        # Deleted rows are overwritten on disk, not left readable: anything
        # that once sat next to an answer must not linger in the file.
        db.execute("PRAGMA secure_delete = ON")
        db.execute("PRAGMA foreign_keys = ON")
        _migrate(db)
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

    def submit(self, fn: Callable[..., T], *args: object) -> "Future[T]":
        """Queue ``fn`` on the store's thread without waiting for it.

        For callers that must stay synchronous (the schedule's API): the
        thread runs work in the order it was queued, so anything run or
        submitted afterwards sees this done, and closing the store waits
        for it."""
        return self._executor.submit(fn, *args)

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
        waiting = self.surveys.waiting()
        if waiting:
            # never written on purpose (see bot/store/surveys.py); the count only, nothing of who or what
            log.warning("%d survey answer(s) were waiting to be stored together with others and were not stored; "
                        "the Start buttons they came from still work", waiting)
        if self._db is not None:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
            self._db = None

    async def close(self) -> None:
        try:
            await self.run(self._shut)
        finally:
            self._executor.shutdown(wait=True)


def _enable_wal(db: Database) -> None:
    """Switch the file to WAL mode, waiting out other processes doing the same.

    Changing the journal mode needs the file to itself for a moment; when
    several processes start at once on a new file, the losers are told
    "database is locked" without the busy timeout helping, so try again."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    delay = 0.01
    while True:
        try:
            db.enable_wal()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _migrate(db: Database) -> None:
    """Apply pending migrations, safely when several processes start at once.

    Each step runs in its own ``BEGIN IMMEDIATE`` transaction and looks at
    what is pending only once it holds the write lock, so a second process
    waits, then finds the step already applied and does nothing, instead
    of failing on "table already exists" or a lock."""
    while migrations.pending(db):
        with db.atomic():
            pending = migrations.pending(db)
            if not pending or not pending[0].transactional:
                break
            migrations.apply(db, stop_before=[m.name for m in pending[1:]])
    if migrations.pending(db):
        # A step that cannot run in a transaction (VACUUM, say) runs
        # unguarded, with everything after it.
        log.info("applying migration %s outside a transaction", migrations.pending(db)[0].name)
        migrations.apply(db)
