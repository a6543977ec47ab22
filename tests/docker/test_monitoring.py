"""The monitoring files of the deployment: the alert rules pass ``promtool check rules``, the
scrape configuration ``promtool check config``, the Grafana dashboard parses, and every metric
the dashboard and the rules query is one the code exports (names read from the expositions the
API, a crawl and a worker produce)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.auth import KeyStore
from crawlers.metrics import COLLECTOR
from crawlers.metrics import REGISTRY as CRAWL_REGISTRY
from dragnet.services.promtool import check_rules
from dragnet.services.redis_server import RedisServer
from dragnet.settings import DragnetSettings
from workers.app import QUEUES
from workers.metrics import QueueCollector, prime
from workers.tasks import app as celery_app

DOCKER = Path(__file__).resolve().parents[2] / "docker"
ALERTS = DOCKER / "prometheus" / "alerts.yml"
SCRAPE = DOCKER / "prometheus" / "prometheus.yml"
DASHBOARD = DOCKER / "grafana" / "dragnet.json"
METRIC = re.compile(r"\bdragnet_[a-z0-9_]+\b")


def _sample_names(text: str) -> set[str]:
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def _rule_exprs() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_alert_rules_pass_promtool(promtool: str) -> None:
    checked = check_rules(ALERTS)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    names = {rule["alert"] for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]}
    wanted = {"DragnetCrawlStalled", "DragnetClassifierBacklog", "DragnetIndexErrors", "DragnetApi5xx"}
    assert wanted | {"DragnetFeedDeliveryFailures"} <= names


def test_scrape_config_passes_promtool(promtool: str, tmp_path: Path) -> None:
    """The compose paths rewritten to local copies (promtool checks that the files exist)."""
    (tmp_path / "alerts.yml").write_text(ALERTS.read_text())
    (tmp_path / "key").write_text("dn_0000000000000000_not-a-real-key-only-a-test")
    config = SCRAPE.read_text().replace("/etc/prometheus/alerts.yml", str(tmp_path / "alerts.yml"))
    config = config.replace("/etc/prometheus/secrets/dragnet_api_key", str(tmp_path / "key"))
    (tmp_path / "prometheus.yml").write_text(config)
    checked = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_dashboard_parses_and_has_the_operators_panels() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["panels"]
    assert all(panel["targets"] and panel["title"] for panel in dashboard["panels"])
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def test_every_queried_metric_is_exported(redis_server: RedisServer, settings: DragnetSettings) -> None:
    # The API's own /metrics, as Prometheus would scrape it.
    key = KeyStore(settings).create_key("prometheus", "operator")
    api_text = TestClient(create_app(settings)).get("/metrics", headers={"Authorization": f"Bearer {key}"}).text
    # A crawl's exposition (one site open) and a worker's (every task primed, queues read from Redis).
    COLLECTOR.site("metrics-test-site")
    crawl_text = generate_latest(CRAWL_REGISTRY).decode()
    prime(sorted(n for n in celery_app.tasks if n.startswith("workers.tasks.")))
    queues = CollectorRegistry()
    queues.register(QueueCollector(redis_server.url, QUEUES, settings.workers.dlq_key))
    worker_text = generate_latest(REGISTRY).decode() + generate_latest(queues).decode()
    exported = _sample_names(api_text) | _sample_names(crawl_text) | _sample_names(worker_text)

    queried = {name for expr in _dashboard_exprs() + _rule_exprs() for name in METRIC.findall(expr)}
    assert queried, "no metric found in the dashboard and rules"
    assert sorted(queried - exported) == []
    # Every task of the worker is counted, not only classify and index.
    tasks = {
        s.labels["task"] for f in text_string_to_metric_families(worker_text) for s in f.samples if "task" in s.labels
    }
    assert {"workers.tasks.deliver_feed", "workers.tasks.probe_market", "workers.tasks.recheck_removals"} <= tasks
