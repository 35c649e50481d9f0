"""The local platform: what stands in for Slack or Teams when the bot runs
in a terminal.

Direct messages and channel posts are appended to a JSON-lines file next to
the database (``peerbot.local.jsonl`` for ``peerbot.db``). It plays the part
of the chat platform's own storage, so it is deliberately not the bot's
database: a check-in token in a direct message lives here, as it would live
in Slack, and never in the store next to the person.
"""

from __future__ import annotations

import fcntl
import json
import uuid
from pathlib import Path
from typing import Any

from bot import clock
from bot.channels.base import Address
from bot.model import Reply

NAME = "local"


def platform_file(db_path: Path) -> Path:
    return Path(db_path).with_suffix(".local.jsonl")


class LocalPlatform:
    name = NAME
    shows_forms = False

    def __init__(self, path: Path):
        self.path = Path(path)
        # The file only ever grows, so what was read once is kept and only
        # the lines appended since (by this process or another) are parsed.
        self._read: list[dict[str, Any]] = []
        self._read_upto = 0
        self._read_identity: tuple[int, int] | None = None
        # (target, key) -> ref of the first post with that key there, kept
        # as the records are read, so find_posted is a lookup, not a scan.
        self._posted: dict[tuple[str, str], str] = {}

    def reaches(self, channel_name: str) -> bool:
        return True

    def _append(self, record: dict[str, Any]) -> None:
        record["at"] = clock.now().isoformat(timespec="seconds")
        with self.path.open("a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")

    def _records(self) -> list[dict[str, Any]]:
        self._catch_up()
        return list(self._read)

    def _catch_up(self) -> None:
        """Parse the lines appended since the last read (by this process or another)."""
        if not self.path.is_file():
            self._read, self._read_upto, self._read_identity, self._posted = [], 0, None, {}
            return
        with self.path.open("rb") as fh:
            fcntl.flock(fh, fcntl.LOCK_SH)
            stat = self.path.stat()
            identity = (stat.st_dev, stat.st_ino)
            if identity != self._read_identity or stat.st_size < self._read_upto:
                # a new or replaced file
                self._read, self._read_upto, self._read_identity, self._posted = [], 0, identity, {}
            fh.seek(self._read_upto)
            tail = fh.read()
        complete = tail[: tail.rfind(b"\n") + 1]  # a line still being written waits for the next read
        fresh = [json.loads(line) for line in complete.decode("utf-8").splitlines() if line.strip()]
        for record in fresh:
            if record["op"] == "post" and record.get("key") is not None:
                self._posted.setdefault((record["target"], record["key"]), record["ref"])
        self._read += fresh
        self._read_upto += len(complete)

    async def post(self, address: Address, reply: Reply, seen: bool = False) -> str:
        ref = uuid.uuid4().hex[:12]
        self._append({"op": "post", "ref": ref, "kind": address.kind, "target": address.id, "key": reply.key, "reply": reply.describe()})
        if seen:
            self._append({"op": "seen", "ref": ref, "kind": address.kind, "target": address.id})
        return ref

    async def update(self, address: Address, ref: str, reply: Reply) -> None:
        self._append({"op": "update", "ref": ref, "kind": address.kind, "target": address.id, "reply": reply.describe()})

    async def find_posted(self, address: Address, key: str) -> str | None:
        self._catch_up()
        return self._posted.get((address.id, key))

    def feed(self, address: Address) -> list[dict[str, Any]]:
        """Messages at ``address``, oldest first, each as last edited."""
        posts: dict[str, dict[str, Any]] = {}
        for record in self._records():
            if record["kind"] != address.kind or record["target"] != address.id:
                continue
            if record["op"] == "post":
                posts[record["ref"]] = {"ref": record["ref"], "created_at": record["at"], **record["reply"]}
            elif record["op"] == "update" and record["ref"] in posts:
                posts[record["ref"]].update({**record["reply"], "edited_at": record["at"]})
        return list(posts.values())

    def take_unseen(self, user: str) -> list[dict[str, Any]]:
        """Direct messages for ``user`` not shown yet; marks them shown."""
        address = Address(kind="user", id=user)
        seen = {r["ref"] for r in self._records() if r["op"] == "seen" and r["target"] == user}
        fresh = [post for post in self.feed(address) if post["ref"] not in seen]
        for post in fresh:
            self._append({"op": "seen", "ref": post["ref"], "kind": "user", "target": user})
        return fresh
