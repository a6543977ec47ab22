"""``dragnet services up`` as an operator runs it: a real subprocess that starts real Redis, and
SIGTERM (a supervisor, ``kill``) or SIGINT (Ctrl-C) stops its children instead of orphaning them."""

from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
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


def socks_get(proxy_port: int, host: str, path: str = "/") -> bytes:
    """GET ``http://host/path`` through a SOCKS5h proxy (the name resolved by the proxy, as with Tor)."""
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=10) as sock:
        sock.sendall(b"\x05\x01\x00")
        assert sock.recv(2) == b"\x05\x00"
        name = host.encode()
        sock.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + (80).to_bytes(2, "big"))
        reply = sock.recv(10)
        if reply[1] != 0:
            return b"SOCKS reply %d" % reply[1]
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.integration
def test_services_up_socks_map_makes_a_name_reachable(tmp_path: Path) -> None:
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<h1>local test copy</h1>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    env.update(PYTHONPATH=str(REPO_ROOT), DRAGNET_PATHS__DATA_DIR=str(tmp_path / "data"))
    out_path = tmp_path / "out.txt"
    dragnet = str(Path(sys.executable).with_name("dragnet"))
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            [dragnet, "services", "up", "socks", "--map", f"NewMarket=127.0.0.1:{site.server_address[1]}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO_ROOT,
        )
    try:
        wait_until(lambda: "# services up" in out_path.read_text(), 60, "services up", interval_s=0.2)
        text = out_path.read_text()
        socks_port = int(text.split("DRAGNET_TOR__SOCKS_URL=", 1)[1].split()[0].rsplit(":", 1)[1])
        assert "newmarket.onion" in text
        assert b"local test copy" in socks_get(socks_port, "newmarket.onion")
        assert socks_get(socks_port, "other.onion") == b"SOCKS reply 4"  # unmapped: host unreachable, as Tor
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        site.shutdown()


@pytest.mark.parametrize(
    "args, reason",
    [
        (["socks", "--map", "shop"], "expected NAME=HOST:PORT"),
        (["socks", "--map", "shop=10.0.0.5:80"], "not loopback"),
        (["socks", "--map", "shop=127.0.0.1:99999"], "from 1 to 65535"),
        (["redis", "--map", "shop=127.0.0.1:80"], "needs the socks service"),
    ],
)
def test_services_up_refuses_a_bad_map_in_one_line(args: list[str], reason: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    env.update(PYTHONPATH=str(REPO_ROOT), DRAGNET_PATHS__DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("dragnet")), "services", "up", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert reason in proc.stderr
