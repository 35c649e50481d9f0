"""Launch to ready, and resident memory, against a bare slack-bolt app.

    python benchmarks/startup.py [--rounds 7] [--quick]

Each launch is a new process; the kinds take turns within every round, so
a busy machine slows them alike. Printed as medians:

- ``peerbot serve`` with Slack on (temp database, free port) from launch until
  ``GET /healthz`` answers 200. The server only listens once the knowledge
  base is loaded (``warm_up`` runs before the app starts), so a 200 means
  the next question is answered from a loaded knowledge base. With a warm
  model cache (the usual start) and with an empty one (the first start
  after installing or editing the knowledge base: the models are fitted);
- ``peerbot ask QUESTION`` from launch until its answer is printed: a first
  scope answer from a process that had nothing loaded (warm cache);
- a bare slack-bolt ``AsyncApp`` (a token it checks only at its first event, a signing secret)
  served on aiohttp by its own adapter, plus a ``GET /healthz`` route, from
  launch until its first 200;
- the resident memory (VmRSS from /proc) of each server after a few requests
  and a few seconds of serving.

The goal (issue 14): peerbot's launch to ready at most 3x the bare app's,
under 2 s, and under 150 MB resident while serving.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "can I drive someone to their doctor's appointment?"
BARE_BOLT = """
import sys
from aiohttp import web
from slack_bolt.async_app import AsyncApp

app = AsyncApp(token="xoxb-not-a-real-token", signing_secret="bench-secret")  # checks its token lazily, at the first event

@app.event("app_mention")
async def mention(event, say):
    await say("hi")

async def healthz(request):
    return web.json_response({"status": "ok"})

server = app.web_app(path="/slack/events", port=int(sys.argv[1]))
server.router.add_get("/healthz", healthz)
web.run_app(server, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


# Resident memory is read this long after ready, once the work peerbot leaves
# until it is up (bot/server.py _after_ready) is done.
SETTLE_SECONDS = 3.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Slack on, as in the bare app: a bot token and signing secret of the right
# shape, and a Web API address nobody listens on, so the setup check peerbot
# makes in the background (auth.test) fails at once instead of going out.
SLACK = {
    "PEERBOT_SLACK_BOT_TOKEN": "xoxb-1234567890-1234567890-benchmarkbenchmarkbench",
    "PEERBOT_SLACK_SIGNING_SECRET": "0123456789abcdef0123456789abcdef",
    "PEERBOT_SLACK_SUPERVISOR_CHANNEL": "C0123ABCDE",
    "PEERBOT_SLACK_API_URL": "http://127.0.0.1:9/api/",
}
# An installed package runs from compiled bytecode (pip compiles it, as the
# bare app's packages were); a checkout run with PYTHONDONTWRITEBYTECODE
# would compile every module of its own at every launch. Both kinds run
# from bytecode: peerbot's is kept in a folder of this run's.
BYTECODE = tempfile.mkdtemp(prefix="peerbot-startup-pyc-")


def env_for(workdir: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEERBOT_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(SLACK, PEERBOT_DB=str(workdir / "peerbot.db"), PEERBOT_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT),
               PYTHONPYCACHEPREFIX=BYTECODE)
    return env


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except OSError:
        return 0


def serve_until_ready(command: list[str], env: dict[str, str], port: int, cwd: str, limit: float = 120.0) -> tuple[float, float]:
    """Seconds from launch to the first 200 on /healthz, and MB resident after ten more requests."""
    url = f"http://127.0.0.1:{port}/healthz"
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while get(url) != 200:
            if process.poll() is not None or time.perf_counter() - started > limit:
                raise RuntimeError(f"{command[:4]} never became ready")
            time.sleep(0.01)
        ready = time.perf_counter() - started
        for _ in range(10):
            get(url)
        time.sleep(SETTLE_SECONDS)  # peerbot does what the first answers don't need just after it is up
        get(url)
        return ready, rss_mb(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def peerbot_serve(cache: Path) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="peerbot-startup-") as workdir:
        port = free_port()
        command = [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)]
        return serve_until_ready(command, env_for(Path(workdir), cache), port, workdir)


def bare_bolt() -> tuple[float, float]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bolt-startup-") as workdir:
        return serve_until_ready([sys.executable, "-c", BARE_BOLT, str(port)], dict(os.environ), port, workdir)


def peerbot_ask(cache: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="peerbot-startup-") as workdir:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "bot", "ask", QUESTION], env=env_for(Path(workdir), cache),
                              cwd=workdir, capture_output=True, timeout=120)
        elapsed = time.perf_counter() - started
        if done.returncode != 0 or not done.stdout.strip():
            raise RuntimeError(f"peerbot ask failed: {done.stderr.decode()[-500:]}")
        return elapsed


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="2 rounds, no empty-cache starts after the first")
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds

    warm = Path(tempfile.mkdtemp(prefix="peerbot-startup-cache-"))
    times: dict[str, list[float]] = {"serve (warm cache)": [], "serve (empty cache)": [], "ask (warm cache)": [], "bare bolt": []}
    memory: dict[str, list[float]] = {"serve (warm cache)": [], "bare bolt": []}
    try:
        peerbot_ask(warm)  # fit once into the warm cache
        for round_number in range(rounds):
            ready, rss = peerbot_serve(warm)
            times["serve (warm cache)"].append(ready)
            memory["serve (warm cache)"].append(rss)
            ready, rss = bare_bolt()
            times["bare bolt"].append(ready)
            memory["bare bolt"].append(rss)
            times["ask (warm cache)"].append(peerbot_ask(warm))
            if not args.quick or round_number == 0:
                empty = Path(tempfile.mkdtemp(prefix="peerbot-startup-cold-"))
                try:
                    times["serve (empty cache)"].append(peerbot_serve(empty)[0])
                finally:
                    shutil.rmtree(empty, ignore_errors=True)
    finally:
        shutil.rmtree(warm, ignore_errors=True)
        shutil.rmtree(BYTECODE, ignore_errors=True)

    bolt = median(times["bare bolt"])
    print(f"launch to ready, median of {rounds} interleaved rounds (each launch its own process)")
    for name, values in times.items():
        ratio = f"  {median(values) / bolt:4.1f}x bare bolt" if name != "bare bolt" else ""
        print(f"  {name:22s} {median(values):6.2f} s{ratio}   (n={len(values)}, min {min(values):.2f}, max {max(values):.2f})")
    print(f"resident memory after 10 requests and {SETTLE_SECONDS:.1f} s serving (VmRSS), median")
    for name, values in memory.items():
        print(f"  {name:22s} {median(values):6.1f} MB")


if __name__ == "__main__":
    main()
