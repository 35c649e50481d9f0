"""Pacing proactive sends under Teams' rate limits.

Teams throttles a bot per conversation (7 messages a second, 8 in two,
60 in thirty, 1,800 an hour) and across a whole tenant (50 a second for one
bot). A burst of scheduled check-ins to a few hundred people would run into
the tenant limit and earn 429s, so every proactive send waits here for room
in every window that applies, oldest sends falling out as time passes.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Awaitable, Callable

Window = tuple[int, float]  # at most this many sends in this many seconds

PER_CONVERSATION: tuple[Window, ...] = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))
PER_TENANT: tuple[Window, ...] = ((50, 1.0),)


class Pacer:
    def __init__(
        self,
        per_tenant: tuple[Window, ...] = PER_TENANT,
        per_conversation: tuple[Window, ...] = PER_CONVERSATION,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.per_tenant = per_tenant
        self.per_conversation = per_conversation
        self.clock = clock
        self.sleep = sleep
        self._sent: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._lock = asyncio.Lock()

    def _wait_for(self, key: str, windows: tuple[Window, ...], now: float) -> float:
        history = self._sent[key]
        longest = max(seconds for _, seconds in windows)
        while history and now - history[0] >= longest:
            history.popleft()
        wait = 0.0
        for count, seconds in windows:
            recent = [t for t in history if now - t < seconds]
            if len(recent) >= count:
                wait = max(wait, recent[-count] + seconds - now)
        return wait

    async def wait(self, tenant: str, conversation: str) -> None:
        """Return once a message to ``conversation`` in ``tenant`` may go out, and count it."""
        async with self._lock:  # one sender at a time keeps the windows honest
            while True:
                now = self.clock()
                delay = max(
                    self._wait_for(f"t:{tenant}", self.per_tenant, now),
                    self._wait_for(f"c:{conversation}", self.per_conversation, now),
                )
                if delay <= 0:
                    break
                await self.sleep(delay)
            self._sent[f"t:{tenant}"].append(now)
            self._sent[f"c:{conversation}"].append(now)
