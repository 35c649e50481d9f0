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
