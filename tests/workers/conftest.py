"""Fixtures for the worker tests: a pipeline wired to the session's real Redis (own database per
test) and real OpenSearch node (own index prefix per test), worker processes started as real
Celery workers in subprocesses, and helpers to wait for the store to catch up."""

from __future__ import annotations

import csv
import itertools
import os
import random
import re
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from classifier.model_store import ensure_default_model
from dragnet.documents import Listing
from dragnet.services.process import ManagedProcess, wait_until
from dragnet.settings import DragnetSettings, get_settings, load_settings, use_settings
from index.factory import open_store
from index.store import SearchQuery
from workers.app import configure
from workers.launch import worker_argv

REPO_ROOT = Path(__file__).resolve().parents[2]
_db_numbers = itertools.cycle(range(1, 16))

# Short timings so that recovery paths finish within the test budget; production defaults are
# in dragnet/settings.py (visibility timeout 1 h, back-off up to 60 s).
FAST_RECOVERY = {
    "DRAGNET_WORKERS__VISIBILITY_TIMEOUT_S": "12",
    "DRAGNET_WORKERS__RETRY_BACKOFF_BASE_S": "0.5",
    "DRAGNET_WORKERS__RETRY_BACKOFF_MAX_S": "4",
    "DRAGNET_WORKERS__MAX_RETRIES": "100",
    "DRAGNET_WORKERS__CLASSIFY_MAX_WAIT_S": "0.3",
    "DRAGNET_WORKERS__CLASSIFY_BATCH_SIZE": "20",
}


@dataclass
class Pipeline:
    settings: DragnetSettings
    env: dict[str, str]
    workdir: Path
    workers: list[ManagedProcess] = field(default_factory=list)
    _store: Any = None

    def start_worker(
        self,
        name: str,
        queues: str = "classify,index",
        concurrency: int = 1,
        extra_env: dict[str, str] | None = None,
        wait_ready: bool = True,
        cli: bool = False,
    ) -> ManagedProcess:
        """A real Celery worker in its own process group: ``celery -A workers.app worker``, or
        ``dragnet worker`` with ``cli=True``."""
        hostname = f"{name}-{uuid.uuid4().hex[:6]}@%h"
        if cli:
            argv = [
                str(Path(sys.executable).with_name("dragnet")),
                "worker",
                "--queues",
                queues,
                "--concurrency",
                str(concurrency),
                "--hostname",
                hostname,
            ]
        else:
            argv = worker_argv(queues, concurrency, hostname)
        env = dict(self.env, **(extra_env or {}))
        proc = ManagedProcess(name, argv, self.workdir / f"{name}-{len(self.workers)}.log", env=env, cwd=REPO_ROOT)
        proc.start()
        self.workers.append(proc)
        if wait_ready:
            self.wait_ready(proc)
        return proc

    @staticmethod
    def wait_ready(proc: ManagedProcess, timeout_s: float = 120) -> None:
        def ready() -> bool:
            if not proc.running:
                raise AssertionError(f"{proc.name} exited:\n{proc.tail(60)}")
            text = proc.log_path.read_text(errors="replace")
            flag = "-Q" if "-Q" in proc.argv else "--queues"
            needs_model = "classify" in proc.argv[proc.argv.index(flag) + 1]
            return " ready." in text and ("classifier loaded" in text or not needs_model)

        try:
            wait_until(ready, timeout_s, f"{proc.name} ready", interval_s=0.3)
        except Exception as exc:  # noqa: BLE001 - any start failure is reported with the process's log
            raise AssertionError(f"{exc}\n{proc.tail(60)}") from None

    def store(self) -> Any:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    def indexed_ids(self) -> list[str]:
        """Every listing id in the store (paged), with repeats if the store ever held two."""

        store = self.store()
        store.refresh()
        return [listing.id for listing in store.scan(SearchQuery(), batch_size=500)]

    def count(self) -> int:
        store = self.store()
        try:
            store.refresh()
            return store.count()
        except Exception:  # noqa: BLE001 - the engine may be down on purpose
            return -1

    def wait_count(self, expected: int, timeout_s: float, stable_s: float = 0.0) -> int:
        deadline = time.monotonic() + timeout_s
        last = -1
        while time.monotonic() < deadline:
            last = self.count()
            if last >= expected:
                break
            for proc in self.workers:
                if proc.proc is not None and proc.proc.returncode not in (None, -9, -15) and not proc.running:
                    raise AssertionError(f"{proc.name} died:\n{proc.tail(60)}")
            time.sleep(0.5)
        if stable_s:
            time.sleep(stable_s)
            last = self.count()
        return last

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.tail(40)}" for p in self.workers)

    def close(self) -> None:
        for proc in self.workers:
            proc.stop(timeout_s=10)
        if self._store is not None:
            self._store.close()


