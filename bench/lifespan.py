"""Probe-round benchmark: ``dragnet bench lifespan [--json]``.

Starts simulated markets on loopback behind a SOCKS5 proxy (some slow, some gone, as a real
round has) and times one probe round with ``probe_concurrency`` 1 (the baseline, measured in the
same run) against the configured concurrency.  Prints figures; never passes or fails on a time.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from dragnet.services.socks_proxy import SocksProxy
from dragnet.settings import load_settings
from lifespan.probes import Prober
from lifespan.registry import register_market
from lifespan.store import LifespanStore

PAGE = (
    "<html><head><title>Bench market</title></head><body><h1>Listings</h1>"
    + "".join(f"<p>item {i} 1g 20 USD escrow</p>" for i in range(200))
    + "</body></html>"
).encode()


class _SlowServer(ThreadingHTTPServer):
    """A market that answers after ``delay`` seconds (some markets are slow over Tor)."""

    delay = 0.0


class _Handler(BaseHTTPRequestHandler):
    server: _SlowServer

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.server.delay:
            time.sleep(self.server.delay)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)


def _round(markets: int, concurrency: int, proxy: SocksProxy, hosts: list[str]) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            paths={"data_dir": Path(tmp)}, lifespan={"probe_concurrency": concurrency, "probe_timeout_s": 2.0}
        )
        with LifespanStore(settings=settings) as store:
            for i, host in enumerate(hosts[:markets]):
                register_market(store, f"bench {i}", f"http://{host}/")
            prober = Prober(store, settings, proxy.url)
            started = time.perf_counter()
            probed = prober.probe_due(seed_profiles=False)
            elapsed = time.perf_counter() - started
            assert probed == markets
            latencies = [
                p.latency_ms
                for m in store.markets()
                for p in store.probes(m.market_id)
                if p.latency_ms is not None and p.status.value == "up"
            ]
    return elapsed, latencies


def main(json_output: bool = False, markets: int = 24) -> dict[str, float]:
    servers = []
    with SocksProxy() as proxy:
        hosts = []
        for i in range(markets):
            server = _SlowServer(("127.0.0.1", 0), _Handler)
            server.daemon_threads = True
            server.delay = 0.2 if i % 3 == 0 else 0.0
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            servers.append(server)
            host = f"bench{i:02d}" + "a" * 49 + ".onion"
            if i % 8 != 7:  # every eighth market is gone (descriptor not found, re-probed at once)
                proxy.add(host, ("127.0.0.1", server.server_address[1]))
            hosts.append(host)
        try:
            base_s, base_lat = _round(markets, 1, proxy, hosts)
            par_s, par_lat = _round(markets, 8, proxy, hosts)
        finally:
            for server in servers:
                server.shutdown()
                server.server_close()
    figures = {
        "markets": markets,
        "baseline_sequential_round_s": round(base_s, 3),
        "parallel8_round_s": round(par_s, 3),
        "speedup": round(base_s / par_s, 2) if par_s else 0.0,
        "probe_latency_ms_median": round(statistics.median(base_lat), 2) if base_lat else 0.0,
        "probes_per_s_parallel": round(markets / par_s, 1) if par_s else 0.0,
    }
    if json_output:
        print(json.dumps(figures))
    else:
        for k, v in figures.items():
            print(f"{k}: {v}")
    return figures
