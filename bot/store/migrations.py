"""Versioned schema changes, applied in order at start.

Each step runs in a transaction with the record of it having run, so a
crash part-way leaves the step pending, never half-applied. Steps are only
ever added at the end; an applied step is never edited.
"""

from sqlite_utils import Database, Migrations

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
