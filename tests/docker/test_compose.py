"""The compose file is valid compose (checked by docker-compose itself, no engine needed) and
wires every service the deployment needs."""

import json
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


_CONTEXT = """
import json, sys
from docker.utils.build import exclude_paths
root = sys.argv[1]
patterns = [line.strip() for line in open(root + "/.dockerignore") if line.strip() and not line.startswith("#")]
print(json.dumps(sorted(exclude_paths(root, patterns))))
"""


def test_secrets_and_local_data_never_enter_a_build_context(tmp_path: Path) -> None:
    """docker-py's own .dockerignore matcher (the one docker-compose builds with) over a context
    shaped like this repository after the compose guide's `echo ... > docker/.env`."""
    shutil.copy(COMPOSE.parent.parent / ".dockerignore", tmp_path / ".dockerignore")
    files = {
        "docker/.env": "DRAGNET_ADMIN_KEY=secret",
        ".env": "X=1",
        "docker/.env.prod": "X=2",
        "keys/bundle.key": "k",
        "var/data/api.sqlite3": "",
        "data/evidence.warc.gz": "",
        "dragnet/settings.py": "",
        "docker/compose.yaml": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        ["/usr/bin/python3", "-c", _CONTEXT, str(tmp_path)], capture_output=True, text=True, check=True
    )
    context = set(json.loads(result.stdout))
    assert {"dragnet/settings.py", "docker/compose.yaml"} <= context
    leaked = context & {"docker/.env", ".env", "docker/.env.prod", "keys/bundle.key", "var/data/api.sqlite3"}
    assert not leaked and "data/evidence.warc.gz" not in context
