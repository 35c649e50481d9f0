"""Versioned schema changes, applied in order at start.

Each step runs in a transaction with the record of it having run, so a
crash part-way leaves the step pending, never half-applied. Steps are only
ever added at the end; an applied step is never edited.
"""

import json
import logging

from sqlite_utils import Database, Migrations

log = logging.getLogger(__name__)

migrations = Migrations("peerbot")


@migrations(name="0001_conversations_and_deliveries")
def _conversations_and_deliveries(db: Database) -> None:
    # A half-filled form, one per person per conversation, so a restart
    # mid-form loses nothing.
    db["form_sessions"].create(
        {
            "channel": str,
            "user": str,
            "conversation": str,
            "form": str,        # the Form as JSON
            "owner": str,       # the intent that receives the submission
            "answers": str,     # JSON of the fields answered so far
            "position": int,
            "updated_at": str,
        },
        pk=("channel", "user", "conversation"),
    )
    # What the bot sent to people and named channels when no platform is
    # connected (the terminal): `peerbot feed` reads it.
    db["deliveries"].create(
        {
            "id": int,
            "kind": str,        # "user" or "channel"
            "target": str,
            "reply": str,       # Reply.describe() as JSON
            "created_at": str,
            "seen": int,
        },
        pk="id",
    )
    db["deliveries"].create_index(["kind", "target", "id"])


@migrations(name="0002_knowledge_feedback_and_gaps")
def _knowledge_feedback_and_gaps(db: Database) -> None:
    # "Was this helpful?" per entry, with no user and only the day.
    db["kb_feedback"].create({"id": int, "entry_id": str, "helpful": int, "day": str}, pk="id")
    db["kb_feedback"].create_index(["entry_id"])
    # Questions the bot could not answer, text only, for curators.
    db["kb_gaps"].create(
        {"question": str, "count": int, "likely_entry": str, "first_seen": str, "last_seen": str},
        pk="question",
    )


@migrations(name="0003_outbox")
def _outbox(db: Database) -> None:
    # Local deliveries moved out of the database into the local platform
    # file (bot/channels/local.py); the database keeps only the outbox.
    db["deliveries"].drop(ignore=True)
    # Every reply that goes somewhere other than the conversation it answers
    # is stored here before any delivery is tried, and retried until sent.
    db["outbox"].create(
        {
            "id": int,
            "key": str,             # idempotency key: one delivery per key
            "via": str,             # platform channel name
            "address_kind": str,
            "address_id": str,
            "reply": str,           # JSON; emptied once delivered
            "state": str,           # pending, sending, delivered, failed
            "attempts": int,
            "next_attempt_at": str,
            "ref": str,
            "last_error": str,
            "created_at": str,
        },
        pk="id",
        not_null={"key", "state"},
    )
    db["outbox"].create_index(["key"], unique=True)
    db["outbox"].create_index(["state", "next_attempt_at"])
    # Where a keyed post landed, so a later reply with the same key updates it.
    db["posted"].create(
        {"via": str, "address_kind": str, "address_id": str, "key": str, "ref": str},
        pk=("via", "address_kind", "address_id", "key"),
    )


@migrations(name="0004_slack_events")
def _slack_events(db: Database) -> None:
    # Slack event ids already taken, so a retried delivery is never handled
    # twice; only the id and when it arrived (bot/store/slack.py).
    db["slack_events"].create({"event_id": str, "seen_at": str}, pk="event_id")
    db["slack_events"].create_index(["seen_at"])


@migrations(name="0005_teams_conversations")
def _teams_conversations(db: Database) -> None:
    # How to reach each person on Teams: the full conversation reference
    # (service URL included) from install or first contact, and since when a
    # proactive send has found them unreachable (bot/store/teams.py).
    db["teams_people"].create(
        {"user": str, "tenant": str, "reference": str, "updated_at": str, "unreachable_since": str},
        pk="user",
    )
    # Team channels the bot has seen, and which one is bound to a named
    # channel such as "supervisors".
    db["teams_channels"].create(
        {"channel_id": str, "team": str, "name": str, "tenant": str, "reference": str, "bound_as": str, "seen_at": str},
        pk="channel_id",
    )
    db["teams_channels"].create_index(["bound_as"])