def task_ids(log_text: str, event: str) -> set[str]:
    """Celery task ids from a worker log: ``received`` or ``succeeded`` events of classify tasks."""
    if event == "received":
        pattern = r"Task workers\.tasks\.(?:classify|index)_batch\[([0-9a-f-]+)\] received"
    else:
        pattern = r"Task workers\.tasks\.(?:classify|index)_batch\[([0-9a-f-]+)\] succeeded"
    return set(re.findall(pattern, log_text))


@pytest.fixture
def pipeline(
    settings: DragnetSettings, redis_server: Any, opensearch_node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Pipeline]:
    """Redis (a database of its own) + OpenSearch (an index prefix of its own) + workers."""

    ensure_default_model()  # trained once per machine (shared cache), never inside a worker under test
    db = next(_db_numbers)
    redis_url = f"redis://127.0.0.1:{redis_server.port}/{db}"
    redis.Redis.from_url(redis_url).flushdb()
    env_vars = {
        "DRAGNET_ENV": "test",
        "DRAGNET_PATHS__DATA_DIR": str(settings.paths.data_dir),
        "DRAGNET_REDIS__URL": redis_url,
        "DRAGNET_SEARCH__BACKEND": "opensearch",
        "DRAGNET_SEARCH__URL": opensearch_node.url,
        "DRAGNET_SEARCH__INDEX_PREFIX": f"wk{uuid.uuid4().hex[:10]}",
        "DRAGNET_SEARCH__MAX_RETRIES": "1",
        "DRAGNET_SEARCH__REQUEST_TIMEOUT_S": "10",
        **FAST_RECOVERY,
    }
    for key, value in env_vars.items():
        monkeypatch.setenv(key, value)
    pipeline_settings = load_settings()
    use_settings(pipeline_settings)

    configure(pipeline_settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    env.update(env_vars)
    env["PYTHONPATH"] = str(REPO_ROOT)
    pipe = Pipeline(pipeline_settings, env, tmp_path / "workers")
    try:
        yield pipe
    finally:
        pipe.close()
        redis.Redis.from_url(redis_url).flushdb()


def make_listings(count: int, prefix: str = "item", seed: int = 0) -> list[Listing]:
    """Listings with realistic texts from the shared data set (drug sales and benign posts)."""
    texts = _sample_texts()
    out = []
    for n in range(count):
        title, text = texts[(n + seed) % len(texts)]
        out.append(
            Listing.new(
                f"http://{prefix}{n % 4}.onion/listing/{prefix}-{seed}-{n}",
                source_kind="market",
                title=title,
                text=f"{text} (ref {prefix}-{seed}-{n})",
                market=f"{prefix}{n % 4}",
            )
        )
    return out


_TEXTS: list[tuple[str, str]] = []


def _sample_texts() -> list[tuple[str, str]]:
    """Real listing titles (drug and non-drug) and ordinary product text from the shared data."""
    if _TEXTS:
        return _TEXTS

    data_dir = get_settings().training_data_dir
    with (data_dir / "darknet_listings.csv").open(encoding="utf-8", newline="") as handle:
        for row in itertools.islice(csv.DictReader(handle), 0, 6000, 7):
            _TEXTS.append((row["title"], f"{row['title']} - vendor {row['vendor']}, {row['category']}"))
    with (data_dir / "ecommerce_products.csv").open(encoding="utf-8", newline="") as handle:
        for row in itertools.islice(csv.DictReader(handle), 0, 200):
            _TEXTS.append((row["text"][:60], row["text"][:1500]))
    # the file is grouped by category: shuffled (fixed seed), any slice mixes drug and other listings
    random.Random(0).shuffle(_TEXTS)
    return _TEXTS
