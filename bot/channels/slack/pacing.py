"""Keep to Slack's pace: about one message a second per Slack channel.

Slack allows short bursts but rate-limits a channel that gets more than
about one message a second. The courier delivers a broadcast (one concern
update, many direct messages) one message at a time from its persisted
outbox, so waiting here, per channel, is enough: nothing queued is lost to
a restart, and a busy channel never holds up the others for longer than
its own turn.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Callable

REMEMBERED = 10_000


class Pacer:
    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self.clock = clock
        self._next: OrderedDict[str, float] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait(self, channel_id: str) -> None:
        """Return when a message may go to ``channel_id``, and book that slot."""
        lock = self._locks.setdefault(channel_id, asyncio.Lock())
        async with lock:
            delay = self._next.get(channel_id, 0.0) - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next[channel_id] = self.clock() + self.interval
            self._next.move_to_end(channel_id)
            while len(self._next) > REMEMBERED:  # long-idle channels need no slot
                gone, _ = self._next.popitem(last=False)
                if gone in self._locks and not self._locks[gone].locked():
                    del self._locks[gone]
