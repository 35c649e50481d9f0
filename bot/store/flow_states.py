"""Sealed flow state: what a person builds up over several steps, where
every replica on the database can find it (bot/flow_state.py seals it).

The store only ever sees opaque bytes: each row's key and kind are keyed
hashes made by the flow state, the value is encrypted before it arrives,
and the expiry is the hour it ends (rounded up), so a copy of the file
holds no person, no text and no exact time. Rows past their expiry are
deleted at every write (``secure_delete`` overwrites them), and each kind
keeps at most a given number, the soonest to expire going first (the one
just written always stays).

Plain SQL with ``?`` parameters only, so the same statements serve
another engine; taking a value (``take``) is one ``DELETE ... RETURNING``,
so of two replicas pressing the same button at once exactly one gets it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.store.core import Store


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


class FlowStates:
    def __init__(self, store: "Store"):
        self._store = store

    async def keep(self, key: str, kind: str, expires_at: dt.datetime, sealed: bytes, *, now: dt.datetime, limit: int) -> None:
        """Keep ``sealed`` under ``key`` (replacing what was there), erase what
        has expired, and trim ``kind`` to its ``limit``, in one transaction."""

        def write() -> None:
            db = self._store.db
            with db.atomic():
                db.execute("DELETE FROM flow_states WHERE expires_at <= ?", [_iso(now)])
                db.execute(
                    "INSERT INTO flow_states (key, kind, expires_at, sealed) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, expires_at = excluded.expires_at, sealed = excluded.sealed",
                    [key, kind, _iso(expires_at), sealed],
                )
                # The row just written stays; of the others, the first past the
                # limit (soonest to expire last) and every one before it go.
                # Ends are hours, so within one hour which go is arbitrary.
                edge = db.execute(
                    "SELECT expires_at, key FROM flow_states WHERE kind = ? AND key <> ? "
                    "ORDER BY expires_at DESC, key DESC LIMIT 1 OFFSET ?",
                    [kind, key, max(limit - 1, 0)],
                ).fetchone()
                if edge is not None:
                    db.execute(
                        "DELETE FROM flow_states WHERE kind = ? AND key <> ? AND (expires_at < ? OR (expires_at = ? AND key <= ?))",
                        [kind, key, edge[0], edge[0], edge[1]],
                    )

        await self._store.run(write)

    async def read(self, key: str) -> bytes | None:
        """What is under ``key``, ended or not: only its opener knows its exact end."""

        def select() -> bytes | None:
            found = self._store.db.execute("SELECT sealed FROM flow_states WHERE key = ?", [key]).fetchone()
            return bytes(found[0]) if found else None

        return await self._store.run(select)

    async def take(self, key: str, sealed: bytes | None = None) -> bytes | None:
        """Delete the row under ``key`` (only if it still holds ``sealed``, when
        given) and return what it held: None when another caller took it first."""

        def delete() -> bytes | None:
            if sealed is None:
                cursor = self._store.db.execute("DELETE FROM flow_states WHERE key = ? RETURNING sealed", [key])
            else:
                cursor = self._store.db.execute(
                    "DELETE FROM flow_states WHERE key = ? AND sealed = ? RETURNING sealed", [key, sealed]
                )
            found = cursor.fetchall()
            return bytes(found[0][0]) if found else None

        return await self._store.run(delete)

    async def count(self, kind: str) -> int:
        """Rows of ``kind`` (expired ones included until the next write erases them)."""
        return await self._store.run(
            lambda: int(self._store.db.execute("SELECT count(*) FROM flow_states WHERE kind = ?", [kind]).fetchone()[0])
        )
