"""Anonymity, proved on the bytes: after check-ins by known people, the
database file and its write-ahead log hold nothing that ties anyone to an
answer."""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

from bot.channels.base import Address
from bot.runtime import Runtime
from tests.conftest import Chat

PEOPLE = [(f"u-zed-{n}4471", f"Zed Quimby{n}") for n in range(6)]
# Tables allowed to hold a user id: who is in a team, and who was sent a
# form (the most the store may know), and the outbox that delivered each
# member their team's summary.
MAY_HOLD_USER_IDS = {"survey_members", "survey_eligible", "outbox"}


def pages_by_table(db: Path) -> tuple[int, dict[int, str]]:
    conn = sqlite3.connect(db)
    try:
        page_size = conn.execute("pragma page_size").fetchone()[0]
        owners = {page: name for name, page in conn.execute("select name, pageno from dbstat")}
        # Index pages belong to their table for this purpose.
        tables = dict(conn.execute("select name, tbl_name from sqlite_master where type = 'index'").fetchall())
        return page_size, {page: tables.get(name, name) for page, name in owners.items()}
    finally:
        conn.close()


def tables_holding(needle: bytes, db: Path, page_size: int, owners: dict[int, str]) -> set[str]:
    """Which tables' pages contain ``needle``, in the database and its WAL."""
    found = set()
    data = db.read_bytes()
    start = data.find(needle)
    while start != -1:
        found.add(owners.get(start // page_size + 1, f"page {start // page_size + 1}"))
        start = data.find(needle, start + 1)
    wal = db.with_name(db.name + "-wal")
    if wal.exists():
        log = wal.read_bytes()
        frame = 32
        while frame + 24 + page_size <= len(log):
            page_number = struct.unpack(">I", log[frame:frame + 4])[0]
            if needle in log[frame + 24: frame + 24 + page_size]:
                found.add(owners.get(page_number, f"wal page {page_number}"))
            frame += 24 + page_size
    return found


def assert_no_trace(db: Path, tokens: list[str], *, outbox_allowed: bool) -> None:
    """User ids only where allowed, names and tokens nowhere at all."""
    page_size, owners = pages_by_table(db)
    allowed = MAY_HOLD_USER_IDS if outbox_allowed else MAY_HOLD_USER_IDS - {"outbox"}
    for user, name in PEOPLE:
        assert tables_holding(user.encode(), db, page_size, owners) <= allowed
        assert tables_holding(name.encode(), db, page_size, owners) == set()
    for token in tokens:
        assert tables_holding(token.encode(), db, page_size, owners) == set()


async def run_a_week(runtime: Runtime) -> list[str]:
    tokens = []
    people = [Chat(runtime, user=user, name=name, team="north") for user, name in PEOPLE]
    for chat in people:
        await chat.say("/checkin settings")  # on the team before the week opens
    for number, (user, name) in enumerate(PEOPLE):
        chat = people[number]
        await chat.say("/checkin")
        invitation = runtime.courier.local.feed(Address(kind="user", id=user))[-1]
        tokens.append(invitation["choices"][0]["value"])
        await chat.say("Start check-in")
        for answer in ("3", "2", "4", f"unique-note-{number}"):
            await chat.say(answer)
        await chat.say("Send")
    return tokens


async def test_no_one_can_be_tied_to_an_answer_from_the_database_bytes(runtime: Runtime):
    tokens = await run_a_week(runtime)
    db = runtime.settings.db

    # While the week is open: answers exist, but nothing joins them to anyone.
    assert_no_trace(db, tokens, outbox_allowed=False)
    page_size, owners = pages_by_table(db)
    assert tables_holding(b"unique-note-0", db, page_size, owners) == {"survey_notes"}

    # After the week closes: only the team summary is left.
    await Chat(runtime, user="u-root").say("/checkins close north")
    await runtime.store.close()
    assert_no_trace(db, tokens, outbox_allowed=True)
    page_size, owners = pages_by_table(db)
    assert tables_holding(b"unique-note-0", db, page_size, owners) == {"survey_summaries"}
    from bot.store import Store

    runtime.store = await Store.open(db)


async def test_answers_are_counts_and_slots_with_no_person_or_time(runtime: Runtime):
    await run_a_week(runtime)

    def layout():
        db = runtime.store.db
        return {t: [row[1] for row in db.execute(f"pragma table_info({t})")] for t in ("survey_tallies", "survey_notes", "survey_tokens")}

    assert await runtime.store.run(layout) == {
        "survey_tallies": ["id", "round_id", "item", "point", "n", "stir"],  # stir: random bytes every answer replaces
        "survey_notes": ["id", "round_id", "item", "state", "body"],
        "survey_tokens": ["id", "round_id", "token_hash", "state", "stir"],
    }
    # Every note slot has the same size, filled or not, so writing a note moves nothing.
    sizes = await runtime.store.run(lambda: {r[0] for r in runtime.store.db.execute("select length(body) from survey_notes")})
    assert len(sizes) == 1
    assert await runtime.store.surveys.response_count("checkin:north:2026-W48") == len(PEOPLE)


def test_there_is_no_query_for_who_answered():
    """The code has no way to list who has or hasn't answered: the store's
    survey module never joins issued people to tokens or responses."""
    import ast

    source = (Path(__file__).resolve().parent.parent / "bot" / "store" / "surveys.py").read_text()
    statements = [
        node.value.lower() for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and node.value.lower().lstrip().startswith(("select ", "insert ", "update ", "delete "))
    ]
    assert statements, "the survey store's queries should be found"
    for statement in statements:
        for table in ("survey_tokens", "survey_tallies", "survey_notes"):
            assert not ("survey_eligible" in statement and table in statement), f"a query joins survey_eligible and {table}"


async def test_pulse_answers_leave_no_trace_of_who_gave_them(runtime: Runtime):
    people = [Chat(runtime, user=user, name=name, team="north") for user, name in PEOPLE]
    for chat in people:
        await chat.say("/checkin settings")
    await Chat(runtime, user="u-sam", team=None).say("/pulse start co-optation --team north --days 5")
    tokens = []
    for number, chat in enumerate(people):
        invitation = runtime.courier.local.feed(Address(kind="user", id=chat.channel.user))[-1]
        tokens.append(invitation["choices"][0]["value"])
        chat.channel._buttons = [(c["label"], c["action"], c["value"]) for c in invitation["choices"]]
        await chat.say("1")
        for value in [str(1 + (number + i) % 5) for i in range(10)]:
            await chat.say(value)
        await chat.say("Send")
    db = runtime.settings.db
    assert_no_trace(db, tokens, outbox_allowed=False)
    await Chat(runtime, user="u-sam", team=None).say("/pulse close --team north")
    await runtime.store.close()
    assert_no_trace(db, tokens, outbox_allowed=True)
    from bot.store import Store

    runtime.store = await Store.open(db)
