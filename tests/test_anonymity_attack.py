"""The attacker's view: someone holds a copy of the database file (and its
write-ahead log) taken mid-round, the configuration, and knows which five
people answered and in which order. They try every ordering the file
offers to tie each answer to a person. Over many trials they must do no
better than chance.

The statistic: for one trial, "correct links" is how many of the five
people an attack pairs with their own note. Guessing at random gets 1 per
trial on average (variance 1), so over 30 trials the total is about 30
(standard deviation 5.5). An attack is called a leak at 58 or more, five
standard deviations above chance: chance passes that with probability
below one in a million per attack, and the one-row-per-answer layout this
replaced scores 150 of 150 (the last test shows the attacks find such a
leak)."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import shutil
import sqlite3
import struct
from pathlib import Path

import pytest

from bot.channels.base import Address
from bot.runtime import build_runtime
from bot.store.surveys import TokenError, token_hash
from bot.store.surveys import unpack_note
from tests.conftest import Chat, Clock, make_settings

TRIALS, PEOPLE = 30, 5
LEAK_AT = 58  # correct links over all trials: chance is 30 +- 5.5


def correct_links(guess: list[int], truth: list[int]) -> int:
    return sum(1 for g, t in zip(guess, truth) if g == t)


def note_of(person: int) -> str:
    return f"note-from-person-{person}-zq"


async def one_trial(folder: Path, answer_order: list[int]) -> tuple[Path, dict[int, str]]:
    """Five people on a team answer in ``answer_order``, each sent the form
    just before answering (so sending order is answering order, the hardest
    case); returns a copy of the database and its log taken mid-round, and
    the token each person was sent (which lives only in their messages)."""
    folder.mkdir()
    runtime = await build_runtime(make_settings(folder), now=Clock())
    try:
        people = {n: Chat(runtime, user=f"u-person-{n}", name=f"Person {n}", team="north") for n in range(PEOPLE)}
        for n in range(PEOPLE):
            await people[n].say("/checkin settings")
        for n in answer_order:
            chat = people[n]
            await chat.say("/checkin")
            await chat.say("Start check-in")
            for answer in (str(1 + n), str(1 + n % 4), str(1 + n), note_of(n)):
                await chat.say(answer)
            assert "Thank you" in await chat.say("Send")
        tokens = {n: runtime.courier.local.feed(Address(kind="user", id=f"u-person-{n}"))[-1]["choices"][0]["value"]
                   for n in range(PEOPLE)}
        copy = folder / "copy.db"
        shutil.copyfile(runtime.settings.db, copy)  # while the store is open, mid-round
        wal = runtime.settings.db.with_name(runtime.settings.db.name + "-wal")
        if wal.exists():
            shutil.copyfile(wal, folder / "copy.db-wal")
        return copy, tokens
    finally:
        await runtime.close()


# -- the attacks: each returns the people in the order it believes they answered


def by_byte_offset(copy: Path) -> list[int]:
    data = copy.read_bytes()
    wal = copy.with_name(copy.name + "-wal")
    data += wal.read_bytes() if wal.exists() else b""
    found = sorted((data.find(note_of(n).encode()), n) for n in range(PEOPLE))
    assert all(offset >= 0 for offset, _ in found)
    return [n for _, n in found]


def _person_in(text: str) -> int:
    return int(re.search(r"person-(\d)-zq", text).group(1))


def by_rowid(copy: Path) -> list[int]:
    with sqlite3.connect(copy) as conn:
        rows = conn.execute("select rowid, body from survey_notes where state = 'used' order by rowid").fetchall()
    return [_person_in(unpack_note(body)) for _, body in rows]


def by_page_and_cell(copy: Path) -> list[int]:
    """dbstat's page of each note, then its offset inside the page."""
    with sqlite3.connect(copy) as conn:
        page_size = conn.execute("pragma page_size").fetchone()[0]
        pages = sorted(p for (p,) in conn.execute("select pageno from dbstat where name = 'survey_notes'"))
    data = copy.read_bytes()
    placed = []
    for n in range(PEOPLE):
        offset = data.find(note_of(n).encode())
        page = offset // page_size + 1
        placed.append(((pages.index(page) if page in pages else page), offset % page_size, n))
    return [n for *_, n in sorted(placed)]


def by_index(copy: Path) -> list[int]:
    with sqlite3.connect(copy) as conn:
        rows = conn.execute(
            "select body from survey_notes indexed by survey_notes_round where round_id like 'checkin:%' and state = 'used'"
        ).fetchall()
    return [_person_in(unpack_note(body)) for (body,) in rows]


def by_count_cells(copy: Path) -> list[int]:
    """Person n chose energy n+1: the order of the energy cells that were
    counted, by rowid and by their offset in the file, as answer order."""
    with sqlite3.connect(copy) as conn:
        cells = conn.execute("select point from survey_tallies where item = 'energy' and n > (1 << 40) order by rowid").fetchall()
    return [point - 1 for (point,) in cells]


ATTACKS = {
    "byte offset": by_byte_offset,
    "rowid": by_rowid,
    "page and cell": by_page_and_cell,
    "index order": by_index,
    "count cells": by_count_cells,
}


