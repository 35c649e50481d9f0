"""Never lost: a real process killed (SIGKILL) right after a concern is
stored and before its post is queued; the next start delivers it, once."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from cryptography.fernet import Fernet

from tests.conftest import subprocess_env


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = subprocess_env(**{"PEERBOT_DB": str(tmp_path / "peerbot.db"), "PEERBOT_SUPERVISORS": "u-sam", "PEERBOT_CONCERN_KEY": KEY, **extra})
    return env


KEY = Fernet.generate_key().decode()


def peerbot(tmp_path: Path, *args: str, stdin: bytes = b"", **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, cwd=tmp_path, env=environment(tmp_path, **extra), timeout=60
    )


def posts(tmp_path: Path) -> list[dict]:
    feed = tmp_path / "peerbot.local.jsonl"
    if not feed.exists():
        return []
    records = [json.loads(line) for line in feed.read_text().splitlines() if line.strip()]
    return [r for r in records if r["op"] == "post" and r["target"] == "supervisors"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_concern_stored_when_the_process_is_killed_is_delivered_once_after_a_restart(tmp_path: Path):
    lines = ["/concern", "With my name", "Workload", "Third double shift this week.", "", "", "", "Send"]
    crashed = peerbot(
        tmp_path, "chat", "--user", "u-ada", "--name", "Ada", stdin="\n".join(lines).encode() + b"\n",
        PEERBOT_TEST_CRASH="concern-stored",
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()
    assert "reference is" not in crashed.stdout.decode()  # it died before the receipt
    with sqlite3.connect(tmp_path / "peerbot.db") as conn:
        [(ref, body)] = conn.execute("select ref, body from concerns").fetchall()
        assert conn.execute("select count(*) from outbox").fetchone() == (0,)
    assert body == "Third double shift this week."
    assert posts(tmp_path) == []

    # The next start sweeps: the stored concern's post is queued and sent.
    server = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(free_port())],
        cwd=tmp_path, env=environment(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 40
        while not posts(tmp_path) and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    assert posts(tmp_path), server.stderr.read().decode() if server.stderr else ""

    # Sweeping again (as the schedule does every ten minutes) sends nothing new.
    swept = peerbot(tmp_path, "concerns", "sweep")
    assert swept.returncode == 0, swept.stderr.decode()
    assert "0 message(s) queued" in swept.stdout.decode()
    [post] = posts(tmp_path)
    assert post["key"] == f"concern:{ref}" and "Third double shift this week." in post["reply"]["text"]
    shown = peerbot(tmp_path, "feed", "supervisors")
    assert shown.stdout.decode().count(f"Concern {ref}") == 1