@migrations(name="0006_anonymous_surveys")
def _anonymous_surveys(db: Database) -> None:
    # Teams of peer workers and their check-in cadence (local time, IANA zone).
    db["survey_teams"].create({"name": str, "weekday": str, "hour": int, "tz": str}, pk="name")
    # Who is in a team, and how they like to be prompted. Knowing who was
    # sent a form is the most the store may know about anyone.
    db["survey_members"].create(
        {"team": str, "via": str, "user_id": str, "tz": str, "prompts": str, "snoozed_until": str},
        pk=("team", "via", "user_id"),
    )
    # A round: one check-in period or one pulse, with its instrument.
    db["survey_rounds"].create(
        {"id": str, "instrument": str, "team": str, "label": str, "opens_at": str, "closes_at": str, "status": str},
        pk="id",
    )
    db["survey_rounds"].create_index(["team", "instrument", "label"])
    # The tables below hold nothing that identifies a person, and are
    # WITHOUT ROWID, keyed by random or hashed values, so the order rows
    # sit in says nothing about when they were written.
    db.execute(
        "CREATE TABLE survey_issued (round_id TEXT NOT NULL, via TEXT NOT NULL, user_id TEXT NOT NULL, "
        "PRIMARY KEY (round_id, via, user_id)) WITHOUT ROWID"
    )
    db.execute(
        "CREATE TABLE survey_tokens (token_hash TEXT PRIMARY KEY, round_id TEXT NOT NULL, redeemed INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID"
    )
    db.execute(
        "CREATE TABLE survey_responses (id TEXT PRIMARY KEY, round_id TEXT NOT NULL, answers TEXT NOT NULL) WITHOUT ROWID"
    )
    # What a closed round released (or that it was too small to show).
    db["survey_summaries"].create(
        {"round_id": str, "team": str, "instrument": str, "label": str, "count": int, "released": int, "summary": str, "closed_at": str},
        pk="round_id",
    )
    db["survey_summaries"].create_index(["team", "instrument", "label"])


@migrations(name="0007_concerns")
def _concerns(db: Database) -> None:
    # Concerns raised with the peer supervisors (bot/store/concerns.py).
    # reporter_* are set only for named concerns; relay only for anonymous
    # ones that asked to hear back, and only encrypted (PEERBOT_CONCERN_KEY).
    db["concerns"].create(
        {
            "ref": str,
            "category": str,
            "body": str,            # what happened; emptied by the retention purge
            "named": int,
            "reporter_id": str,
            "reporter_name": str,
            "reporter_via": str,
            "follow_up": int,
            "relay": str,
            "about_supervisor": int,
            "destination": str,     # the named channel it goes to
            "team": str,            # scope drift only, to group held concerns
            "hold": int,
            "state": str,           # held, open, acknowledged, taken, resolved
            "taken_by": str,
            "resolution": str,
            "released_with": str,
            "created_at": str,
            "released_at": str,
            "escalated_at": str,
            "resolved_at": str,
            "purged_at": str,
        },
        pk="ref",
        not_null={"category", "state", "created_at"},
    )
    db["concerns"].create_index(["state"])
    db["concerns"].create_index(["category", "team", "created_at"])
    # The audit trail: who acknowledged, took, resolved, viewed, when. Never
    # the reporter's id: their own steps are written as "the reporter".
    db["concern_events"].create({"id": int, "ref": str, "at": str, "who": str, "what": str}, pk="id")
    db["concern_events"].create_index(["ref", "id"])


@migrations(name="0008_pulse_actions")
def _pulse_actions(db: Database) -> None:
    # Closing the loop: what a team agreed to change after a pulse, so the
    # next pulse can show whether that sign moved.
    db["pulse_actions"].create(
        {"id": int, "team": str, "instrument": str, "sign": str, "text": str, "agreed_on": str, "after_round": str},
        pk="id",
    )
    db["pulse_actions"].create_index(["team", "instrument"])


