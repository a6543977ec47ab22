"""``dragnet bench scan``: the platforms' scan API (``POST /api/v1/scan``) against the classifier
it wraps, measured in the same run on the same posts.

For batches of 1, 32 and 256 posts: posts per second and the p50/p95 latency of a call, first
through the API (the real app under uvicorn on a free loopback port, called over HTTP with a
keep-alive client: body guard, key check, validation, quota, verdict cache lookup and write,
audit, JSON both ways), then through
``classify_stream`` on the engine the API uses (what ``dragnet classify`` does with the same
batch).  Calls alternate between the two so that load from other processes falls on both.
Every API call sends posts it has not seen (new ids), so the model runs each time; a last figure
shows a repeated batch of 256 answered from the verdict cache.  Everything runs in a throw-away
data directory; figures only, nothing passes or fails on a time.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from api.app import create_app
from api.auth import KeyStore
from api.scan import engine as scan_engine
from classifier.cli import classify_stream
from classifier.synth import SocialPostGenerator
from dragnet.services.process import free_port
from dragnet.settings import get_settings

BATCHES = ((1, 60), (32, 12), (256, 4))  # (posts per call, calls per contender)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _figures(latencies: list[float], posts: int) -> dict[str, float]:
    return {
        "posts_per_s": round(posts * len(latencies) / sum(latencies), 1),
        "p50_ms": round(1000 * statistics.median(latencies), 2),
        "p95_ms": round(1000 * _percentile(latencies, 0.95), 2),
    }


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run(pool_size: int = 1024) -> dict[str, Any]:
    base = get_settings()
    texts = [p.text for p in SocialPostGenerator(seed=11).generate(pool_size)]
    model = scan_engine()
    result: dict[str, Any] = {
        "model": model.version,
        "cpu_cores": os.cpu_count(),
        "api": "POST /api/v1/scan over loopback HTTP to uvicorn: guard, auth, validation, quota, cache, audit, JSON",
        "baseline": "classify_stream on the same engine and the same posts (what `dragnet classify` runs)",
        "batches": {},
    }
    with tempfile.TemporaryDirectory(prefix="dragnet-scan-bench-") as tmp:
        settings = base.model_copy(
            update={
                "paths": base.paths.model_copy(update={"data_dir": Path(tmp)}),
                "api": base.api.model_copy(
                    update={"db_path": None, "scan_quota_per_minute": 10**9, "scan_sync_max": 256}
                ),
            }
        )
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        if not server.started:
            raise RuntimeError("uvicorn did not start")
        key = KeyStore(settings).create_key("bench", "platform:bench")
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=300)
        counter = 0

        def posts_of(size: int) -> list[dict[str, Any]]:
            nonlocal counter
            out = [{"id": f"b{counter + i}", "text": texts[(counter + i) % len(texts)]} for i in range(size)]
            counter += size
            return out

        def via_api(posts: list[dict[str, Any]]) -> None:
            response = client.post("/api/v1/scan", json={"posts": posts})
            if response.status_code != 200:
                raise RuntimeError(f"scan API answered {response.status_code}: {response.text[:200]}")

        def via_classify(posts: list[dict[str, Any]]) -> None:
            source = io.StringIO("".join(json.dumps(p) + "\n" for p in posts))
            classify_stream(model, source, io.StringIO())

        via_api(posts_of(8))  # warm-up: the first call opens the database and the model's session
        via_classify(posts_of(8))
        for size, calls in BATCHES:
            api_times: list[float] = []
            base_times: list[float] = []
            for _ in range(calls):
                batch = posts_of(size)
                base_times.append(_timed(lambda: via_classify(batch)))  # noqa: B023 - called at once
                fresh = [{"id": f"api-{p['id']}", "text": p["text"]} for p in batch]  # new ids: no cache
                api_times.append(_timed(lambda: via_api(fresh)))  # noqa: B023 - called at once
            api, baseline = _figures(api_times, size), _figures(base_times, size)
            result["batches"][str(size)] = {
                "calls": calls,
                "api": api,
                "classify_stream": baseline,
                "api_vs_baseline_throughput": round(api["posts_per_s"] / baseline["posts_per_s"], 3),
            }
        repeat = posts_of(256)
        via_api(repeat)
        cached = [_timed(lambda: via_api(repeat)) for _ in range(4)]
        result["cached_256"] = _figures(cached, 256)
        client.close()
        server.should_exit = True
        thread.join(timeout=10)
    return result


def main(json_output: bool = False) -> None:
    result = run()
    if json_output:
        print(json.dumps(result))
        return
    print(f"scan API benchmark: model {result['model']} ({result['cpu_cores']} CPU cores)")
    print(f"  api:      {result['api']}")
    print(f"  baseline: {result['baseline']}")
    for size, r in result["batches"].items():
        a, b = r["api"], r["classify_stream"]
        print(
            f"  batch {size:>3}: api {a['posts_per_s']:>8.1f} posts/s p50 {a['p50_ms']:>8.2f} ms "
            f"p95 {a['p95_ms']:>8.2f} ms | classify_stream {b['posts_per_s']:>8.1f} posts/s "
            f"p50 {b['p50_ms']:>8.2f} ms p95 {b['p95_ms']:>8.2f} ms | api/baseline "
            f"{r['api_vs_baseline_throughput']:.2f}x ({r['calls']} calls each)"
        )
    c = result["cached_256"]
    print(f"  batch 256 repeated (verdict cache): {c['posts_per_s']:.1f} posts/s p50 {c['p50_ms']:.2f} ms")
