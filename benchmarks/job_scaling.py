"""How the scheduled jobs scale with teams, people and concerns.

    python benchmarks/job_scaling.py [--quick] [--rounds 5] [--teams 20,200] [--concerns 10000] [--people 10] [--keep DIR]

Builds one database per size: N teams of ten people (weekly check-ins on
Wednesdays at 10:00; last week's round and a first co-optation pulse
answered by five of each team and closed, so this week's summaries carry a
trend chart; this week's round prompted and answered by five, and a second
pulse running, also answered by five), and in the same file 10,000 concerns (most resolved long ago, some
acknowledged or taken, 50 fresh ones waiting with their escalation jobs),
each posted once to the supervisors' channel of the terminal platform.

Then, for each size in turn (interleaved rounds, each on a fresh copy of
the built file), it moves the clock to each job's moment and runs every due
job of that kind the way the schedule does (claim, run, plan the next run),
then delivers what they queued until the outbox is empty:

    concern:escalate   50 escalations (the same at every size)
    concern:sweep      one sweep over 10,000 concerns
    pulse:remind       one reminder per team
    checkin:close      every team's weekly close (the issue's figure)
    pulse:close        every team's pulse close
    checkin:prompt     next week's prompts: a new round per team, ten tokens each

and prints, per job, the median seconds at each size and the ratio of the
largest size to the smallest (10x the teams: linear is 10x).

Last, ``peerbot concerns list`` at 10,000 concerns: the query alone; the
command run in this process (opening the store, the query, formatting and
printing), and that minus opening and closing the store, which is the
command's own work; and the whole command as a subprocess (interpreter
start, imports, settings, the same work), with a subprocess that only
starts peerbot (``peerbot --help``) for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot import clock as bot_clock
from bot.config import load_settings
from bot.runtime import build_runtime

UTC = dt.timezone.utc
# The week everything happens in: the round of ISO week 48 opens with the
# prompts on Wednesday 25 November 2026 and closes on Monday 30 November.
BUILT_AT = dt.datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
PROMPTED_AT = dt.datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
LAST_WEEK = PROMPTED_AT - dt.timedelta(days=7)
PEOPLE = 10
ANSWERING = 5
FRESH_CONCERNS = 50
STAGES = ("concern:escalate", "concern:sweep", "pulse:remind", "checkin:close", "pulse:close", "checkin:prompt")


class Clock:
    def __init__(self, at: dt.datetime):
        self.current = at

    def __call__(self) -> dt.datetime:
        return self.current


def settings_for(db: Path):
    return load_settings(_env_file=None, db=db, supervisors="u-sam", admins="u-root", timezone="UTC", min_group=ANSWERING)


def env_for(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEERBOT_")}
    env.update(PEERBOT_DB=str(db), PEERBOT_SUPERVISORS="u-sam", PEERBOT_ADMINS="u-root", PEERBOT_TIMEZONE="UTC",
               PEERBOT_MIN_GROUP=str(ANSWERING))
    if "PEERBOT_CACHE_DIR" in os.environ:
        env["PEERBOT_CACHE_DIR"] = os.environ["PEERBOT_CACHE_DIR"]
    return env


async def drain(runtime) -> int:
    sent = 0
    while True:
        n = await runtime.courier.deliver_due()
        sent += n
        if n == 0:
            return sent


def tokens_of(replies) -> list[str]:
    return [c.value for r in replies for c in r.choices if c.action.endswith(":start") and c.value]


async def build_concerns(db: Path, count: int) -> None:
    """``count`` concerns over the last year, each posted once."""
    from intents.concern_text import CATEGORIES

    rng = random.Random(14)
    clock = Clock(BUILT_AT - dt.timedelta(days=400))
    with bot_clock.use(clock):
        runtime = await build_runtime(settings_for(db), now=clock)
        try:
            concerns = runtime.store.concerns
            categories = sorted(CATEGORIES)
            old = count - FRESH_CONCERNS
            for n in range(count):
                fresh = n >= old
                at = BUILT_AT if fresh else BUILT_AT - dt.timedelta(days=400) + dt.timedelta(minutes=int(n * 395 * 24 * 60 / max(old, 1)))
                named = rng.random() < 0.5
                fields = {
                    "category": rng.choice(categories), "body": f"concern number {n}: " + "words " * rng.randint(5, 60),
                    "named": int(named), "reporter_id": f"w-{n % 300}" if named else None,
                    "reporter_name": f"Worker {n % 300}" if named else None, "reporter_via": "terminal" if named else None,
                    "follow_up": 0, "relay": None, "about_supervisor": 0, "destination": "supervisors", "team": None,
                    "hold": 0, "state": "open",
                }
                ref = await concerns.create(fields, at)
                if not fresh:
                    roll = rng.random()
                    if roll < 0.8:
                        done = at + dt.timedelta(days=2)
                        await concerns.step(ref, "resolve", "Sam", done, resolution="talked it through", resolved_at=done.isoformat())
                    elif roll < 0.9:
                        await concerns.step(ref, "ack", "Sam", at + dt.timedelta(hours=3))
                    else:
                        await concerns.step(ref, "take", "Sam", at + dt.timedelta(hours=3), taken_by="Sam")
            # The first sweep posts every concern (none was queued yet),
            # escalates the old unacknowledged ones and purges old text.
            clock.current = BUILT_AT
            concern = runtime.engine.intent("concern")
            ctx = runtime.engine.system_context()
            for reply in await concern.sweep(ctx):
                await runtime.courier.send(reply)
            await drain(runtime)
            # The fresh ones wait with their escalation jobs, as the intent plans them.
            for row in await concerns.waiting_unacknowledged():
                concern._plan_escalation(row, ctx)
            runtime.schedule.cron("concern:sweep", "concern:sweep", {}, timezone="UTC", minute="*/10")
        finally:
            await runtime.close()


async def build_teams(db: Path, teams: int) -> None:
    """``teams`` teams of ten on the same file, with last week's check-in and
    a first pulse closed (so this week's summaries carry a trend chart), and
    this week's check-in prompted and answered, with a second pulse running."""
    from intents.surveying import note_sizes
    from knowledge.instruments import ItemKind, load_instruments

    instruments = load_instruments()
    rng = random.Random(teams)
    clock = Clock(LAST_WEEK - dt.timedelta(hours=1))

    async def ask_and_answer(days: str) -> None:
        for t in range(teams):
            team = f"team-{t:03d}"
            for instrument_id, replies in (("checkin", await checkin.prompt(team, ctx)),
                                           ("co-optation", await pulse.start(team, "co-optation", days, None, ctx))):
                instrument = instruments[instrument_id]
                for token in tokens_of(replies)[:ANSWERING]:
                    answers = {item.id: (rng.randint(item.scale.min, item.scale.max) if item.kind is ItemKind.scale
                                         else "a note " * rng.randint(0, 10)) for item in instrument.items}
                    await surveys.redeem(token, answers, note_sizes(instrument), together=ANSWERING)

    async def run_due(kind: str) -> None:
        for job in await runtime.store.run(runtime.store.jobs.due, clock.current, 100000):
            if job.kind == kind:
                await runtime.schedule._run_one(job, clock.current)
        await drain(runtime)

    with bot_clock.use(clock):
        runtime = await build_runtime(settings_for(db), now=clock)
        try:
            surveys, ctx = runtime.store.surveys, runtime.engine.system_context()
            checkin, pulse = runtime.engine.intent("checkin"), runtime.engine.intent("pulse")
            for t in range(teams):
                team = f"team-{t:03d}"
                await checkin.set_cadence(team, "wed", "10", "UTC", ctx)
                for p in range(PEOPLE):
                    await surveys.join(team, "terminal", f"{team}-p{p}")
            clock.current = LAST_WEEK
            await ask_and_answer("1")
            clock.current = LAST_WEEK + dt.timedelta(hours=12, minutes=1)
            await run_due("pulse:remind")
            clock.current = LAST_WEEK + dt.timedelta(days=1, minutes=1)
            await run_due("pulse:close")
            clock.current = dt.datetime(2026, 11, 23, 8, 1, tzinfo=UTC)  # last week's close
            await run_due("checkin:close")
            clock.current = PROMPTED_AT
            await ask_and_answer("5")
            # The prompt jobs of this week run (nobody new to send to) and plan next week's.
            await run_due("checkin:prompt")
        finally:
            await runtime.close()


def copy_db(source: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in ("", ".local.jsonl"):
        src = Path(str(source.with_suffix("")) + (suffix or ".db"))
        if src.exists():
            shutil.copy(src, folder / ("peerbot" + (suffix or ".db")))
    return folder / "peerbot.db"


class Work:
    """What the store's connection does, counted on its own thread whatever
    the machine's load: SQL statements, write transactions (a COMMIT, or a
    write outside a transaction, each one a sync of the log to disk), log
    checkpoints, and SQLite's virtual-machine instructions (in thousands:
    a query that scans more rows as the file grows shows up here)."""

    STEP = 1000

    def __init__(self) -> None:
        self.statements = self.commits = self.checkpoints = self.steps = 0

    def attach(self, conn) -> None:
        def traced(sql: str) -> None:
            self.statements += 1
            head = sql.lstrip()[:20].upper()
            if head.startswith("COMMIT") or (not conn.in_transaction and head.startswith(("INSERT", "UPDATE", "DELETE"))):
                self.commits += 1
            elif "WAL_CHECKPOINT" in head or "wal_checkpoint" in sql[:40]:
                self.checkpoints += 1

        def stepped() -> int:
            self.steps += 1
            return 0

        conn.set_trace_callback(traced)
        conn.set_progress_handler(stepped, self.STEP)

    def snapshot(self) -> tuple[int, int, int, int]:
        return self.statements, self.commits, self.checkpoints, self.steps


def warm_charts() -> None:
    """Import matplotlib and draw one figure, as a running bot has done
    before its first weekly close: not the jobs' work, paid once a process."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)


async def run_stages(db: Path) -> dict[str, tuple[float, int, int, tuple[int, ...]]]:
    """Each stage's seconds, jobs run, messages delivered and the store's
    work (statements, commits, checkpoints, thousands of VM steps), on this copy."""
    warm_charts()
    clock = Clock(PROMPTED_AT)
    out: dict[str, tuple[float, int, int, tuple[int, ...]]] = {}
    with bot_clock.use(clock):
        runtime = await build_runtime(settings_for(db), now=clock)
        try:
            store, schedule = runtime.store, runtime.schedule
            work = Work()
            await store.run(lambda: work.attach(store.db.conn))
            jobs = await store.run(store.jobs.all)
            for kind in STAGES:
                mine = [j for j in jobs if j.kind == kind]
                if not mine:
                    continue
                # The moment the jobs of this kind fall due (after the ones
                # before it): the earliest due time after the last stage.
                # (a repeating job already due, the sweep, runs now).
                later = [j.next_run_at for j in mine if j.next_run_at >= clock.current]
                if later:
                    clock.current = min(later) + dt.timedelta(minutes=1)
                due = [j for j in await store.run(store.jobs.due, clock.current, 100000) if j.kind == kind]
                before = (await store.outbox.counts()).get("delivered", 0)
                counted = await store.run(work.snapshot)
                started = time.perf_counter()
                for job in due:
                    await schedule._run_one(job, clock.current)
                await drain(runtime)
                seconds = time.perf_counter() - started
                done = [b - a for a, b in zip(counted, await store.run(work.snapshot))]
                out[kind] = (seconds, len(due), (await store.outbox.counts()).get("delivered", 0) - before, tuple(done))
                jobs = await store.run(store.jobs.all)
        finally:
            await runtime.close()
    return out


def list_in_process(db: Path, rounds: int) -> tuple[float, float, float, int]:
    """Medians: the listing query; the whole command run in this process
    (opening the store, the query, the formatting, output captured); and
    opening and closing the store alone, which the command does around it."""
    from click.testing import CliRunner

    from bot.cli import cli
    from bot.store import Store

    async def open_and_query() -> tuple[float, float]:
        started = time.perf_counter()
        store = await Store.open(db)
        opened = time.perf_counter() - started
        try:
            started = time.perf_counter()
            # (``listing``: the code before ``briefs``, to measure it with this script)
            await getattr(store.concerns, "briefs", store.concerns.listing)()
            queried = time.perf_counter() - started
        finally:
            started = time.perf_counter()
            await store.close()
        return opened + time.perf_counter() - started, queried

    runner, env = CliRunner(), env_for(db)
    query, opening, whole = [], [], []
    for _ in range(rounds):
        opened, queried = asyncio.run(open_and_query())
        opening.append(opened)
        query.append(queried)
        started = time.perf_counter()
        result = runner.invoke(cli, ["concerns", "list"], env=env)
        whole.append(time.perf_counter() - started)
        assert result.exit_code == 0, result.output
    lines = result.output.count("\n")
    return statistics.median(query), statistics.median(whole), statistics.median(opening), lines


def list_subprocess(db: Path, rounds: int) -> tuple[float, float]:
    env = env_for(db)
    listed, bare = [], []
    for _ in range(rounds):
        for args, into in ((["concerns", "list"], listed), (["--help"], bare)):
            started = time.perf_counter()
            # (run from the database's folder: a checkout as the working
            # folder would put its own ``bot`` ahead of PYTHONPATH's)
            subprocess.run([sys.executable, "-m", "bot", *args], env=env, check=True, stdout=subprocess.DEVNULL, cwd=db.parent)
            into.append(time.perf_counter() - started)
    return statistics.median(listed), statistics.median(bare)


async def run_jobs(root: Path, built: Path, rounds: int, sizes: list[int], concerns: int) -> Path:
    base = built / f"concerns-{concerns}" / "peerbot.db"
    if not base.exists():
        started = time.perf_counter()
        base.parent.mkdir(parents=True, exist_ok=True)
        await build_concerns(base, concerns)
        print(f"built {concerns} concerns in {time.perf_counter() - started:.1f} s", flush=True)
    templates = {}
    for size in sizes:
        people = "" if PEOPLE == 10 else f"-people-{PEOPLE}"
        templates[size] = built / f"concerns-{concerns}-teams-{size}{people}-with-last-week" / "peerbot.db"
        if not templates[size].exists():
            started = time.perf_counter()
            copy_db(base, templates[size].parent)
            await build_teams(templates[size], size)
            print(f"built {size} teams in {time.perf_counter() - started:.1f} s", flush=True)
    figures: dict[int, dict[str, list[float]]] = {size: {} for size in sizes}
    work: dict[int, dict[str, tuple[int, ...]]] = {size: {} for size in sizes}
    for n in range(rounds):
        for size in (sizes if n % 2 == 0 else list(reversed(sizes))):
            db = copy_db(templates[size], root / f"run-{size}-{n}")
            stages = await run_stages(db)
            for kind, (seconds, jobs, sent, done) in stages.items():
                figures[size].setdefault(kind, []).append(seconds)
                work[size][kind] = done  # the same in every round
            print(f"round {n + 1}, {size} teams: " + ", ".join(f"{k} {s:.2f}s ({j} jobs, {m} sent)" for k, (s, j, m, _) in stages.items()),
                  flush=True)
            shutil.rmtree(db.parent)
    print()
    small, large = sizes[0], sizes[-1]
    print(f"{'job':<18}" + "".join(f"{f'{s} teams':>12}" for s in sizes) + f"{f'{large}/{small}':>10}")
    for kind in STAGES:
        if kind not in figures[small]:
            continue
        medians = [statistics.median(figures[s][kind]) for s in sizes]
        print(f"{kind:<18}" + "".join(f"{m:>11.3f}s" for m in medians) + f"{medians[-1] / medians[0]:>9.1f}x")
    print(f"(medians of {rounds} interleaved round(s); {PEOPLE} people a team, {concerns} concerns in the same file)")
    print()
    print("The store's work per job (whatever the machine's load): statements, commits, checkpoints, thousands of SQLite VM steps")
    print(f"{'job':<18}" + "".join(f"{f'{s} teams':>30}" for s in sizes) + f"{f'steps {large}/{small}':>16}")
    for kind in STAGES:
        if kind not in work[small]:
            continue
        cells = []
        for s in sizes:
            jobs = max(1, s if kind.startswith(("checkin", "pulse")) else 1)
            statements, commits, checkpoints, steps = work[s][kind]
            cells.append(f"{statements / jobs:7.0f} {commits / jobs:5.1f} {checkpoints / jobs:4.1f} {steps / jobs:7.1f}k")
        ratio = work[large][kind][3] / max(1, work[small][kind][3])
        print(f"{kind:<18}" + "".join(f"{c:>30}" for c in cells) + f"{ratio:>15.1f}x")
    print("(per team for the team jobs, per run for the concern jobs)")
    print()
    return templates[large]


def main(rounds: int, sizes: list[int], concerns: int, list_rounds: int, keep: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = asyncio.run(run_jobs(Path(tmp), keep or Path(tmp) / "built", rounds, sizes, concerns))
        query, whole, build, lines = list_in_process(db, list_rounds)
        listed, bare = list_subprocess(db, list_rounds)
        print(f"concerns list at {concerns} concerns ({lines} lines), medians of {list_rounds}:")
        print(f"  the query alone                      {query * 1000:8.1f} ms")
        print(f"  the command in-process               {whole * 1000:8.1f} ms")
        print(f"  of which opening and closing the store {build * 1000:6.1f} ms")
        print(f"  the command's own work (difference)  {(whole - build) * 1000:8.1f} ms")
        print(f"  `peerbot concerns list` subprocess   {listed * 1000:8.1f} ms")
        print(f"  `peerbot --help` subprocess          {bare * 1000:8.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round, three runs of the list")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--teams", default="20,200", help="comma-separated team counts, smallest first")
    parser.add_argument("--concerns", type=int, default=10000)
    parser.add_argument("--people", type=int, default=PEOPLE, help="people a team (five of them answer)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="a folder to keep the built databases in and reuse them from (building 10,000 concerns takes minutes)")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    PEOPLE = args.people
    main(rounds, [int(s) for s in args.teams.split(",")], args.concerns, 3 if args.quick else 7, args.keep)
