"""Lock errors under load: N people pressing a concern's Send at the same
moment, and N `peerbot chat` processes started at once on one new file.

The burst's time is mostly the terminal's local platform (it rereads its
whole feed file for every keyed post), not the store.

Prints, for each N, how many Sends got the apology, how many
"database is locked" errors were logged, how many concerns were stored
and posted, and how long the burst took; then how many of the processes
failed.

    python benchmarks/concurrent_sends.py [--sends 16 64] [--processes 5]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.fernet import Fernet  # noqa: E402

from bot.channels.base import Address  # noqa: E402
from bot.channels.terminal import TerminalChannel  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.runtime import build_runtime  # noqa: E402


class Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.locked = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "locked" in f"{record.getMessage()} {record.exc_info!r}":
            self.locked += 1


async def say(channel: TerminalChannel, out: io.StringIO, line: str) -> str:
    start = out.tell()
    await channel.send(line)
    out.seek(start)
    printed = out.read()
    out.seek(0, io.SEEK_END)
    return printed


async def burst(n: int) -> dict[str, float]:
    errors = Errors()
    logging.getLogger().addHandler(errors)
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(
            _env_file=None, db=Path(folder) / "bench.db", supervisors="u-sam", concern_key=Fernet.generate_key().decode(), concern_daily_limit=100
        )
        runtime = await build_runtime(settings)
        try:
            people = []
            for i in range(n):
                out = io.StringIO()
                people.append((TerminalChannel(runtime.engine, runtime.courier, user=f"u-{i}", name=f"P{i}", team="north", out=out), out))

            async def to_preview(i: int) -> None:
                channel, out = people[i]
                for line in ("/concern", "Anonymously" if i % 2 else "With my name", "Workload", f"Concern {i}", "", "", ""):
                    await say(channel, out, line)

            await asyncio.gather(*(to_preview(i) for i in range(n)))
            start = time.perf_counter()
            outcomes = await asyncio.gather(*(say(channel, out, "Send") for channel, out in people), return_exceptions=True)
            took = time.perf_counter() - start
            failed = sum(isinstance(o, BaseException) or "reference is" not in o for o in outcomes)
            # Errors that escaped the engine (a delivery after the reply) count too.
            errors.locked += sum(isinstance(o, BaseException) and "locked" in repr(o) for o in outcomes)
            stored = len(await runtime.store.concerns.listing())
            await runtime.courier.deliver_due()
            posted = len(runtime.courier.local.feed(Address(kind="channel", id="supervisors")))
        finally:
            await runtime.close()
            logging.getLogger().removeHandler(errors)
    return {"failed": failed, "locked": errors.locked, "stored": stored, "posted": posted, "seconds": took}


def processes(n: int) -> tuple[int, float, list[str]]:
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PEERBOT_")}
        env["PEERBOT_DB"] = str(Path(folder) / "bench.db")
        start = time.perf_counter()
        chats = [
            subprocess.Popen([sys.executable, "-m", "bot", "chat", "--user", f"u{i}"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=folder, env=env)
            for i in range(n)
        ]
        results = [chat.communicate(b"help\n/concern\n", timeout=300) for chat in chats]
        took = time.perf_counter() - start
        why = [err.decode().strip().splitlines()[-1] for chat, (_, err) in zip(chats, results) if chat.returncode != 0 or err]
    return len(why), took, why


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--processes", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.WARNING)  # counted by Errors, not printed
    for n in args.sends:
        r = asyncio.run(burst(n))
        print(f"{n} concurrent Sends: {r['failed']:.0f} got the apology, {r['locked']:.0f} lock errors logged, "
              f"{r['stored']:.0f} stored, {r['posted']:.0f} posted ({r['seconds'] * 1000:.0f} ms for the burst)")
    failed, took, why = processes(args.processes)
    print(f"{args.processes} `peerbot chat` processes started at once on one new file: {failed} failed ({took:.1f} s for all)")
    for line in sorted(set(why)):
        print(f"  {line}")


if __name__ == "__main__":
    main()
