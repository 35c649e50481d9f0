"""A second ``peerbot serve`` on the same SQLite file refuses to start with
one clear line, while the first keeps serving; commands still share the
file; and a server that was killed leaves nothing that stops the next."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import subprocess_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(tmp_path: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port)], cwd=tmp_path,
                            env=subprocess_env(PEERBOT_DB=str(tmp_path / "peerbot.db")),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def ready(port: int, process: subprocess.Popen, limit: float = 60) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                return answer.status == 200
        except OSError:
            time.sleep(0.1)
    return False


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_a_second_server_on_the_same_file_refuses_and_the_first_keeps_serving(tmp_path: Path):
    port = free_port()
    first = start(tmp_path, port)
    try:
        assert ready(port, first), first.stderr.read().decode() if first.stderr else ""
        second = subprocess.run([sys.executable, "-m", "bot", "serve", "--port", str(free_port())], cwd=tmp_path,
                                env=subprocess_env(PEERBOT_DB=str(tmp_path / "peerbot.db")), capture_output=True, timeout=60)
        assert second.returncode == 2
        [line] = second.stderr.decode().strip().splitlines()
        assert line.startswith("peerbot: another peerbot serve is already running on")
        assert f"(process {first.pid})" in line and "Traceback" not in line
        # The first is untouched, and a command still shares the file.
        assert ready(port, first, limit=5)
        listed = subprocess.run([sys.executable, "-m", "bot", "concerns", "list"], cwd=tmp_path,
                                env=subprocess_env(PEERBOT_DB=str(tmp_path / "peerbot.db")), capture_output=True, timeout=60)
        assert listed.returncode == 0, listed.stderr.decode()
    finally:
        stop(first)


def test_a_killed_server_leaves_nothing_in_the_way(tmp_path: Path):
    port = free_port()
    first = start(tmp_path, port)
    assert ready(port, first), first.stderr.read().decode() if first.stderr else ""
    first.kill()
    first.wait()
    again = start(tmp_path, port)
    try:
        assert ready(port, again), again.stderr.read().decode() if again.stderr else ""
    finally:
        stop(again)