def log_of(copy: Path) -> bytes:
    wal = copy.with_name(copy.name + "-wal")
    return wal.read_bytes() if wal.exists() else b""


def times_in(copy: Path) -> list[str]:
    """Anything that looks like a time in the tables a round writes to."""
    stamp = re.compile(rb"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
    found = []
    with sqlite3.connect(copy) as conn:
        for table in ("survey_eligible", "survey_tokens", "survey_tallies", "survey_notes"):
            for row in conn.execute(f"select * from {table}"):
                found += [str(v) for v in row if stamp.search(v if isinstance(v, bytes) else str(v).encode())]
    return found


async def test_no_ordering_in_the_file_links_answers_to_people_better_than_chance(tmp_path: Path):
    rng = random.Random(11)
    scores = {name: 0 for name in ATTACKS} | {f"{name}, reversed": 0 for name in ATTACKS}
    token_scores = 0
    for trial in range(TRIALS):
        truth = list(range(PEOPLE))
        rng.shuffle(truth)
        copy, tokens = await one_trial(tmp_path / f"trial-{trial}", truth)
        assert times_in(copy) == []
        assert not any(note_of(n).encode() in log_of(copy) for n in range(PEOPLE)), "the log holds an answer"
        for name, attack in ATTACKS.items():
            guess = attack(copy)
            assert sorted(guess) == list(range(PEOPLE)), name
            scores[name] += correct_links(guess, truth)
            scores[f"{name}, reversed"] += correct_links(guess[::-1], truth)
        # Who holds which token slot (which would tell who answered, when
        # not everyone does): slots in file order taken as sending order.
        with sqlite3.connect(copy) as conn:
            slots = [h for (h,) in conn.execute("select token_hash from survey_tokens where state != 'free' order by rowid")]
        token_scores += sum(1 for position, n in enumerate(truth) if slots[position] == token_hash(tokens[n]))
    scores["token slots, sending order"] = token_scores
    print("correct links over", TRIALS, "trials:", scores)
    leaks = {name: score for name, score in scores.items() if score >= LEAK_AT}
    assert leaks == {}, f"correct links over {TRIALS} trials (chance is about {TRIALS}): {scores}"


def test_the_attacks_find_a_leak_when_there_is_one(tmp_path: Path):
    """Rows written one per answer, in answer order, with random keys and
    WITHOUT ROWID (the layout this replaced): the byte-offset attack links
    every answer."""
    rng = random.Random(5)
    score = 0
    for trial in range(TRIALS):
        truth = list(range(PEOPLE))
        rng.shuffle(truth)
        path = tmp_path / f"leaky-{trial}.db"
        with sqlite3.connect(path) as conn:
            conn.execute("create table answers (id text primary key, body blob) without rowid")
            for n in truth:
                conn.execute("insert into answers values (?, ?)", [random.randbytes(16).hex(), struct.pack(">I", 0) + note_of(n).encode()])
        guess = by_byte_offset(path)
        score += max(correct_links(guess, truth), correct_links(guess[::-1], truth))
    assert score >= LEAK_AT


async def test_answering_moves_nothing_in_the_file(tmp_path: Path):
    """Every page a round uses, how many rows it holds and how full it is,
    are the same after five answers as when the round opened: answers only
    overwrite values in place, with values of the same size."""
    runtime = await build_runtime(make_settings(tmp_path), now=Clock())

    def layout():
        return runtime.store.db.execute(
            "select name, pageno, ncell, payload, unused from dbstat "
            "where name like 'survey_%' and name not in ('survey_summaries', 'survey_members', 'survey_teams') order by name, pageno"
        ).fetchall()

    try:
        people = [Chat(runtime, user=f"u-{n}", team="north") for n in range(PEOPLE)]
        for chat in people:
            await chat.say("/checkin settings")
        for reply in await runtime.engine.intent("checkin").prompt("north", runtime.engine.system_context()):
            await runtime.courier.send(reply)
        await runtime.courier.deliver_due()
        opened = await runtime.store.run(layout)
        assert opened
        for n, chat in enumerate(people):
            [invitation] = runtime.courier.local.take_unseen(f"u-{n}")
            chat.channel._buttons = [(c["label"], c["action"], c["value"]) for c in invitation["choices"]]
            await chat.say("Start check-in")
            for answer in ("5", "1", "3", "a note " * (n * 10)):
                await chat.say(answer)
            await chat.say("Send")
        assert await runtime.store.surveys.response_count("checkin:north:2026-W48") == PEOPLE
        assert await runtime.store.run(layout) == opened
    finally:
        await runtime.close()


async def test_a_round_open_at_upgrade_keeps_its_answers_and_tokens(tmp_path: Path):
    """The old one-row-per-answer tables are folded into the new layout."""
    import json

    from sqlite_utils import Database

    from bot.store import Store
    from bot.store.migrations import migrations
    from bot.store.surveys import TokenError, token_hash

    path = tmp_path / "old.db"
    db = Database(sqlite3.connect(path, isolation_level=None))
    migrations.apply(db, stop_before="0010_surveys_allocated_at_open")
    db["survey_teams"].insert({"name": "north", "weekday": "wed", "hour": 10, "tz": "UTC"})
    for n in range(3):
        db["survey_members"].insert({"team": "north", "via": "terminal", "user_id": f"u-{n}", "tz": None, "prompts": "on", "snoozed_until": None})
    db["survey_rounds"].insert({"id": "checkin:north:2026-W48", "instrument": "checkin", "team": "north", "label": "2026-W48",
                                "opens_at": "2026-11-23T15:00:00+00:00", "closes_at": "2026-11-30T08:00:00+00:00", "status": "open"})
    for n in range(2):
        db.execute("insert into survey_issued values (?, 'terminal', ?)", ["checkin:north:2026-W48", f"u-{n}"])
    db.execute("insert into survey_tokens values (?, ?, 1)", [token_hash("old-used"), "checkin:north:2026-W48"])
    db.execute("insert into survey_tokens values (?, ?, 0)", [token_hash("old-waiting"), "checkin:north:2026-W48"])
    db.execute("insert into survey_responses values ('r1', 'checkin:north:2026-W48', ?)", [json.dumps({"energy": 4, "note": "kept across"})])
    db.conn.close()

    store = await Store.open(path)
    try:
        surveys = store.surveys
        assert await surveys.response_count("checkin:north:2026-W48") == 1
        assert (await surveys.check_token("old-waiting")).id == "checkin:north:2026-W48"
        await surveys.redeem("old-waiting", {"energy": 2}, {"note": 500})
        # The third member had not been sent it yet, and still can be.
        assert list(await surveys.issue("checkin:north:2026-W48", [("terminal", "u-2"), ("terminal", "u-0")])) == [("terminal", "u-2")]
        closing = await surveys.close("checkin:north:2026-W48", 2, lambda t: {"counts": t.counts["energy"], "notes": t.notes}, Clock()())
        assert closing.row["count"] == 2
        assert json.loads(closing.row["summary"]) == {"counts": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0}, "notes": {"note": ["kept across"]}}
        tables = await store.run(lambda: {r[0] for r in store.db.execute("select name from sqlite_master where type = 'table'")})
        assert not {t for t in tables if t.startswith("legacy_")} and "survey_responses" not in tables
    finally:
        await store.close()


