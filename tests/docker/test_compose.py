"""The compose file is valid compose (checked by docker-compose itself, no engine needed),
wires every service the deployment needs, and runs as written: every command a service runs
resolves in the real ``dragnet`` CLI, every DRAGNET_* variable is a real setting, the images
own their volumes, only the TLS proxy is published, Tor is built (not installed at start) and
isolates markets by SOCKS credentials.  Each check is a function returning the problems it found,
so that the tests below also show it catching a broken file."""

from __future__ import annotations

import copy
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from crawlers.profiles import ProfileError
from crawlers.runner import resolve_targets
from dragnet import cli
from dragnet.settings import DragnetSettings
from workers.app import QUEUES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yaml"
ADMIN_KEY = "0123456789abcdef0123456789abcdef-test-only"


def test_compose_file_validates() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.fail("docker-compose is missing: scripts/setup.sh installs it")
    result = subprocess.run(
        [tool, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        env={"DRAGNET_ADMIN_KEY": ADMIN_KEY, "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr


def test_compose_wires_all_services_with_health_checks() -> None:
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert {"elasticsearch", "redis", "tor", "crawler", "worker-cpu", "worker-gpu", "api", "beat", "proxy"} <= set(
        services
    )
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


# --- the checks ---------------------------------------------------------------------------------


def _spec(text: str | None = None) -> dict[str, Any]:
    return yaml.safe_load(text if text is not None else COMPOSE.read_text())


def _interpolate(value: str) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?message} with only DRAGNET_ADMIN_KEY set."""

    def one(match: re.Match[str]) -> str:
        name, _, rest = match.group(1).partition(":")
        if name == "DRAGNET_ADMIN_KEY":
            return ADMIN_KEY
        return rest[1:] if rest.startswith("-") else ""

    return re.sub(r"\$\{([^}]+)\}", one, value)


def _dockerfile(service: dict[str, Any]) -> Path | None:
    build = service.get("build")
    return ROOT / build["dockerfile"] if isinstance(build, dict) else None


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def _exec_form(value: str) -> list[str]:
    return json.loads(value) if value.startswith("[") else shlex.split(value)


def _dragnet_argv(service: dict[str, Any]) -> list[str] | None:
    """The arguments a service passes to ``dragnet`` (its command, else its image's CMD), or
    ``None`` when its image's entrypoint is not ``dragnet``."""
    dockerfile = _dockerfile(service)
    if dockerfile is None:
        return None
    steps = _instructions(dockerfile)
    entry = [_exec_form(v) for k, v in steps if k == "ENTRYPOINT"]
    if not entry or entry[-1] != ["dragnet"]:
        return None
    command = service.get("command")
    if command is None:
        command = [_exec_form(v) for k, v in steps if k == "CMD"][-1]
    return _exec_form(command) if isinstance(command, str) else list(command)


def _resolve(argv: list[str]) -> tuple[str, dict[str, Any]]:
    """``argv`` parsed by the real CLI (typer's click group) without running it: the command's
    path and its parameters; an unknown command, option or bad value raises."""
    command: Any = typer.main.get_command(cli.app)
    ctx = command.make_context("dragnet", list(argv))
    while hasattr(command, "commands"):  # a group: descend into the sub-command
        name, command, rest = command.resolve_command(ctx, [*getattr(ctx, "_protected_args", []), *ctx.args])
        ctx = command.make_context(name, rest, parent=ctx)
    return ctx.command_path, ctx.params


def command_problems(spec: dict[str, Any]) -> list[str]:
    """Every dragnet command (compose command or image CMD) resolves in the CLI, and what it
    names exists: a crawl's site profiles, a worker's queues."""
    problems = []
    argvs = [(name, _dragnet_argv(service)) for name, service in spec["services"].items()]
    known_queues = set(QUEUES) | set(DragnetSettings().workers.routes.values())
    for name, argv in argvs:
        if argv is None:
            continue
        try:
            path, params = _resolve(argv)
        except Exception as exc:  # noqa: BLE001 - typer vendors click: its UsageError is private
            problems.append(f"{name}: dragnet {shlex.join(argv)}: {exc}")
            continue
        if path == "dragnet crawl":
            targets = list(params.get("target") or ())
            if not (targets or params.get("all_") or params.get("scheduled")):
                problems.append(f"{name}: dragnet crawl with no target, --all or --scheduled")
            try:
                if targets:
                    resolve_targets(targets)
            except (ProfileError, ValueError) as exc:
                problems.append(f"{name}: dragnet {shlex.join(argv)}: {exc}")
        if path == "dragnet worker":
            unknown = set(params["queues"].split(",")) - known_queues
            if unknown:
                problems.append(f"{name}: unknown queues {sorted(unknown)}")
    return problems


def _setting_problem(key: str) -> str | None:
    """``DRAGNET_SECTION__KEY`` resolved against the settings models' fields."""
    parts = key.removeprefix("DRAGNET_").lower().split("__")
    model: Any = DragnetSettings
    for depth, part in enumerate(parts):
        fields = model.model_fields
        if part not in fields:
            return f"{key}: no setting {'.'.join(parts[: depth + 1])!r}"
        annotation = fields[part].annotation
        model = annotation if depth + 1 < len(parts) else None
        if depth + 1 < len(parts) and not hasattr(model, "model_fields"):
            return f"{key}: {'.'.join(parts[: depth + 1])} has no sub-keys"
    return None


def env_problems(spec: dict[str, Any]) -> list[str]:
    """Every DRAGNET_* variable a service sets (in compose or in its image) is a settings key,
    and each service's variables together make valid settings."""
    problems = []
    for name, service in spec["services"].items():
        env: dict[str, str] = {}
        dockerfile = _dockerfile(service)
        if dockerfile is not None:
            for word, rest in _instructions(dockerfile):
                if word == "ENV":
                    env.update(dict(shlex.split(pair)[0].split("=", 1) for pair in shlex.split(rest) if "=" in pair))
        raw = service.get("environment") or {}
        if isinstance(raw, list):
            raw = dict(item.split("=", 1) for item in raw)
        env.update({k: _interpolate(str(v)) for k, v in raw.items() if k != "<<"})
        dragnet_env = {k: v for k, v in env.items() if k.startswith("DRAGNET_") and k != "DRAGNET_CONFIG"}
        unknown = [p for p in map(_setting_problem, sorted(dragnet_env)) if p]
        problems += [f"{name}: {p}" for p in unknown]
        if dragnet_env and not unknown:
            nested: dict[str, Any] = {}
            for key, value in dragnet_env.items():
                *sections, leaf = key.removeprefix("DRAGNET_").lower().split("__")
                target = nested
                for section in sections:
                    target = target.setdefault(section, {})
                target[leaf] = value
            try:
                DragnetSettings(**nested)
            except Exception as exc:  # noqa: BLE001 - pydantic's message names the field
                problems.append(f"{name}: invalid settings: {exc}")
    return problems


def port_problems(spec: dict[str, Any]) -> list[str]:
    """Only the TLS proxy publishes a port on the host; monitoring only on the loopback."""
    problems = []
    for name, service in spec["services"].items():
        for port in service.get("ports") or []:
            text = str(port) if not isinstance(port, dict) else f"{port.get('host_ip', '')}:{port['published']}"
            loopback = text.startswith("127.0.0.1:")
            if name == "proxy" or (loopback and "monitoring" in (service.get("profiles") or [])):
                continue
            problems.append(f"{name} publishes {text}")
    if not spec["services"].get("proxy", {}).get("ports"):
        problems.append("the proxy publishes no port")
    return problems


def volume_problems(spec: dict[str, Any]) -> list[str]:
    """Each image creates the mount points of its named volumes, owned by its runtime user,
    before it switches to that user; the dragnet images share one uid (one shared volume)."""
    problems = []
    named = set(spec.get("volumes") or {})
    uids = {}
    for name, service in spec["services"].items():
        dockerfile = _dockerfile(service)
        if dockerfile is None:
            continue
        steps = _instructions(dockerfile)
        users = [i for i, (k, _) in enumerate(steps) if k == "USER"]
        if not users:
            problems.append(f"{name}: {dockerfile.name} runs as root")
            continue
        user = steps[users[-1]][1]
        runs = " ".join(v for k, v in steps[: users[-1]] if k == "RUN")
        uid = re.search(rf"useradd [^&;]*--uid (\d+)[^&;]* {re.escape(user)}\b", runs)
        if user not in ("root", "debian-tor"):
            uids[name] = uid.group(1) if uid else None
        for mount in service.get("volumes") or []:
            source, _, target = str(mount).partition(":")
            target = target.split(":")[0]
            if source not in named:
                continue
            owned = [
                cmd
                for cmd in runs.split("&&")
                if re.search(rf"(?:^|\s){re.escape(target)}(?:\s|$)", cmd)
                and (
                    re.search(rf"install -d\b.*-o {re.escape(user)}\b", cmd)
                    or re.search(rf"chown .*{re.escape(user)}", cmd)
                )
            ]
            if not owned:
                problems.append(f"{name}: {dockerfile.name} does not create {target} owned by {user}")
    if len(set(uids.values())) != 1 or None in uids.values():
        problems.append(f"the dragnet images do not share one fixed uid: {uids}")
    return problems


def runtime_problems(spec: dict[str, Any]) -> list[str]:
    """Long-lived services restart; nothing installs packages when it starts; there is one beat
    and a worker consumes the queue of its crawl-schedule task; no ``version:`` key."""
    problems = []
    if "version" in spec:
        problems.append("obsolete 'version:' key (Compose v2 ignores it)")
    for name, service in spec["services"].items():
        if service.get("restart") not in ("unless-stopped", "always", "on-failure"):
            problems.append(f"{name}: no restart policy")
        command = " ".join(map(str, service.get("command") or []))
        if re.search(r"apt-get|apk add|pip install", command):
            problems.append(f"{name}: installs software at every start")
    beats = [n for n, s in spec["services"].items() if (_dragnet_argv(s) or [""])[0] == "beat"]
    beats += [n for n, s in spec["services"].items() if "--beat" in (_dragnet_argv(s) or [])]
    if len(beats) != 1 or spec["services"][beats[0]].get("deploy", {}).get("replicas", 1) != 1:
        problems.append(f"want exactly one beat, found {beats}")
    queue = DragnetSettings().workers.routes["workers.tasks.schedule_crawls"]
    consumers = [
        n
        for n, s in spec["services"].items()
        if (argv := _dragnet_argv(s))
        and argv[0] == "worker"
        and queue in _resolve(argv)[1]["queues"].split(",")
        and "profiles" not in s
    ]
    if not consumers:
        problems.append(f"no default worker consumes {queue!r}, where the beat sends the crawl schedule")
    crawler = _dragnet_argv(spec["services"].get("crawler", {})) or []
    if "--scheduled" not in crawler:
        problems.append(f"the crawler replicas run {crawler}, not the scheduled loop")
    return problems


def tor_problems(spec: dict[str, Any]) -> list[str]:
    """Tor comes from its own image with Debian's tor and a torrc that isolates by SOCKS auth."""
    tor = spec["services"].get("tor", {})
    dockerfile = _dockerfile(tor)
    if dockerfile is None:
        return ["tor is not built from docker/Dockerfile.tor"]
    steps = _instructions(dockerfile)
    problems = []
    if not any(k == "RUN" and "apt-get install" in v and " tor" in v for k, v in steps):
        problems.append(f"{dockerfile.name} does not install Debian's tor")
    copies = [v.split() for k, v in steps if k == "COPY" and v.split()[-1] == "/etc/tor/torrc"]
    if not copies:
        return [*problems, f"{dockerfile.name} copies no torrc"]
    torrc = (ROOT / copies[-1][0]).read_text()
    socks = [line.split() for line in torrc.splitlines() if line.strip().startswith("SocksPort")]
    if not socks or not all("IsolateSOCKSAuth" in line for line in socks):
        problems.append("a SocksPort without IsolateSOCKSAuth: markets would share circuits")
    return problems


def grafana_problems(spec: dict[str, Any]) -> list[str]:
    """Grafana mounts a provisioning folder whose dashboard provider reads the mounted dashboard."""
    grafana = spec["services"].get("grafana", {})
    mounts = dict(reversed(str(m).split(":")[:2]) for m in grafana.get("volumes") or [])
    folder = mounts.get("/etc/grafana/provisioning")
    if folder is None:
        return ["grafana has no provisioning folder"]
    providers = [
        p
        for f in (COMPOSE.parent / folder / "dashboards").glob("*.yaml")
        for p in yaml.safe_load(f.read_text()).get("providers", [])
    ]
    dashboards = [target for target in mounts if target.endswith("dragnet.json")]
    if not dashboards or not any(dashboards[0].startswith(p["options"]["path"] + "/") for p in providers):
        return ["no dashboard provider reads the mounted dragnet.json"]
    return []


CHECKS = [
    command_problems,
    env_problems,
    port_problems,
    volume_problems,
    runtime_problems,
    tor_problems,
    grafana_problems,
]


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_the_compose_file_runs_as_written(check: Any) -> None:
    assert check(_spec()) == []


def _broken(edit: Any) -> dict[str, Any]:
    spec = copy.deepcopy(_spec())
    edit(spec["services"])
    return spec


@pytest.mark.parametrize(
    ("check", "edit", "found"),
    [
        (command_problems, lambda s: s["crawler"].update(command=["crawl", "all"]), "no site profile named 'all'"),
        (command_problems, lambda s: s["beat"].update(command=["beet"]), "No such command"),
        (command_problems, lambda s: s["worker-cpu"].update(command=["worker", "--queue", "x"]), "--queue"),
        (command_problems, lambda s: s["worker-gpu"].update(command=["worker", "-Q", "clasify"]), "clasify"),
        (env_problems, lambda s: s["crawler"]["environment"].update(DRAGNET_CRAWL__METRICS_PROT="1"), "metrics_prot"),
        (env_problems, lambda s: s["api"]["environment"].update(DRAGNET_API__PORT="http"), "api.port"),
        (env_problems, lambda s: s["api"]["environment"].update(DRAGNET_API__HOST__X="1"), "no sub-keys"),
        (port_problems, lambda s: s["api"].update(ports=["127.0.0.1:8000:8000"]), "api publishes"),
        (port_problems, lambda s: s["grafana"].update(ports=["3000:3000"]), "grafana publishes"),
        (volume_problems, lambda s: s["api"]["volumes"].append("es-data:/srv/x"), "/srv/x owned by dragnet"),
        (runtime_problems, lambda s: s["redis"].pop("restart"), "redis: no restart policy"),
        (runtime_problems, lambda s: s.pop("beat"), "exactly one beat"),
        (runtime_problems, lambda s: s["crawler"].update(command=["crawl", "--all"]), "not the scheduled loop"),
        (tor_problems, lambda s: s["tor"].pop("build"), "Dockerfile.tor"),
        (grafana_problems, lambda s: s["grafana"]["volumes"].pop(1), "no provisioning"),
    ],
)
def test_each_check_catches_a_broken_file(check: Any, edit: Any, found: str) -> None:
    problems = check(_broken(edit))
    assert any(found in p for p in problems), problems


def test_the_guides_use_compose_v2() -> None:
    """`docker compose` (v2, the plugin); `docker-compose` is only the validator of the tests."""
    for guide in (ROOT / "README.md", ROOT / "docs" / "deployment.md", ROOT / "docs" / "monitoring.md"):
        text = guide.read_text()
        assert not re.search(r"docker-compose (up|down|run|exec|logs|ps|build|pull)", text), guide
    deployment = (ROOT / "docs" / "deployment.md").read_text()
    for step in ("docker compose up -d", "--scale crawler=", "PROXY_TLS", "recrawl_s", "dragnet beat"):
        assert step in deployment, step
