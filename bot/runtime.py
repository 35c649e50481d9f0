"""Put the pieces together: settings, store, intents, engine.

Every entry point (terminal, server, one-shot commands) builds the bot the
same way through here, so they all behave alike.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Callable

from bot.channels.local import LocalPlatform, platform_file
from bot.config import Settings
from bot.courier import Courier
from bot.engine import Engine
from bot.store import Store
from intents import build_intents
from intents.base import utc_now


@dataclass
class Runtime:
    settings: Settings
    store: Store
    engine: Engine
    courier: Courier

    async def close(self) -> None:
        await self.store.close()


async def build_runtime(settings: Settings, now: Callable[[], dt.datetime] = utc_now) -> Runtime:
    store = await Store.open(settings.db)
    engine = Engine(settings, store, build_intents(), now=now)
    courier = Courier(store, LocalPlatform(platform_file(settings.db)), now=now)
    return Runtime(settings=settings, store=store, engine=engine, courier=courier)


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.value,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
