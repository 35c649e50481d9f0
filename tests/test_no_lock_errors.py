"""No "database is locked", ever: many people at once, and several
processes on one file.

Under load, APScheduler's SQLAlchemy job store (a second connection to the
file) committed between a store transaction's read and its write, and
SQLite failed that write at once. The schedule now writes through the
store's own connection, and every store transaction takes the write lock
up front (BEGIN IMMEDIATE), so a writer waits its turn instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.config import Settings
from bot.runtime import Runtime
from bot.store import Store
from bot.store.surveys import Ballot
from tests.conftest import Chat, feed, make_settings, subprocess_env
from tests.test_concerns import ref_of

KEY = Fernet.generate_key().decode()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, supervisors="u-sam", admins="u-root", concern_key=KEY, concern_daily_limit=100)


def lock_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() + repr(r.exc_info) for r in caplog.records if "locked" in repr(r.exc_info) + r.getMessage()]


async def write_to_preview(chat: Chat, i: int) -> None:
    await chat.say("/concern")
    await chat.say("Anonymously" if i % 2 else "With my name")
    for answer in ("Workload", f"Rota changed again, number {i}.", "", "", ""):
        await chat.say(answer)


@pytest.mark.parametrize("people", [16, 48])
async def test_concurrent_sends_are_all_stored_posted_and_planned_with_no_lock_error(
    runtime: Runtime, caplog: pytest.LogCaptureFixture, people: int
):
    caplog.set_level(logging.WARNING)
    chats = [Chat(runtime, user=f"u-peer-{i}", name=f"Peer {i}") for i in range(people)]
    await asyncio.gather(*(write_to_preview(chat, i) for i, chat in enumerate(chats)))

    receipts = await asyncio.gather(*(chat.say("Send") for chat in chats))

    assert not [r for r in receipts if "Sorry" in r or "reference is" not in r]
    refs = {ref_of(r) for r in receipts}
    assert len(refs) == people
    assert {row["ref"] for row in await runtime.store.concerns.listing()} == refs
    await runtime.courier.deliver_due()
    posted = feed(runtime)
    assert len(posted) == people and {p["key"] for p in posted} == {f"concern:{ref}" for ref in refs}
    await runtime.schedule.flush()
    planned = {job.id for job in await runtime.store.run(runtime.store.jobs.all)}
    assert {f"concern:{ref}:escalate" for ref in refs} <= planned
    assert lock_errors(caplog) == []


async def test_issuing_survey_forms_under_load_from_another_connection_never_fails(tmp_path: Path, runtime: Runtime):
    """Another process on the same file (here: a second store, its own
    connection) writing all the while: every issue completes."""
    other = await Store.open(runtime.settings.db)
    now = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.timezone.utc)
    rounds = []
    people = [("terminal", f"u-{i}") for i in range(25)]
    await runtime.store.surveys.set_team("north", "wed", 10, "America/New_York")
    for via, user in people:  # on the roster before the rounds open: only they are asked
        await runtime.store.surveys.join("north", via, user)
    ballot = Ballot(scales={"busy-work": [1, 2, 3, 4, 5]})
    for n in range(16):
        rnd = await runtime.store.surveys.open_round(f"pulse:north:r{n}", "pulse", "north", f"r{n}", now.isoformat(),
                                                     (now + dt.timedelta(days=7)).isoformat(), ballot)
        rounds.append(rnd.id)
    stop = asyncio.Event()

    async def neighbour() -> int:
        written = 0
        while not stop.is_set():
            await other.concerns.create({"category": "workload", "body": "busy", "named": 0, "state": "open", "destination": "supervisors"}, now)
            written += 1
        return written

    try:
        load = [asyncio.create_task(neighbour()) for _ in range(2)]
        issued = await asyncio.gather(*(runtime.store.surveys.issue(r, people) for r in rounds), *(runtime.store.surveys.issue(r, people) for r in rounds))
        stop.set()
        written = await asyncio.gather(*load)
    finally:
        await other.close()
    assert sum(written) > 0
    # Each round issued once to each person: the repeat calls issued nobody new.
    assert sorted(len(i) for i in issued) == [0] * 16 + [25] * 16


def start_chat(db: Path, user: str) -> subprocess.Popen:
    env = subprocess_env(PEERBOT_DB=str(db))
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--user", user], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, cwd=db.parent, env=env,
    )


def test_five_chats_started_at_once_on_a_new_file_all_work(tmp_path: Path):
    db = tmp_path / "peerbot.db"
    chats = [start_chat(db, f"u{i}") for i in range(5)]
    results = [chat.communicate(b"help\n/concern\n", timeout=120) for chat in chats]
    for chat, (out, err) in zip(chats, results):
        assert chat.returncode == 0 and not err, err.decode()
        assert "/help" in out.decode() and "who sees what" in out.decode()


async def test_twelve_stores_opened_at_once_on_a_new_file_migrate_it_once(tmp_path: Path):
    """Each store is its own connection on its own thread, as a process is:
    all of them migrate the same new file at the same moment."""
    stores = await asyncio.gather(*(Store.open(tmp_path / "p.db") for _ in range(12)))
    try:
        applied = [await s.applied_migrations() for s in stores]
        assert all(a == applied[0] for a in applied) and len(set(applied[0])) == len(applied[0])
    finally:
        for store in stores:
            await store.close()