@migrations(name="0009_outbox_post_keys")
def _outbox_post_keys(db: Database) -> None:
    # A newer version of a keyed post (a concern's status, say) replaces an
    # older one still waiting in the outbox, so an outage can't put an old
    # status back after a new one.
    db["outbox"].add_column("post_key", str)
    db["outbox"].create_index(["via", "address_kind", "address_id", "post_key"])


@migrations(name="0010_surveys_allocated_at_open")
def _surveys_allocated_at_open(db: Database) -> None:
    """Answers as counts and pre-allocated slots (see bot/store/surveys.py):
    nothing about a round is written per answer in a new place any more.

    Rounds open at upgrade are carried over: their answers are tallied into
    the new cells and their notes moved into slots, the people already sent
    the form keep their tokens, and the old one-row-per-answer tables are
    deleted (secure_delete overwrites them)."""
    import secrets
    from random import SystemRandom

    from bot.store.surveys import ANSWERS, COUNT_BASE, note_slot_size, pack_note

    shuffle = SystemRandom().shuffle
    for old in ("survey_issued", "survey_tokens", "survey_responses"):
        db.execute(f"ALTER TABLE {old} RENAME TO legacy_{old}")
    db.execute(
        "CREATE TABLE survey_eligible (round_id TEXT NOT NULL, via TEXT NOT NULL, user_id TEXT NOT NULL, "
        "sent INTEGER NOT NULL, PRIMARY KEY (round_id, via, user_id))"
    )
    db.execute("CREATE TABLE survey_tokens (id INTEGER PRIMARY KEY, round_id TEXT NOT NULL, token_hash TEXT NOT NULL, state TEXT NOT NULL)")
    db.execute("CREATE INDEX survey_tokens_round ON survey_tokens (round_id)")
    db.execute("CREATE TABLE survey_tallies (id INTEGER PRIMARY KEY, round_id TEXT NOT NULL, item TEXT NOT NULL, point INTEGER NOT NULL, n INTEGER NOT NULL)")
    db.execute("CREATE INDEX survey_tallies_round ON survey_tallies (round_id)")
    db.execute("CREATE TABLE survey_notes (id INTEGER PRIMARY KEY, round_id TEXT NOT NULL, item TEXT NOT NULL, state TEXT NOT NULL, body BLOB NOT NULL)")
    db.execute("CREATE INDEX survey_notes_round ON survey_notes (round_id)")

    try:
        from knowledge.instruments import ItemKind, load_instruments

        bundled = load_instruments()
    except Exception:  # the store must open even if the knowledge folder doesn't load
        bundled = {}
    for round_id, instrument_id, team in db.execute("select id, instrument, team from survey_rounds where status = 'open'").fetchall():
        answers = [json.loads(r[0]) for r in db.execute("select answers from legacy_survey_responses where round_id = ?", [round_id])]
        scales: dict[str, set[int]] = {}
        notes: dict[str, int] = {}
        known = bundled.get(instrument_id)
        for item in known.items if known else []:
            if item.kind is ItemKind.scale:
                scales[item.id] = set(range(item.scale.min, item.scale.max + 1))
            else:
                notes[item.id] = item.max_length
        for answer in answers:
            for key, value in answer.items():
                if isinstance(value, int):
                    scales.setdefault(key, set()).add(value)
                else:
                    notes[key] = max(notes.get(key, 2000), len(str(value)))
        issued = [tuple(r) for r in db.execute("select via, user_id from legacy_survey_issued where round_id = ?", [round_id])]
        members = [tuple(r) for r in db.execute("select via, user_id from survey_members where team = ?", [team])]
        people = [(p, 1) for p in issued] + [(p, 0) for p in members if p not in issued]
        shuffle(people)
        for (via, user_id), sent in people:
            db.execute("insert into survey_eligible values (?, ?, ?, ?)", [round_id, via, user_id, sent])
        tokens = [(h, "used" if used else "sent") for h, used in db.execute(
            "select token_hash, redeemed from legacy_survey_tokens where round_id = ?", [round_id])]
        tokens += [(secrets.token_hex(32), "free") for _ in range(max(0, len(people) - len(tokens)))]
        shuffle(tokens)
        for digest, state in tokens:
            db.execute("insert into survey_tokens (round_id, token_hash, state) values (?, ?, ?)", [round_id, digest, state])
        cells = [(item, point) for item, points in scales.items() for point in sorted(points)] + [(ANSWERS, 0)]
        shuffle(cells)
        for item, point in cells:
            n = len(answers) if item == ANSWERS else sum(1 for a in answers if a.get(item) == point)
            db.execute("insert into survey_tallies (round_id, item, point, n) values (?, ?, ?, ?)", [round_id, item, point, COUNT_BASE + n])
        for item, chars in notes.items():
            texts = [str(a[item]) for a in answers if a.get(item) not in (None, "") and not isinstance(a.get(item), int)]
            slots = [pack_note(t, chars) for t in texts] + [secrets.token_bytes(note_slot_size(chars))
                                                          for _ in range(max(len(people), len(texts)) - len(texts))]
            states = ["used"] * len(texts) + ["free"] * (len(slots) - len(texts))
            pairs = list(zip(states, slots))
            shuffle(pairs)
            for state, body in pairs:
                db.execute("insert into survey_notes (round_id, item, state, body) values (?, ?, ?, ?)", [round_id, item, state, body])
    for old in ("survey_issued", "survey_tokens", "survey_responses"):
        db.execute(f"DELETE FROM legacy_{old}")
        db.execute(f"DROP TABLE legacy_{old}")


