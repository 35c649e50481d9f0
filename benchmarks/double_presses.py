"""Exactly once, counted: double presses and killed processes.

Part one presses each button twice (or more) at the same moment, many
times, through the real engine and store: a concern's Send, Acknowledge on
its post, and a check-in's Send. It counts what a person would notice twice:
concerns stored, posts in the supervisors' channel, steps in the audit
trail, messages to the reporter, answers stored.

Part two kills a real ``peerbot chat`` process (SIGKILL) at a random moment
while it raises and delivers a concern, lets the outbox's lease on an
interrupted send run out (as two minutes would), runs the sweep a restart
runs, and counts posts per concern in the supervisors' channel.

    python benchmarks/double_presses.py [--trials 50] [--presses 2] [--kills 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.channels.base import Address  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.model import Action, Inbound  # noqa: E402
from bot.runtime import build_runtime  # noqa: E402
from tests.conftest import Chat  # noqa: E402

SORRY = "Sorry, something went wrong on my side"
CONCERN = ["/concern", "With my name", "Workload", "Third double shift this week.", "", "", ""]


def count(runtime, sql: str) -> int:
    return runtime.store.db.execute(sql).fetchone()[0]


async def one_trial(folder: Path, presses: int) -> Counter:
    settings = load_settings(_env_file=None, db=folder / "peerbot.db", supervisors="u-sam")
    runtime = await build_runtime(settings)
    extra: Counter = Counter()
    try:
        ada = Chat(runtime, user="u-ada", name="Ada", team="north")
        for line in CONCERN:
            await ada.say(line)
        [send] = [b for b in ada.channel._buttons if b[1] == "concern:send"]
        press = Inbound(channel="terminal", user="u-ada", user_name="Ada", conversation="terminal:u-ada", action=Action(id=send[1], value=send[2]))
        for replies in await asyncio.gather(*(runtime.engine.handle(press) for _ in range(presses))):
            extra["presses answered with an apology (an error)"] += any(r.text.startswith(SORRY) for r in replies)
            await ada.channel.deliver(replies)
        await asyncio.gather(*(runtime.courier.deliver_due() for _ in range(presses)))
        row = (await runtime.store.concerns.listing())[0]
        stored = await runtime.store.run(lambda: count(runtime, "select count(*) from every_concern"))
        posts = runtime.courier.local.feed(Address(kind="channel", id="supervisors"))
        extra["send: extra concerns stored"] += stored - 1
        extra["send: extra posts"] += len(posts) - 1

        sam = Chat(runtime, user="u-sam", name="Sam", team=None)
        ack = Inbound(channel="terminal", user="u-sam", user_name="Sam", conversation="terminal:u-sam", action=Action(id="concern:ack", value=row["ref"]))
        for replies in await asyncio.gather(*(runtime.engine.handle(ack) for _ in range(presses))):
            extra["presses answered with an apology (an error)"] += any(r.text.startswith(SORRY) for r in replies)
            await sam.channel.deliver(replies)
        await asyncio.gather(*(runtime.courier.deliver_due() for _ in range(presses)))
        steps = await runtime.store.run(lambda: count(runtime, "select count(*) from every_concern_event where what = 'acknowledged'"))
        told = [m for m in runtime.courier.local.feed(Address(kind="user", id="u-ada")) if "acknowledged" in m.get("text", "")]
        extra["acknowledge: extra audit events"] += steps - 1
        extra["acknowledge: extra messages to the reporter"] += len(told) - 1

        await ada.say("/checkin")
        await ada.say("Start check-in")
        for answer in ("4", "3", "2", ""):
            await ada.say(answer)
        [send] = [b for b in ada.channel._buttons if b[1] == "checkin:send"]
        press = Inbound(channel="terminal", user="anonymous", conversation="anonymous", action=Action(id=send[1], value=send[2]))
        for replies in await asyncio.gather(*(runtime.engine.handle(press) for _ in range(presses))):
            extra["presses answered with an apology (an error)"] += any(r.text.startswith(SORRY) for r in replies)
        answers = sum([await runtime.store.surveys.response_count(r.id) for r in await runtime.store.surveys.open_rounds(team="north")])
        extra["check-in send: extra answers stored"] += answers - 1
    finally:
        await runtime.close()
    return extra


def environment(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEERBOT_")}
    env.update({"PEERBOT_DB": str(folder / "peerbot.db"), "PEERBOT_SUPERVISORS": "u-sam"})
    return env


def supervisor_posts(folder: Path) -> Counter:
    feed = folder / "peerbot.local.jsonl"
    records = [json.loads(line) for line in feed.read_text().splitlines() if line.strip()] if feed.exists() else []
    return Counter(r["key"] for r in records if r["op"] == "post" and r["target"] == "supervisors")


def kill_trial(folder: Path, rng: random.Random) -> tuple[int, int, int]:
    """Returns (concerns stored, posts, posts beyond one per concern)."""
    chat = subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--user", "u-ada", "--name", "Ada"], cwd=folder, env=environment(folder),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    assert chat.stdin is not None and chat.stdout is not None
    said: list[bytes] = []
    reader = threading.Thread(target=lambda: said.extend(iter(chat.stdout.readline, b"")), daemon=True)
    reader.start()
    chat.stdin.write(("\n".join(CONCERN + ["Send"]) + "\n").encode())
    chat.stdin.flush()
    deadline = time.monotonic() + 120
    # Killed at a random moment from just before Send is handled to well
    # after the post went out: storing, queueing, claiming, posting.
    while not any(b"exactly what I'd send" in line for line in said) and time.monotonic() < deadline and chat.poll() is None:
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.4))
    chat.send_signal(signal.SIGKILL)
    chat.wait()
    with sqlite3.connect(folder / "peerbot.db", timeout=10) as conn:
        # Two minutes later: an interrupted send's lease has run out.
        conn.execute("update outbox set next_attempt_at = '2000-01-01T00:00:00+00:00' where state = 'sending'")
    # The sweep a restart runs: queues what a crash kept from the outbox, delivers what is due.
    subprocess.run([sys.executable, "-m", "bot", "concerns", "sweep"], cwd=folder, env=environment(folder), capture_output=True, timeout=120)
    with sqlite3.connect(folder / "peerbot.db") as conn:
        stored = conn.execute("select count(*) from concerns").fetchone()[0]
    posts = supervisor_posts(folder)
    return stored, sum(posts.values()), sum(n - 1 for n in posts.values())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--presses", type=int, default=2)
    parser.add_argument("--kills", type=int, default=20)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # an apology is counted below; its traceback isn't needed here

    extra: Counter = Counter()
    started = time.perf_counter()
    for _ in range(args.trials):
        with tempfile.TemporaryDirectory() as folder:
            extra += await one_trial(Path(folder), args.presses)
    print(f"double presses: {args.trials} trials, {args.presses} presses at once each ({time.perf_counter() - started:.1f} s)")
    for what in ("send: extra concerns stored", "send: extra posts", "acknowledge: extra audit events",
                 "acknowledge: extra messages to the reporter", "check-in send: extra answers stored",
                 "presses answered with an apology (an error)"):
        print(f"  {what:<45} {extra[what]}")

    rng = random.Random(11)
    stored = posted = doubled = lost = 0
    started = time.perf_counter()
    for _ in range(args.kills):
        with tempfile.TemporaryDirectory() as folder:
            s, p, d = kill_trial(Path(folder), rng)
            stored, posted, doubled, lost = stored + s, posted + p, doubled + d, lost + max(0, s - (p - d))
    print(f"kill -9 while raising and delivering a concern: {args.kills} trials ({time.perf_counter() - started:.1f} s)")
    print(f"  concerns stored {stored}, posts {posted}, posted twice {doubled}, stored but never posted {lost}")


if __name__ == "__main__":
    asyncio.run(main())
