"""``dragnet services up`` as an operator runs it: a real subprocess that starts real Redis, and
SIGTERM (a supervisor, ``kill``) or SIGINT (Ctrl-C) stops its children instead of orphaning them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dragnet.services.process import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc: no extra dependency)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after its closing parenthesis
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited


def accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.integration
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_services_up_stops_its_children_on_signal(signum: int, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    env.update(PYTHONPATH=str(REPO_ROOT), DRAGNET_PATHS__DATA_DIR=str(tmp_path / "data"))
    out_path = tmp_path / "out.txt"
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("dragnet")), "services", "up", "redis", "socks"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO_ROOT,
            # as from a terminal: a shell starts background jobs (CI, `make test &`) with SIGINT
            # ignored, and a child inherits that, so Ctrl-C would never reach it
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        wait_until(lambda: "# services up" in out_path.read_text(), 60, "services up", interval_s=0.2)
        exports = dict(
            line.removeprefix("export ").split("=", 1)
            for line in out_path.read_text().splitlines()
            if line.startswith("export ")
        )
        redis_port = int(exports["DRAGNET_REDIS__URL"].rsplit(":", 1)[1].split("/")[0])
        socks_port = int(exports["DRAGNET_TOR__SOCKS_URL"].rsplit(":", 1)[1])
        kids = children(proc.pid)
        assert kids and accepts(redis_port) and accepts(socks_port)
        assert any("redis-server" in Path(f"/proc/{k}/cmdline").read_bytes().decode() for k in kids)

        proc.send_signal(signum)
        assert proc.wait(timeout=30) == 0, out_path.read_text()
        wait_until(lambda: not any(alive(k) for k in kids), 10, "children gone")
        assert not accepts(redis_port) and not accepts(socks_port)
        assert "Traceback" not in out_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
