"""The store: the one place in peerbot that speaks SQL.

SQLite through sqlite-utils, in WAL mode with a busy timeout. sqlite-utils
is synchronous, so every call runs on one dedicated worker thread that owns
the connection: the event loop never waits on the disk, and SQLite never
sees two threads on one connection.
"""

from bot.store.core import Store, StoreError

__all__ = ["Store", "StoreError"]
