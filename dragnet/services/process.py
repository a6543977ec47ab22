"""Process plumbing shared by the service wrappers: free ports, readiness waits, and a child
process that is always reaped (terminate, then kill) even when a test fails half-way."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)


class ServiceError(RuntimeError):
    """A service could not be installed, started or reached; the message says what to do."""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(port: int, timeout_s: float = 30.0, host: str = "127.0.0.1") -> None:
    wait_until(lambda: port_open(port, host), timeout_s, f"port {host}:{port}")


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - a service that is still starting may raise anything
            pass
        time.sleep(interval_s)
    raise ServiceError(f"timed out after {timeout_s:.0f}s waiting for {what}")


def require_binary(name: str, apt_package: str) -> str:
    """Path of an executable; installs its Debian package when missing (we run as root here)."""
    path = shutil.which(name)
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log.info("installing %s from Debian packages", apt_package)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", apt_package], check=False, env=env)
        path = shutil.which(name)
        if path:
            return path
    raise ServiceError(f"{name} is not installed: run 'apt-get install {apt_package}' (or scripts/setup.sh)")


class ManagedProcess:
    """A child process with its output in a log file, stopped on :meth:`stop` or interpreter exit."""

    def __init__(
        self, name: str, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
        )
        log_file.close()
        atexit.register(self.stop)  # a test run that ends early must not leave servers behind
        log.info("started %s (pid %s)", self.name, self.proc.pid)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the whole process group: for tests that simulate a crash."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=timeout_s)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            self.kill()
        log.info("stopped %s", self.name)
