"""Each Slack event handled once, without the ack waiting for the disk.

Slack retries an event it thinks went unanswered (``X-Slack-Retry-Num``),
and Socket Mode can redeliver. An event id is claimed twice over:

- in memory, at once, before the ack: a repeat that reaches this process
  while the first delivery is still being handled is acknowledged and
  dropped with no disk or thread in the way (the ack used to wait for a
  committed insert on the store's one thread, queued behind earlier
  events' work);
- in the store, off the ack path, batched: every id that arrives while one
  batch is being written goes into the next, one transaction and one disk
  sync for the lot. The event's work waits for this durable claim and runs
  only if it won, so a retry that reaches a restarted process (or another
  replica on the same database) finds the id already taken and does
  nothing.

If the durable claim itself fails (the database unreachable), the work
still runs: Slack has its ack and will not send the event again, so
dropping it would lose what the person said.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Awaitable, Callable

log = logging.getLogger(__name__)

# Ids remembered in memory; the store remembers them for a day.
REMEMBERED = 20_000

ClaimMany = Callable[[list[str]], Awaitable[set[str]]]


class Repeats:
    def __init__(self, claim_many: ClaimMany, *, remembered: int = REMEMBERED):
        self._claim_many = claim_many
        self._remembered = remembered
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._queued: dict[str, asyncio.Future[bool]] = {}
        self._writer: asyncio.Task | None = None

    def take(self, event_id: str) -> "asyncio.Future[bool] | None":
        """None when this process has already seen the id (a repeat: drop it);
        otherwise the durable claim, True once the store says it is the first."""
        if event_id in self._seen:
            return None
        self._seen[event_id] = None
        while len(self._seen) > self._remembered:
            self._seen.popitem(last=False)
        claim: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queued[event_id] = claim
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write())
        return claim

    async def _write(self) -> None:
        """Write queued claims in batches until none are left."""
        while self._queued:
            batch, self._queued = self._queued, {}
            try:
                fresh = await self._claim_many(list(batch))
            except Exception as exc:  # the store is down: see the module's docstring
                log.warning("slack: %d event claims could not be stored (%s); handling them anyway", len(batch), exc.__class__.__name__)
                fresh = set(batch)
            for event_id, claim in batch.items():
                if not claim.done():
                    claim.set_result(event_id in fresh)

    async def drain(self) -> None:
        """Wait until every claim taken so far is written (at shutdown)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)