# -- anonymous concerns --------------------------------------------------------


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = 0
    for k in range(8):
        byte = data[at + k]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + k + 1
    return (value << 8) | data[at + 8], at + 9


def _record(payload: bytes) -> list[object]:
    """The values of a record, as far as the bytes on this page go."""
    size, at = _varint(payload, 0)
    types = []
    while at < size:
        kind, at = _varint(payload, at)
        types.append(kind)
    values: list[object] = []
    at = size
    for kind in types:
        width = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8, 7: 8, 8: 0, 9: 0}.get(kind, (kind - 12) // 2 if kind >= 12 else 0)
        chunk = payload[at:at + width]
        if kind >= 13 and kind % 2:
            values.append(chunk.decode("utf-8", "replace"))
        elif 1 <= kind <= 6:
            values.append(int.from_bytes(chunk, "big", signed=True))
        else:
            values.append(kind if kind in (8, 9) else None)
        at += width
    return values


def cells_in_write_order(copy: Path, table: str) -> list[str]:
    """Every cell of ``table`` (and of its WITHOUT ROWID key), read from the
    raw pages, in the order an attacker would guess they were written: page
    by page, and inside a page from the highest byte offset down (SQLite
    fills a page's cell area from its end). Each as its rowid and values."""
    with sqlite3.connect(copy) as conn:
        page_size = conn.execute("pragma page_size").fetchone()[0]
        pages = sorted(p for (p,) in conn.execute("select pageno from dbstat where name = ? and pagetype != 'overflow'", [table]))
    data = copy.read_bytes()
    usable = page_size
    found = []
    for page in pages:
        base = (page - 1) * page_size
        header = base + (100 if page == 1 else 0)
        kind = data[header]
        count = int.from_bytes(data[header + 3:header + 5], "big")
        first = header + (12 if kind in (2, 5) else 8)
        for i in range(count):
            offset = int.from_bytes(data[first + 2 * i:first + 2 * i + 2], "big")
            at = base + offset + (4 if kind in (2, 5) else 0)
            if kind == 5:
                continue  # interior table cells hold only rowids
            size, at = _varint(data, at)
            rowid = None
            if kind == 13:
                rowid, at = _varint(data, at)
                local_max = usable - 35
            else:
                local_max = (usable - 12) * 64 // 255 - 23
            low = (usable - 12) * 32 // 255 - 23
            local = size if size <= local_max else (low + (size - low) % (usable - 4) if low + (size - low) % (usable - 4) <= local_max else low)
            values = _record(data[at:at + local])
            found.append((pages.index(page), -offset, " ".join(str(v) for v in [rowid, *values])))
    return [text for *_, text in sorted(found)]


async def test_anonymous_concerns_carry_only_coarse_times_and_no_shared_sequence(tmp_path: Path):
    """Named and anonymous concerns raised in turn, three minutes apart (a
    weekday, 09:00 to 11:00 in the bot's time zone). An anonymous concern's
    own times are the hour; and ordering audit events by id and reading the
    nearest named concern's exact time gives no better a guess than chance."""
    from tests.test_concerns import KEY, raise_concern, ref_of

    clock = Clock(dt.datetime(2026, 11, 24, 14, 1, 30, tzinfo=dt.timezone.utc))  # Tue 09:01:30 New York
    settings = make_settings(tmp_path, supervisors="u-sam", concern_key=KEY, concern_daily_limit=50)
    runtime = await build_runtime(settings, now=clock)
    anonymous: dict[str, dt.datetime] = {}
    try:
        for n in range(40):
            chat = Chat(runtime, user=f"u-{n}", name=f"Person {n}", team=None)
            ref = ref_of(await raise_concern(chat, anonymous=n % 2 == 1, text=f"Concern number {n}."))
            if n % 2:
                anonymous[ref] = clock()
            clock.advance(minutes=3)
        rows = {r["ref"]: r for r in await runtime.store.concerns.listing()}
        events = await runtime.store.run(lambda: runtime.store.db.execute("select id, ref, at, what from every_concern_event").fetchall())
    finally:
        await runtime.close()

    for ref, true_time in anonymous.items():
        row = rows[ref]
        for stamp in (row["created_at"], row["released_at"], *[at for _, r, at, _ in events if r == ref]):
            moment = dt.datetime.fromisoformat(stamp)
            assert moment.minute == 0 and moment.second == 0, stamp
            assert dt.timedelta(0) <= true_time - moment < dt.timedelta(hours=1)
    # The attacker: every event sorted by id; an anonymous "raised" event is
    # dated by the named "raised" event just before it in that order.
    raised = sorted((event_id, ref, at) for event_id, ref, at, what in events if what == "raised")
    close_guesses = 0
    for position, (_, ref, _) in enumerate(raised):
        if ref not in anonymous:
            continue
        before = [at for _, r, at in raised[:position] if r not in anonymous]
        if before and abs(dt.datetime.fromisoformat(before[-1]) - anonymous[ref]) <= dt.timedelta(minutes=3):
            close_guesses += 1
    # A shared sequence dates all 20 to within three minutes; random ids
    # about 2 (the chance that the named neighbour is an adjacent one).
    assert close_guesses < 10, close_guesses


ANY_REF = re.compile(r"\b([A-HJKMNP-Z2-9]{6})\b")


def orderings(copy: Path) -> dict[str, list[list[str]]]:
    """Every order the copy offers, per table: rowids (where there are
    any) and cells in the order they were written; each row as the
    references it mentions."""
    with sqlite3.connect(copy) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'")]
        found: dict[str, list[list[str]]] = {}
        for table in tables:
            found[f"{table} by cell"] = [ANY_REF.findall(text) for text in cells_in_write_order(copy, table)]
            try:
                rows = conn.execute(f"select * from {table} order by rowid").fetchall()
            except sqlite3.OperationalError:
                continue  # WITHOUT ROWID: no rowids to order by
            found[f"{table} by rowid"] = [ANY_REF.findall(" ".join(map(str, row))) for row in rows]
    return found


def dated(order: list[list[str]], target: str, known: dict[str, tuple[dt.datetime, dt.datetime]]) -> tuple[dt.datetime, dt.datetime] | None:
    """The window an attacker puts ``target`` in from one ordering: after
    the latest known time written before it, before the earliest written
    after it. ``known`` is every time the attacker can read, as a window
    (an exact time is a window of no width; a coarse one its hour)."""
    where = [i for i, refs in enumerate(order) if target in refs]
    if not where:
        return None
    first, last = where[0], where[-1]
    before = [known[r][0] for refs in order[:first] for r in refs if r in known and r != target]
    after = [known[r][1] for refs in order[last + 1:] for r in refs if r in known and r != target]
    low, high = known[target]
    return max([low, *before]), min([high, *after])


async def test_no_table_order_or_delivery_time_dates_an_anonymous_concern_finer_than_its_hour(tmp_path: Path):
    """The attacker holds a copy of the file (and its log), taken mid-run,
    and knows when every named concern was
    raised (its exact time is stored) and that named and anonymous ones
    were raised in turn. For each anonymous concern they take the rows that
    were written just before and after anything that mentions it, in every
    table, by rowid and by cell order inside the pages, and read the
    times there. None of that narrows an anonymous concern below its hour;
    the same attack dates most named concerns to within 15 minutes, which
    shows it works (and the layout before scored 42 of 57 anonymous ones)."""
    from tests.test_concerns import KEY, raise_concern, ref_of

    rng = random.Random(11)
    clock = Clock(dt.datetime(2026, 11, 24, 14, 1, 30, tzinfo=dt.timezone.utc))  # Tue 09:01:30 New York
    runtime = await build_runtime(make_settings(tmp_path, supervisors="u-sam", concern_key=KEY, concern_daily_limit=50), now=clock)
    truth: dict[str, tuple[bool, dt.datetime]] = {}
    copy = tmp_path / "copy.db"
    try:
        for n in range(40):
            anonymous = n % 2 == 1 if n < 36 else rng.random() < 0.5
            chat = Chat(runtime, user=f"u-{n}", name=f"Person {n}", team=None)
            ref = ref_of(await raise_concern(chat, anonymous=anonymous, text=f"Concern number {n}."))
            truth[ref] = (anonymous, clock())
            await runtime.courier.deliver_due()
            clock.advance(minutes=rng.randint(1, 5), seconds=rng.randint(0, 59))
        shutil.copyfile(runtime.settings.db, copy)
        wal = Path(f"{runtime.settings.db}-wal")
        if wal.exists():
            shutil.copyfile(wal, copy.with_name("copy.db-wal"))
        outbox = await runtime.store.run(lambda: runtime.store.db.execute("select key, state from every_outbox").fetchall())
    finally:
        await runtime.close()
    with sqlite3.connect(copy) as conn:
        conn.execute("pragma wal_checkpoint(TRUNCATE)")
        stored = {ref: (named, dt.datetime.fromisoformat(at)) for ref, named, at in conn.execute("select ref, named, created_at from every_concern")}
        jobs = conn.execute("select id, next_run_at from every_job where kind = 'concern:escalate'").fetchall()
        shared_jobs = [r[0] for r in conn.execute("select id from scheduled_jobs")]
        deliveries = conn.execute("select key, created_at, next_attempt_at, state from every_outbox where key like 'concern:%'").fetchall()
    anonymous = [ref for ref, (anon, _) in truth.items() if anon]
    assert len(anonymous) >= 18 and outbox

    hour = dt.timedelta(hours=1)
    # What the attacker can read: named concerns' exact times, anonymous
    # ones' hours.
    known = {ref: (at, at) if named else (at, at + hour) for ref, (named, at) in stored.items()}
    orders = orderings(copy)
    for ref in anonymous:
        start = stored[ref][1]
        assert start <= truth[ref][1] < start + hour
        for name, order in orders.items():
            window = dated(order, ref, known)
            if window is None:
                continue
            low, high = window
            # Either the neighbours say nothing beyond the hour, or what
            # they say is wrong (the window is empty): never a finer window
            # that holds the true time.
            assert (low, high) == (start, start + hour) or low > high or not low <= truth[ref][1] <= high, (name, ref, window)
    # The attacker's tools work: named concerns, dated the same way from
    # the same orderings, come out within minutes.
    named_close = 0
    for ref, (anon, true_time) in truth.items():
        if anon:
            continue
        others = {r: k for r, k in known.items() if r != ref}
        windows = [dated(order, ref, {**others, ref: (true_time - hour, true_time + hour)}) for order in orders.values()]
        named_close += any(w and w[0] <= true_time <= w[1] and w[1] - w[0] <= dt.timedelta(minutes=15) for w in windows)
    assert named_close >= (len(truth) - len(anonymous)) // 2, named_close  # 14 of 21 with this seed

    # No delivery or job of an anonymous concern keeps an exact time: a
    # waiting post has the hour, a delivered one none; its escalation job
    # is due on an hour, and kept apart from the named ones'.
    for key, created, next_attempt, state in deliveries:
        ref = key.split(":")[1]
        if ref not in anonymous:
            continue
        if state == "delivered":
            assert (created, next_attempt) == ("", ""), key
        else:
            assert created == next_attempt == stored[ref][1].isoformat(), key
    assert len(jobs) == len(truth)
    for job, due in jobs:
        if job.split(":")[1] in anonymous:
            assert due.endswith(":00:00.000000Z") and job not in shared_jobs, (job, due)


async def test_a_waiting_anonymous_delivery_keeps_only_its_hour_and_no_time_once_delivered(tmp_path: Path):
    from bot.store import Store

    store = await Store.open(tmp_path / "peerbot.db")
    exact = dt.datetime(2026, 11, 24, 14, 37, 12, tzinfo=dt.timezone.utc)
    hour = exact.replace(minute=0, second=0)
    times = "select id, created_at, next_attempt_at, ref from every_outbox where key = 'concern:K7Q2MX:post'"
    try:
        assert await store.outbox.enqueue("concern:K7Q2MX:post", "local", "channel", "supervisors", {}, exact, "concern:K7Q2MX", hour)
        assert not await store.outbox.enqueue("concern:K7Q2MX:post", "local", "channel", "supervisors", {}, exact, "concern:K7Q2MX", hour)
        item_id, *waiting = await store.run(lambda: store.db.execute(times).fetchone())
        [due] = await store.outbox.due(exact)
        assert due.id == item_id < 0 and waiting == [hour.isoformat(), hour.isoformat(), ""]
        assert await store.outbox.claim(item_id, exact, exact + dt.timedelta(minutes=2))
        assert not await store.outbox.claim(item_id, exact, exact + dt.timedelta(minutes=2))
        await store.outbox.retry_later(item_id, 1, exact + dt.timedelta(seconds=30), "boom")
        retry = await store.run(lambda: store.db.execute(times).fetchone())
        assert retry[1:] == (hour.isoformat(), hour.isoformat(), "")
        assert await store.outbox.claim(item_id, exact, exact + dt.timedelta(minutes=2))
        await store.outbox.mark_delivered(item_id, "1764000090.000100")
        gone = await store.run(lambda: store.db.execute(times).fetchone())
        in_shared = await store.run(lambda: store.db.execute("select count(*) from outbox").fetchone()[0])
    finally:
        await store.close()
    assert gone[1:] == ("", "", "") and in_shared == 0


async def test_anonymous_concerns_stored_before_are_moved_apart_and_leave_no_trace(tmp_path: Path):
    """A file from before the anonymous shelf: named and anonymous concerns
    in one table, in the order raised. Opening it moves the anonymous ones
    (with their trail, deliveries and posts) apart; they read as before,
    the named table's rowids close up, and their text is in the file once."""
    from bot.store import Store
    from bot.store.core import _Database
    from bot.store.migrations import migrations

    path = tmp_path / "old.db"
    db = _Database(sqlite3.connect(path, isolation_level=None))
    db.execute("PRAGMA journal_mode = WAL")
    migrations.apply(db, stop_before=["0020_anonymous_concerns_apart"])
    at = dt.datetime(2026, 11, 24, 14, 1, 30, tzinfo=dt.timezone.utc)
    refs = []
    for n in range(12):
        ref, named, when = f"R{n:02d}AAA".replace("0", "Q").replace("1", "W"), int(n % 3 == 0), (at + dt.timedelta(minutes=3 * n)).isoformat()
        refs.append((ref, named))
        db["concerns"].insert({"ref": ref, "category": "workload", "body": f"old text zq{n:02d}qz", "named": named, "state": "open",
                               "created_at": when, "released_at": when, "destination": "supervisors"})
        db["concern_events"].insert({"id": 1000 + n, "ref": ref, "seq": 1, "at": when, "who": "the reporter", "what": "raised"})
        db["outbox"].insert({"key": f"concern:{ref}:post", "via": "local", "address_kind": "channel", "address_id": "supervisors",
                             "reply": "{}", "state": "delivered", "attempts": 1, "next_attempt_at": when, "ref": "x",
                             "last_error": "", "created_at": when})
        db["posted"].insert({"via": "local", "address_kind": "channel", "address_id": "supervisors", "key": f"concern:{ref}", "ref": "x"})
    db.close()

    store = await Store.open(path)
    try:
        everything = {r["ref"]: r for r in await store.concerns.listing()}
        trail = {ref: await store.concerns.events(ref) for ref, _ in refs}
        rows = await store.run(lambda: {
            t: store.db.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("concerns", "anonymous_concerns", "anonymous_concern_events", "anonymous_outbox", "anonymous_posted", "outbox", "posted")
        })
        rowids = await store.run(lambda: [r[0] for r in store.db.execute("select rowid from concerns order by rowid")])
        outbox_ids = await store.run(lambda: [r[0] for r in store.db.execute("select id from outbox order by id")])
        unqueued = await store.concerns.unqueued()
        moved = await store.run(lambda: store.db.execute("select created_at, next_attempt_at from anonymous_outbox").fetchall())
    finally:
        await store.close()
    assert set(everything) == {ref for ref, _ in refs}
    assert all(len(trail[ref]) == 1 and trail[ref][0]["what"] == "raised" for ref, _ in refs)
    assert rows == {"concerns": 4, "anonymous_concerns": 8, "anonymous_concern_events": 8, "anonymous_outbox": 8,
                    "anonymous_posted": 8, "outbox": 4, "posted": 4}
    assert rowids == [1, 2, 3, 4] and outbox_ids == [1, 2, 3, 4]
    assert unqueued == [] and set(moved) == {("", "")}
    data = path.read_bytes()
    for n in range(12):
        assert data.count(f"old text zq{n:02d}qz".encode()) == 1, n


def test_an_anonymous_reporters_moment_is_the_hour_in_business_hours_and_the_day_outside():
    from bot.store.concerns import reporter_moment

    ny = "America/New_York"
    at = lambda *args: dt.datetime(*args, tzinfo=dt.timezone.utc)  # noqa: E731
    assert reporter_moment(at(2026, 11, 24, 14, 37, 12), ny) == at(2026, 11, 24, 14, 0)    # Tue 09:37 -> 09:00
    assert reporter_moment(at(2026, 11, 24, 23, 59, 59), ny) == at(2026, 11, 24, 23, 0)    # Tue 18:59 -> 18:00
    assert reporter_moment(at(2026, 11, 25, 1, 15), ny) == at(2026, 11, 24, 5, 0)          # Tue 20:15 -> Tue midnight
    assert reporter_moment(at(2026, 11, 28, 15, 0), ny) == at(2026, 11, 28, 5, 0)          # Saturday -> its midnight
    assert reporter_moment(at(2026, 3, 8, 16, 30), ny) == at(2026, 3, 8, 5, 0)             # DST day: local midnight, EST


# -- single copies with the -shm, and a reader holding the log ----------------


def shm_pages(shm: Path) -> list[int]:
    """The page numbers the wal-index lists: the pages of the writes since
    the log was last reset (the first hash block's page array, frame order)."""
    data = shm.read_bytes()
    numbers = struct.unpack_from("<4062I", data, 136) if len(data) >= 136 + 4 * 4062 else ()
    return [p for p in numbers if p]


async def copies_after_each_answer(folder: Path, answer_order: list[int], **settings) -> tuple[list[Path], "object"]:
    """A round of ``len(answer_order)``, everyone sent the form at once;
    after each answer a copy of the database, its log and its -shm, as a
    backup tool would take. Returns the copies and the round's summary."""
    folder.mkdir()
    runtime = await build_runtime(make_settings(folder, **settings), now=Clock())
    copies = []
    try:
        people = {n: Chat(runtime, user=f"u-person-{n}", name=f"Person {n}", team="north") for n in answer_order}
        for n in answer_order:
            await people[n].say("/checkin settings")
        for reply in await runtime.engine.intent("checkin").prompt("north", runtime.engine.system_context()):
            await runtime.courier.send(reply)
        for position, n in enumerate(answer_order):
            chat = people[n]
            [invitation] = [m for m in runtime.courier.local.take_unseen(f"u-person-{n}") if m.get("choices")][-1:]
            chat.channel._buttons = [(c["label"], c["action"], c["value"]) for c in invitation["choices"]]
            await chat.say("Start check-in")
            for answer in (str(1 + n % 5), str(1 + n % 4), str(1 + n % 5), note_of(n)):
                await chat.say(answer)
            assert "Thank you" in await chat.say("Send")
            copy = folder / f"after-{position}" / "copy.db"
            copy.parent.mkdir()
            for suffix in ("", "-wal", "-shm"):
                source = Path(f"{runtime.settings.db}{suffix}")
                if source.exists():
                    shutil.copyfile(source, f"{copy}{suffix}")
            copies.append(copy)
        [round_] = await runtime.store.surveys.open_rounds("north")
        closing = await runtime.store.surveys.close(round_.id, runtime.settings.min_group, lambda t: {"t": t.__dict__}, runtime.engine.system_context().now())
        return copies, closing
    finally:
        await runtime.close()


def answers_in(copy: Path) -> tuple[int, list[tuple], list[bytes]]:
    """What a copy holds of the round: the answer count, every count cell
    and every note slot, as the attacker reads them."""
    with sqlite3.connect(copy) as conn:
        cells = conn.execute("select id, item, point, n from survey_tallies order by id").fetchall()
        notes = [body for (body,) in conn.execute("select body from survey_notes where state = 'used' order by id")]
    answered = next(n for _, item, _, n in cells if item == "*") - (1 << 40)
    return answered, [c[:3] + (c[3],) for c in cells], notes


async def test_two_copies_either_side_of_one_answer_show_nothing_of_it(tmp_path: Path):
    """The attacker takes a copy after every answer (hourly backups, say)
    and knows from the chat platform who answered in between. Answers reach
    the file only in groups of at least the minimum group (3 here): any two
    copies are identical in every count and note, or differ by a whole
    group. Each group's write touches the same pages (the -shm lists them),
    the log is empty in every copy, and the person left over when the round
    closes is counted at close without ever being written."""
    rng = random.Random(23)
    for trial in range(4):
        truth = list(range(7))
        rng.shuffle(truth)
        copies, closing = await copies_after_each_answer(tmp_path / f"trial-{trial}", truth, min_group=3)
        seen = [answers_in(copy) for copy in copies]
        assert [answered for answered, _, _ in seen] == [0, 0, 3, 3, 3, 6, 6]
        for before, after in zip(seen, seen[1:]):
            if before[0] == after[0]:
                assert before[1:] == after[1:], "a copy changed without a whole group of answers"
        assert all(log_of(copy) == b"" for copy in copies)
        assert not any(note_of(n).encode() in copies[1].read_bytes() for n in range(7))
        written = [set(shm_pages(Path(f"{copies[i]}-shm"))) for i in (2, 5)]
        assert written[0] == written[1], "the two group writes touched different pages"
        assert closing.first and closing.row["count"] == 7
        notes = json.loads(closing.row["summary"])["t"]["notes"]["note"]
        assert sorted(notes) == sorted(note_of(n) for n in range(7))


async def test_while_a_reader_holds_the_log_answers_wait_in_memory_and_go_in_together_after(tmp_path: Path, caplog):
    """An open sqlite3 shell or a backup tool holds the log, so a group
    written now would stay in it. The group waits in memory (each person
    hears "Thank you" at once, nothing of theirs reaches the file, and the
    one line logged holds no answer), and goes in with the next answer
    after the reader lets go, the log emptied after."""
    import logging
    import time

    runtime = await build_runtime(make_settings(tmp_path, min_group=3), now=Clock())
    reader = None
    try:
        chats = [Chat(runtime, user=f"u-{n}", team="north") for n in range(4)]
        for chat in chats:
            await chat.say("/checkin settings")

        async def answer(n: int) -> str:
            await chats[n].say("/checkin")
            await chats[n].say("Start check-in")
            for said in ("4", "2", "3", note_of(n)):
                await chats[n].say(said)
            return await chats[n].say("Send")

        reader = sqlite3.connect(runtime.settings.db, isolation_level=None)
        reader.execute("begin")
        reader.execute("select count(*) from survey_rounds").fetchone()
        caplog.clear()
        started = time.monotonic()
        with caplog.at_level(logging.WARNING):
            for n in range(3):
                assert "Thank you" in await answer(n)
        assert time.monotonic() - started < 6  # not the 50 s of busy timeouts
        round_id = (await runtime.store.surveys.open_rounds("north"))[0].id
        assert await runtime.store.surveys.response_count(round_id) == 3
        files = b"".join(Path(f"{runtime.settings.db}{s}").read_bytes() for s in ("", "-wal") if Path(f"{runtime.settings.db}{s}").exists())
        assert not any(note_of(n).encode() in files for n in range(3))
        assert "u-0" not in caplog.text and not any(note_of(n) in caplog.text for n in range(3))
        token = runtime.courier.local.feed(Address(kind="user", id="u-0"))[-1]["choices"][0]["value"]
        with pytest.raises(TokenError) as second:  # a second Send while it waits is still one answer
            await runtime.store.surveys.redeem(token, {"energy": 1}, {"note": 500}, together=3)
        assert second.value.reason == "used"

        reader.close()
        reader = None
        assert "Thank you" in await answer(3)
        assert await runtime.store.surveys.response_count(round_id) == 4
        assert log_of(Path(runtime.settings.db)) == b""
        assert all(note_of(n).encode() in Path(runtime.settings.db).read_bytes() for n in range(4))
    finally:
        if reader:
            reader.close()
        await runtime.close()


async def test_the_log_never_holds_two_answers(tmp_path: Path):
    """The narrow case: a reader starts right after the log was emptied, so
    the next answer goes in and only then can't be folded back. The answer
    after it is refused, so the log holds one answer at most (what two
    copies around one answer show anyway), never an ordered history."""
    from bot.store import Store
    from bot.store.surveys import Ballot, RecordsHeld

    path = tmp_path / "peerbot.db"
    store = await Store.open(path)
    reader = None
    try:
        surveys = store.surveys
        for n in range(4):
            await surveys.join("north", "terminal", f"u-{n}")
        await surveys.open_round("r1", "checkin", "north", "W1", "2026-11-23T15:00:00+00:00", "2026-11-30T08:00:00+00:00",
                                 Ballot(scales={"energy": [1, 2, 3]}, notes={"note": 100}))
        tokens = list((await surveys.issue("r1", [("terminal", f"u-{n}") for n in range(4)])).values())
        assert await store.run(surveys._empty_log)
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("begin")
        reader.execute("select count(*) from survey_rounds").fetchone()
        await surveys.redeem(tokens[0], {"energy": 1, "note": note_of(0)}, {"note": 100})
        for n in (1, 2):
            try:
                await surveys.redeem(tokens[n], {"energy": 2, "note": note_of(n)}, {"note": 100})
            except RecordsHeld:
                pass
            else:
                raise AssertionError("an answer went into a log that can't be emptied")
        held = log_of(path)
        assert sum(note_of(n).encode() in held for n in range(4)) <= 1
        assert await surveys.response_count("r1") == 1
        reader.close()
        reader = None
        await surveys.redeem(tokens[1], {"energy": 2, "note": note_of(1)}, {"note": 100})
        assert await surveys.response_count("r1") == 2 and log_of(path) == b""
    finally:
        if reader:
            reader.close()
        await store.close()


async def test_steps_others_take_on_an_anonymous_concern_carry_only_its_coarse_moment(tmp_path: Path):
    """A supervisor viewing, acknowledging and resolving an anonymous
    concern between raises: nothing on the anonymous shelf has an exact
    time (one would date every anonymous concern written after it)."""
    from tests.test_concerns import KEY, press, raise_concern, ref_of

    clock = Clock(dt.datetime(2026, 11, 24, 14, 1, 30, tzinfo=dt.timezone.utc))
    runtime = await build_runtime(make_settings(tmp_path, supervisors="u-sam", concern_key=KEY, concern_daily_limit=50), now=clock)
    try:
        first = ref_of(await raise_concern(Chat(runtime, user="u-1", name="One", team=None), anonymous=True))
        clock.advance(minutes=7, seconds=13)
        sam = Chat(runtime, user="u-sam", name="Sam", team=None)
        await sam.say(f"/concerns {first}")
        await press(runtime, "u-sam", "concern:ack", first, name="Sam")
        clock.advance(minutes=4)
        await sam.say(f"/concerns resolve {first} Talked it through with the team.")
        ref_of(await raise_concern(Chat(runtime, user="u-2", name="Two", team=None), anonymous=True))
        rows = await runtime.store.run(lambda: runtime.store.db.execute(
            "select what, at from anonymous_concern_events union all "
            "select 'row', coalesce(created_at, '') || coalesce(released_at, '') || coalesce(resolved_at, '') from anonymous_concerns"
        ).fetchall())
    finally:
        await runtime.close()
    assert {"viewed", "acknowledged"} <= {what for what, _ in rows}
    for what, at in rows:
        assert not re.search(r"T\d\d:(?!00:00)\d\d:\d\d", at), (what, at)
