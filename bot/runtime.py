"""Put the pieces together: settings, store, intents, engine.

Every entry point (terminal, server, one-shot commands) builds the bot the
same way through here, so they all behave alike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

from bot.channels.local import LocalPlatform, platform_file
from bot.config import Settings
from bot.courier import Courier
from bot.engine import Engine
from bot.flow_state import flow_state_for
from bot.scheduler import Schedule
from bot.store import Store
from intents import build_intents
from intents.base import utc_now


@dataclass
class Runtime:
    settings: Settings
    store: Store
    engine: Engine
    courier: Courier
    schedule: Schedule | None = None

    async def run_job(self, kind: str, payload: dict) -> None:
        """A scheduled job is due: let its intent decide, then deliver."""
        await self.courier.send_all(await self.engine.on_schedule(kind, payload))
        await self.courier.deliver_due()

    async def close(self) -> None:
        if self.schedule is not None:
            await self.schedule.stop()
        await self.store.close()


async def build_runtime(
    settings: Settings, now: Callable[[], dt.datetime] = utc_now, *, run_schedule: bool = False
) -> Runtime:
    """Open the store and build the bot. The schedule's jobs are always kept
    (so a command can plan work for later), but they only fire in a process
    that asks to run them (``peerbot serve``)."""
    store = await Store.open(settings.db)
    schedule = Schedule(store, now)
    await schedule.load()
    engine = Engine(settings, store, build_intents(), now=now, schedule=schedule, flows=flow_state_for(settings, store, now))
    courier = Courier(store, LocalPlatform(platform_file(settings.db)), now=now)
    runtime = Runtime(settings=settings, store=store, engine=engine, courier=courier, schedule=schedule)
    schedule.fallback = runtime.run_job
    schedule.start(paused=not run_schedule)
    return runtime

