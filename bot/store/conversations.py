"""Half-filled forms, so a restart mid-form loses nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.store.core import Store


@dataclass
class FormSession:
    channel: str
    user: str
    conversation: str
    form: dict[str, Any]
    owner: str
    answers: dict[str, Any]
    position: int
    updated_at: str


class FormSessions:
    def __init__(self, store: "Store"):
        self._store = store

    async def get(self, channel: str, user: str, conversation: str) -> FormSession | None:
        def read() -> FormSession | None:
            # Asked for every message, so plain SQL: sqlite-utils' table
            # lookup and rows_where read the schema first, three queries a call.
            cursor = self._store.db.execute(
                "select * from form_sessions where channel = ? and user = ? and conversation = ?", [channel, user, conversation]
            )
            found = cursor.fetchone()
            if found is None:
                return None
            row = dict(zip((column[0] for column in cursor.description), found))
            return FormSession(
                channel=row["channel"],
                user=row["user"],
                conversation=row["conversation"],
                form=json.loads(row["form"]),
                owner=row["owner"],
                answers=json.loads(row["answers"]),
                position=row["position"],
                updated_at=row["updated_at"],
            )

        return await self._store.run(read)

    async def save(self, session: FormSession) -> None:
        def write() -> None:
            self._store.db["form_sessions"].upsert(
                {
                    "channel": session.channel,
                    "user": session.user,
                    "conversation": session.conversation,
                    "form": json.dumps(session.form),
                    "owner": session.owner,
                    "answers": json.dumps(session.answers),
                    "position": session.position,
                    "updated_at": session.updated_at,
                },
                pk=("channel", "user", "conversation"),
            )

        await self._store.run(write)

    async def delete(self, channel: str, user: str, conversation: str) -> None:
        def remove() -> None:
            self._store.db.execute(
                "delete from form_sessions where channel = ? and user = ? and conversation = ?",
                [channel, user, conversation],
            )

        await self._store.run(remove)