@migrations(name="0011_concern_events_without_a_shared_sequence")
def _concern_events_without_a_shared_sequence(db: Database) -> None:
    # Audit events get random ids from now on (bot/store/concerns.py), so an
    # anonymous concern's events sit in no sequence shared with named ones;
    # the trail is ordered by a number within each concern instead.
    db["concern_events"].add_column("seq", int)
    db.execute(
        "UPDATE concern_events SET seq = (SELECT count(*) FROM concern_events e WHERE e.ref = concern_events.ref AND e.id <= concern_events.id)"
    )
    db["concern_events"].create_index(["ref", "seq"], unique=True)


@migrations(name="0012_checkin_join_requests")
def _checkin_join_requests(db: Database) -> None:
    # Team membership comes from the organisation (an admin's roster); a
    # person asking to join is a request an admin approves or declines.
    db["survey_join_requests"].create(
        {"team": str, "via": str, "user_id": str, "name": str, "state": str, "asked_on": str},
        pk=("team", "via", "user_id"),
    )


@migrations(name="0013_scheduled_jobs")
def _scheduled_jobs(db: Database) -> None:
    # The schedule's jobs, written through the store's own connection
    # (bot/store/schedule.py) instead of APScheduler's SQLAlchemy job store,
    # which was a second writer on this file. Times are UTC text of one
    # width, so text order is time order.
    db.execute(
        "CREATE TABLE scheduled_jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL, "
        "trigger TEXT NOT NULL, next_run_at TEXT NOT NULL, version TEXT NOT NULL, lease_until TEXT, lease_owner TEXT)"
    )
    db["scheduled_jobs"].create_index(["next_run_at"])
    if db["apscheduler_jobs"].exists():
        from bot.store.legacy_jobs import carried_over

        for row in carried_over(db):
            db["scheduled_jobs"].insert(row)
        db["apscheduler_jobs"].drop()


@migrations(name="0014_attempt_limits")
def _attempt_limits(db: Database) -> None:
    # Tries per person per minute (a keyed hash, never an id), for limits
    # such as looking up a concern by its receipt (bot/store/limits.py).
    db.execute(
        "CREATE TABLE attempt_limits (bucket TEXT NOT NULL, minute TEXT NOT NULL, tries INTEGER NOT NULL, "
        "PRIMARY KEY (bucket, minute))"
    )
    db["attempt_limits"].create_index(["minute"])


@migrations(name="0015_concern_steps_once")
def _concern_steps_once(db: Database) -> None:
    # Exactly once (bot/store/concerns.py): a concern is stored once per
    # draft (the hash of its one-time draft token), and a message passed
    # between a supervisor and the reporter is recorded once per form (the
    # hash of a token the form carried). Both are random, so they carry no
    # order and name nobody. Unique indexes allow any number of NULLs, as in
    # PostgreSQL.
    db["concerns"].add_column("send_key", str)
    db["concerns"].create_index(["send_key"], unique=True)
    db["concern_events"].add_column("once_key", str)
    db["concern_events"].create_index(["once_key"], unique=True)


