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
import random
import re
import shutil
import sqlite3
import struct
from pathlib import Path

from bot.channels.base import Address
from bot.runtime import build_runtime
from bot.store.surveys import token_hash
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
    from bot.store.surveys import token_hash

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
        events = await runtime.store.run(lambda: runtime.store.db.execute("select id, ref, at, what from concern_events").fetchall())
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


async def copies_after_each_answer(folder: Path, answer_order: list[int]) -> list[Path]:
    """A round of five, everyone sent the form at once; after each answer a
    copy of the database, its log and its -shm, as a backup tool would take."""
    folder.mkdir()
    runtime = await build_runtime(make_settings(folder), now=Clock())
    copies = []
    try:
        people = {n: Chat(runtime, user=f"u-person-{n}", name=f"Person {n}", team="north") for n in range(PEOPLE)}
        for n in range(PEOPLE):
            await people[n].say("/checkin settings")
        for reply in await runtime.engine.intent("checkin").prompt("north", runtime.engine.system_context()):
            await runtime.courier.send(reply)
        for position, n in enumerate(answer_order):
            chat = people[n]
            [invitation] = [m for m in runtime.courier.local.take_unseen(f"u-person-{n}") if m.get("choices")][-1:]
            chat.channel._buttons = [(c["label"], c["action"], c["value"]) for c in invitation["choices"]]
            await chat.say("Start check-in")
            for answer in (str(1 + n), str(1 + n % 4), str(1 + n), note_of(n)):
                await chat.say(answer)
            assert "Thank you" in await chat.say("Send")
            copy = folder / f"after-{position}" / "copy.db"
            copy.parent.mkdir()
            for suffix in ("", "-wal", "-shm"):
                source = Path(f"{runtime.settings.db}{suffix}")
                if source.exists():
                    shutil.copyfile(source, f"{copy}{suffix}")
            copies.append(copy)
        return copies
    finally:
        await runtime.close()


async def test_a_single_copy_with_its_shm_points_to_no_particular_answer(tmp_path: Path):
    """The attacker's method (notes/attack/survey_single_copy.py, S1): the
    -shm of a copy taken after an answer lists the pages of the last write;
    the notes on those pages are the candidates for the last answerer's.
    Every answer now rewrites every count cell, note slot and token slot of
    the round, so every copy lists the same pages and the candidates are all
    the notes so far: expected correct guesses equal chance exactly. The log
    is empty in every copy, so it holds no answer either."""
    rng = random.Random(23)
    expected = chance = 0.0
    for trial in range(8):
        truth = list(range(PEOPLE))
        rng.shuffle(truth)
        copies = await copies_after_each_answer(tmp_path / f"trial-{trial}", truth)
        listed = [set(shm_pages(Path(f"{copy}-shm"))) for copy in copies]
        assert all(pages == listed[0] for pages in listed), "the pages of the last write differ between answers"
        for position, copy in enumerate(copies):
            assert log_of(copy) == b""
            data = copy.read_bytes()
            with sqlite3.connect(copy) as conn:
                page_size = conn.execute("pragma page_size").fetchone()[0]
                tally_pages = {p for (p,) in conn.execute("select pageno from dbstat where name = 'survey_tallies'")}
                notes = [_person_in(unpack_note(b)) for (b,) in conn.execute("select body from survey_notes where state = 'used'")]
            assert tally_pages <= listed[position], "a count page was left out of the write"
            candidates = [n for n in notes if data.find(note_of(n).encode()) // page_size + 1 in listed[position]]
            if position:
                expected += (truth[position] in candidates) / max(1, len(candidates))
                chance += 1 / (position + 1)
    print(f"-shm last write: {expected:.1f} expected correct, chance {chance:.1f}")
    assert expected <= chance + 1e-9


async def test_while_a_reader_holds_the_log_an_answer_is_refused_kindly_and_kept_for_later(tmp_path: Path, caplog):
    import logging
    import time

    from intents.surveying import RECORDS_HELD

    runtime = await build_runtime(make_settings(tmp_path), now=Clock())
    reader = None
    try:
        ada, bo = Chat(runtime, user="u-ada", team="north"), Chat(runtime, user="u-bo", team="north")
        for chat in (ada, bo):
            await chat.say("/checkin settings")
        await ada.say("/checkin")
        await ada.say("Start check-in")
        for answer in ("4", "2", "3", note_of(0)):
            await ada.say(answer)
        assert "Thank you" in await ada.say("Send")
        round_id = (await runtime.store.surveys.open_rounds("north"))[0].id

        reader = sqlite3.connect(runtime.settings.db, isolation_level=None)  # an open sqlite3 shell, a backup
        reader.execute("begin")
        reader.execute("select count(*) from survey_rounds").fetchone()
        await bo.say("/checkin")
        await bo.say("Start check-in")
        for answer in ("2", "3", "4", note_of(1)):
            await bo.say(answer)
        caplog.clear()
        started = time.monotonic()
        with caplog.at_level(logging.WARNING):
            said = await bo.say("Send")
        assert time.monotonic() - started < 3  # not the 50 s of busy timeouts
        assert RECORDS_HELD.split(",")[0] in said and "Thank you" not in said
        assert "you should" not in said.lower()
        assert await runtime.store.surveys.response_count(round_id) == 1
        files = b"".join(Path(f"{runtime.settings.db}{s}").read_bytes() for s in ("", "-wal") if Path(f"{runtime.settings.db}{s}").exists())
        assert note_of(1).encode() not in files
        lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(lines) == 1 and note_of(1) not in caplog.text and "u-bo" not in caplog.text

        reader.close()
        reader = None
        assert "Thank you" in await bo.say("Send")  # the same button, a minute later: the token still works
        assert await runtime.store.surveys.response_count(round_id) == 2
        assert log_of(Path(runtime.settings.db)) == b""
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
