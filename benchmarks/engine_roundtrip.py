"""How fast is one trip through the engine, and how fast does `peerbot` start?

Prints medians and p99s measured in this one run (these machines are noisy,
so compare figures from the same run, not across runs).

    python benchmarks/engine_roundtrip.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import load_settings  # noqa: E402
from bot.model import Inbound  # noqa: E402
from bot.runtime import build_runtime  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def engine_round_trips(rounds: int, messages: list[str]) -> list[float]:
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(_env_file=None, db=Path(folder) / "bench.db")
        runtime = await build_runtime(settings)
        timings = []
        try:
            for i in range(rounds):
                msg = Inbound(channel="bench", user=f"u{i % 50}", conversation=f"c{i % 50}", text=messages[i % len(messages)])
                start = time.perf_counter()
                await runtime.engine.handle(msg)
                timings.append(time.perf_counter() - start)
        finally:
            await runtime.close()
        return timings


def cold_starts(command: list[str], runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        timings.append(time.perf_counter() - start)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--starts", type=int, default=15)
    args = parser.parse_args()

    help_trips = asyncio.run(engine_round_trips(args.rounds, ["help"]))
    print(f"engine round trip (help), {args.rounds} rounds: median {statistics.median(help_trips) * 1000:.3f} ms, "
          f"p99 {percentile(help_trips, 0.99) * 1000:.3f} ms")

    baseline = cold_starts([sys.executable, "-c", "pass"], args.starts)
    help_start = cold_starts([sys.executable, "-m", "bot", "--help"], args.starts)
    print(f"cold start `peerbot --help`, {args.starts} runs: median {statistics.median(help_start) * 1000:.0f} ms "
          f"(bare python: {statistics.median(baseline) * 1000:.0f} ms; ratio {statistics.median(help_start) / statistics.median(baseline):.1f}x)")


if __name__ == "__main__":
    main()