@migrations(name="0016_teams_activities")
def _teams_activities(db: Database) -> None:
    # Teams activities already taken, so a redelivered one (the same id in
    # the same conversation) is answered once (bot/store/teams.py). Only a
    # hash of the two ids and the hour it arrived, never who or what.
    db.execute("CREATE TABLE teams_activities (activity_key TEXT PRIMARY KEY, seen_hour TEXT NOT NULL)")
    db["teams_activities"].create_index(["seen_hour"])


@migrations(name="0017_pulse_actions_once")
def _pulse_actions_once(db: Database) -> None:
    # What a team agreed after a pulse is recorded once: the same change
    # typed twice (or sent by two replicas) is one row, and the team is told
    # once. Repeats already stored are folded into the first.
    db.execute(
        "delete from pulse_actions where id not in "
        "(select min(id) from pulse_actions group by team, instrument, after_round, sign, text)"
    )
    db["pulse_actions"].create_index(["team", "instrument", "after_round", "sign", "text"], unique=True)


@migrations(name="0018_kb_gap_numbers")
def _kb_gap_numbers(db: Database) -> None:
    # Each unanswered question keeps one number for good, so a curator's
    # `peerbot kb gaps --accept N` means the same gap however often it is
    # run, and accepting is one guarded step (accepted_as set once) instead
    # of a delete that renumbers the rest (bot/store/knowledge.py).
    db["kb_gaps"].add_column("number", int)
    db["kb_gaps"].add_column("accepted_as", str)
    db["kb_gaps"].add_column("accepted_on", str)
    rows = db.execute("select question from kb_gaps order by count desc, last_seen desc, question").fetchall()
    for number, (question,) in enumerate(rows, start=1):
        db.execute("update kb_gaps set number = ? where question = ?", [number, question])
    db["kb_gaps"].create_index(["number"], unique=True)


