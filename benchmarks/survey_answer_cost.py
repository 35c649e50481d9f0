"""What an anonymous answer costs now that it writes every page of its round.

    python benchmarks/survey_answer_cost.py [--people 50]

A round of N people for every bundled instrument (check-in, pulses): each
answer rewrites every count cell, note slot and token slot of the round and
empties the write-ahead log before and after. Prints the median and slowest
time per answer (redeem, on the store's thread, from the caller's side).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from bot.store import Store
from intents.surveying import ballot_of, note_sizes
from knowledge.instruments import ItemKind, load_instruments


async def one_round(folder: Path, instrument, people: int) -> list[float]:
    store = await Store.open(folder / "peerbot.db")
    try:
        surveys = store.surveys
        for n in range(people):
            await surveys.join("north", "terminal", f"u-{n}")
        round_id = f"{instrument.id}:north:W1"
        await surveys.open_round(round_id, instrument.id, "north", "W1", "2026-11-23T15:00:00+00:00",
                                 "2026-11-30T08:00:00+00:00", ballot_of(instrument))
        tokens = list((await surveys.issue(round_id, [("terminal", f"u-{n}") for n in range(people)])).values())
        sizes = note_sizes(instrument)
        times = []
        for token in tokens:
            answers = {}
            for item in instrument.items:
                if item.kind is ItemKind.scale:
                    answers[item.id] = random.randint(item.scale.min, item.scale.max)
                else:
                    answers[item.id] = "a note " * random.randint(0, 20)
            started = time.perf_counter()
            await surveys.redeem(token, answers, sizes)
            times.append(time.perf_counter() - started)
        return times
    finally:
        await store.close()


async def main(people: int) -> None:
    for instrument in load_instruments().values():
        with tempfile.TemporaryDirectory() as folder:
            times = await one_round(Path(folder), instrument, people)
        notes = sum(1 for i in instrument.items if i.kind is not ItemKind.scale)
        print(f"{instrument.id}: {people} people, {notes} note item(s): per answer median {statistics.median(times) * 1000:.1f} ms, "
              f"slowest {max(times) * 1000:.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=50)
    asyncio.run(main(parser.parse_args().people))
