"""An operator's command that cannot work says why in one line on stderr and exits non-zero,
never with a traceback: a probe without a reachable Tor proxy, a worker or a crawl without a
reachable broker.  (A crawl that fetched nothing: tests/crawlers/test_failures.py.)  Each runs
the real ``dragnet`` entry point in a subprocess, as an operator's shell would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.crawlers.test_address_guard import market_profile

REPO_ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dragnet(args: list[str], data_dir: Path, **env_vars: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    env.update(PYTHONPATH=str(REPO_ROOT), DRAGNET_ENV="test", DRAGNET_PATHS__DATA_DIR=str(data_dir), **env_vars)
    return subprocess.run(
        [str(Path(sys.executable).with_name("dragnet")), *args],
        cwd=data_dir.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return lines[0]


def test_probe_without_tor_is_one_line(tmp_path: Path) -> None:
    port = closed_port()
    onions = [f"Shop{n}=http://{chr(ord('a') + n) * 56}.onion/" for n in range(3)]
    args = ["probe", "--no-seed", *(a for o in onions for a in ("--add", o))]
    proc = dragnet(args, tmp_path / "data", DRAGNET_TOR__SOCKS_URL=f"socks5h://127.0.0.1:{port}")
    assert proc.returncode == 1
    line = one_line(proc)  # one reason for the run, not one per market
    assert line.startswith(f"Tor SOCKS proxy 127.0.0.1:{port} unreachable: ") and "is Tor running?" in line
    assert proc.stdout == ""


def test_worker_without_broker_is_one_line(tmp_path: Path) -> None:
    port = closed_port()
    url = f"redis://:s3cret@127.0.0.1:{port}/0"
    proc = dragnet(["worker", "--queues", "index"], tmp_path / "data", DRAGNET_REDIS__URL=url)
    assert proc.returncode == 1
    line = one_line(proc)
    assert line.startswith(f"dragnet worker: broker redis://127.0.0.1:{port}/0 unreachable: ")
    assert "s3cret" not in line  # the broker password never reaches a log


@pytest.mark.parametrize("frontier", [False, True], ids=["handoff", "shared-frontier"])
def test_crawl_without_broker_is_one_line_before_fetching(frontier: bool, tmp_path: Path) -> None:
    port = closed_port()
    profile = market_profile(tmp_path / "profiles" / "shop.yaml", "shop", [f"http://{'f' * 56}.onion/"])
    args = ["crawl", str(profile), "--proxy", f"socks5h://127.0.0.1:{closed_port()}"]
    if frontier:
        args += ["--shared-frontier", "--no-handoff"]
    proc = dragnet(args, tmp_path / "data", DRAGNET_REDIS__URL=f"redis://127.0.0.1:{port}/0")
    assert proc.returncode == 1
    line = one_line(proc)
    assert line.startswith(f"dragnet crawl: broker redis://127.0.0.1:{port}/0 unreachable: ")
    # refused before any fetch: the proxy (also down) is never the reason given
    assert "proxy" not in line.split("unreachable: ", 1)[1].replace("--no-handoff", "")
    assert line.endswith("(--no-handoff crawls without it)") != frontier