@migrations(name="0019_survey_cells_stirred")
def _survey_cells_stirred(db: Database) -> None:
    # Every answer rewrites every count cell and token slot of its round
    # (bot/store/surveys.py, "the same pages whatever was chosen"). SQLite
    # skips writing a page whose bytes an UPDATE leaves unchanged, so each
    # row gets a few random bytes that every answer replaces: a cell nobody
    # chose changes on disk exactly as a chosen one does. Filled here for
    # rows of rounds open at upgrade, so later rewrites keep their size.
    import secrets

    from bot.store.surveys import STIR_BYTES

    for table in ("survey_tallies", "survey_tokens"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN stir BLOB")
        for (row_id,) in db.execute(f"select id from {table}").fetchall():
            db.execute(f"update {table} set stir = ? where id = ?", [secrets.token_bytes(STIR_BYTES), row_id])


def _rebuild(db: Database, table: str, renumber: str = "") -> None:
    """Write ``table`` afresh in key order: dense rowids (no gap marks where
    a moved row was) and cells laid out in key order, not in the order they
    were once written. The old pages are freed (secure_delete zeroes them)."""
    sql = db.execute("select sql from sqlite_master where type = 'table' and name = ?", [table]).fetchone()[0]
    indexes = [r[0] for r in db.execute("select sql from sqlite_master where type = 'index' and tbl_name = ? and sql is not null", [table])]
    pk = [r[1] for r in sorted((r for r in db.execute(f"pragma table_info({table})") if r[5]), key=lambda r: r[5])]
    db.execute(f"ALTER TABLE {table} RENAME TO rebuilding_{table}")
    for name in [r[0] for r in db.execute("select name from sqlite_master where type = 'index' and tbl_name = ? and sql is not null", [f"rebuilding_{table}"])]:
        db.execute(f"DROP INDEX {name}")
    db.execute(sql)
    if renumber:  # an INTEGER PRIMARY KEY drawn afresh, dense, in its old order
        kept = ", ".join(r[1] for r in db.execute(f"pragma table_info(rebuilding_{table})") if r[1] != renumber)
        db.execute(f"INSERT INTO {table} ({kept}) SELECT {kept} FROM rebuilding_{table} ORDER BY {renumber}")
    else:
        db.execute(f"INSERT INTO {table} SELECT * FROM rebuilding_{table} ORDER BY {', '.join(pk) or 'rowid'}")
    db.execute(f"DROP TABLE rebuilding_{table}")
    for index in indexes:
        db.execute(index)


@migrations(name="0020_anonymous_concerns_apart")
def _anonymous_concerns_apart(db: Database) -> None:
    """Anonymous concerns and their trails on their own shelf (see
    bot/store/concerns.py): WITHOUT ROWID tables keyed by the random
    reference, never in a page or a sequence with named concerns' exact
    times. Those already stored are moved, and the named tables rebuilt."""
    db.execute("PRAGMA secure_delete = ON")
    columns = [r[1] for r in db.execute("pragma table_info(concerns)")]
    types = {r[1]: r[2] or "TEXT" for r in db.execute("pragma table_info(concerns)")}
    body = ", ".join(f"{c} {types[c]}" + (" NOT NULL" if c in ("category", "state", "created_at") else "") for c in columns if c != "ref")
    db.execute(f"CREATE TABLE anonymous_concerns (ref TEXT PRIMARY KEY, {body}) WITHOUT ROWID")
    db.execute("CREATE UNIQUE INDEX anonymous_concerns_send_key ON anonymous_concerns (send_key)")
    db.execute("CREATE INDEX anonymous_concerns_state ON anonymous_concerns (state)")
    db.execute(
        "CREATE TABLE anonymous_concern_events (ref TEXT NOT NULL, seq INTEGER NOT NULL, id INTEGER NOT NULL, at TEXT, who TEXT, "
        "what TEXT, once_key TEXT, PRIMARY KEY (ref, seq)) WITHOUT ROWID"
    )
    db.execute("CREATE UNIQUE INDEX anonymous_concern_events_id ON anonymous_concern_events (id)")
    db.execute("CREATE UNIQUE INDEX anonymous_concern_events_once_key ON anonymous_concern_events (once_key)")
    listed = ", ".join(columns)
    db.execute(f"INSERT INTO anonymous_concerns ({listed}) SELECT {listed} FROM concerns WHERE named = 0 ORDER BY ref")
    events = "ref, seq, id, at, who, what, once_key"
    db.execute(
        f"INSERT INTO anonymous_concern_events ({events}) SELECT {events} FROM concern_events "
        "WHERE ref IN (SELECT ref FROM anonymous_concerns) ORDER BY ref, seq"
    )
    db.execute("DELETE FROM concern_events WHERE ref IN (SELECT ref FROM anonymous_concerns)")
    db.execute("DELETE FROM concerns WHERE named = 0")
    _rebuild(db, "concerns")
    _rebuild(db, "concern_events")
    db.execute(f"CREATE VIEW every_concern AS SELECT {listed} FROM concerns UNION ALL SELECT {listed} FROM anonymous_concerns")
    db.execute(
        f"CREATE VIEW every_concern_event AS SELECT {events} FROM concern_events UNION ALL SELECT {events} FROM anonymous_concern_events"
    )
    # An anonymous concern's deliveries keep only coarse times, and none
    # once delivered (bot/store/outbox.py).
    db["outbox"].add_column("coarse", int, not_null_default=0)
    # Their deliveries, apart from named ones' (bot/store/outbox.py).
    out_cols = [r[1] for r in db.execute("pragma table_info(outbox)")]
    out_types = {r[1]: r[2] or "TEXT" for r in db.execute("pragma table_info(outbox)")}
    out_body = ", ".join(f"{c} {out_types[c]}" for c in out_cols if c not in ("key", "id"))
    db.execute(f"CREATE TABLE anonymous_outbox (key TEXT PRIMARY KEY, id INTEGER NOT NULL, seq INTEGER NOT NULL, {out_body}) WITHOUT ROWID")
    db.execute("CREATE UNIQUE INDEX anonymous_outbox_id ON anonymous_outbox (id)")
    db.execute("CREATE INDEX anonymous_outbox_due ON anonymous_outbox (state, next_attempt_at)")
    mine = "(key LIKE 'concern:%' AND substr(key, 9, 6) IN (SELECT ref FROM anonymous_concerns))"
    others = ", ".join(c for c in out_cols if c not in ("key", "id", "coarse", "created_at", "next_attempt_at", "ref"))
    db.execute(
        f"INSERT INTO anonymous_outbox (key, id, seq, coarse, created_at, next_attempt_at, ref, {others}) "
        f"SELECT key, -abs(random() % 4611686018427387903) - 1, "
        "(SELECT count(*) FROM outbox o WHERE o.post_key IS outbox.post_key AND o.id <= outbox.id), 1, "
        f"CASE WHEN state = 'delivered' THEN '' ELSE substr(created_at, 1, 13) || ':00:00+00:00' END, "
        f"CASE WHEN state = 'delivered' THEN '' ELSE substr(created_at, 1, 13) || ':00:00+00:00' END, '', {others} "
        f"FROM outbox WHERE {mine} ORDER BY key"
    )
    db.execute(f"DELETE FROM outbox WHERE {mine}")
    _rebuild(db, "outbox", renumber="id")
    listed_out = ", ".join(out_cols)
    db.execute(f"CREATE VIEW every_outbox AS SELECT {listed_out} FROM outbox UNION ALL SELECT {listed_out} FROM anonymous_outbox")
    # Where their posts landed, apart from named ones' (bot/store/outbox.py).
    db.execute(
        "CREATE TABLE anonymous_posted (via TEXT NOT NULL, address_kind TEXT NOT NULL, address_id TEXT NOT NULL, key TEXT NOT NULL, "
        "ref TEXT, PRIMARY KEY (via, address_kind, address_id, key)) WITHOUT ROWID"
    )
    moved = "(SELECT 'concern:' || ref FROM anonymous_concerns)"
    db.execute(f"INSERT INTO anonymous_posted SELECT via, address_kind, address_id, key, ref FROM posted WHERE key IN {moved}")
    db.execute(f"DELETE FROM posted WHERE key IN {moved}")
    _rebuild(db, "posted")
    db.execute("CREATE VIEW every_posted AS SELECT via, address_kind, address_id, key, ref FROM posted "
               "UNION ALL SELECT via, address_kind, address_id, key, ref FROM anonymous_posted")
    # Their escalation jobs, apart from named ones' (bot/store/schedule.py).
    db.execute(
        "CREATE TABLE anonymous_jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL, "
        "trigger TEXT NOT NULL, next_run_at TEXT NOT NULL, version TEXT NOT NULL, lease_until TEXT, lease_owner TEXT) WITHOUT ROWID"
    )
    theirs = "kind LIKE 'concern:%' AND json_extract(payload, '$.ref') IN (SELECT ref FROM anonymous_concerns)"
    db.execute(f"INSERT INTO anonymous_jobs SELECT * FROM scheduled_jobs WHERE {theirs} ORDER BY id")
    db.execute(f"DELETE FROM scheduled_jobs WHERE {theirs}")
    _rebuild(db, "scheduled_jobs")
    db.execute("CREATE VIEW every_job AS SELECT * FROM scheduled_jobs UNION ALL SELECT * FROM anonymous_jobs")


@migrations(name="0021_leases")
def _leases(db: Database) -> None:
    """Who delivers the outbox when several replicas share the database
    (bot/store/leases.py)."""
    db.execute("CREATE TABLE leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, until TEXT NOT NULL)")


@migrations(name="0022_flow_states")
def _flow_states(db: Database) -> None:
    # Sealed flow state (bot/store/flow_states.py): keyed hashes, an hour
    # and encrypted bytes, nothing else. No rowid, so no sequence says in
    # which order values were written.
    db.execute(
        "CREATE TABLE flow_states (key TEXT PRIMARY KEY, kind TEXT NOT NULL, expires_at TEXT NOT NULL, "
        "sealed BLOB NOT NULL) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX flow_states_expiry ON flow_states (expires_at)")
    db.execute("CREATE INDEX flow_states_kind ON flow_states (kind, expires_at, key)")
