"""The compose file is valid compose (checked by docker-compose itself, no engine needed) and
wires every service the deployment needs."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker" / "compose.yaml"


def test_compose_file_validates() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.fail("docker-compose is missing: scripts/setup.sh installs it")
    result = subprocess.run(
        [tool, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        env={"DRAGNET_ADMIN_KEY": "test-only", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr


def test_compose_wires_all_services_with_health_checks() -> None:
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert {"elasticsearch", "redis", "tor", "crawler", "worker-cpu", "worker-gpu", "api"} <= set(services)
    for name in ("elasticsearch", "redis", "api", "worker-cpu"):
        assert "healthcheck" in services[name], name
    for name, service in services.items():
        if "build" in service:
            assert (COMPOSE.parent.parent / service["build"]["dockerfile"]).is_file(), name
    assert services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
