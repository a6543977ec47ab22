#!/usr/bin/env bash
# Set up everything Dragnet needs on a fresh machine, and nothing twice on a warm one:
# Debian packages (Redis, Chromium, Tor, promtool, Java + Maven for OpenSearch, docker-compose for
# validating the compose file, npm for axe-core), the Python environment in .venv (uv, cached in
# ~/.cache/uv),
# and the OpenSearch jars (cached in ~/.cache/dragnet and ~/.m2).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v promtool >/dev/null || missing+=(prometheus)  # promtool checks the exported metrics
command -v chromium >/dev/null || missing+=(chromium)
command -v tor >/dev/null || missing+=(tor)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v java >/dev/null || missing+=(openjdk-17-jdk-headless)
command -v javac >/dev/null || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v gpg >/dev/null || missing+=(gnupg)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { log "Python 3.11+ is required"; exit 1; }

# Python packages come pinned from requirements.lock (scripts/lock.sh re-resolves it on purpose),
# so every machine and image runs the versions CI tested; the project itself goes in editable.
stamp_value=$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)
stamp=.venv/.dragnet-deps
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$stamp_value" ]; then
  log "installing Python dependencies into .venv"
  if ! "$PY" -m uv --version >/dev/null 2>&1; then
    "$PY" -m pip install -q --disable-pip-version-check uv || true
  fi
  if "$PY" -m uv --version >/dev/null 2>&1; then
    [ -x .venv/bin/python ] || "$PY" -m uv venv -q --python "$PY" .venv
    export UV_LINK_MODE=${UV_LINK_MODE:-hardlink}
    "$PY" -m uv pip install -q --python .venv/bin/python -r requirements.lock
    "$PY" -m uv pip install -q --python .venv/bin/python --no-deps -e .
  else
    [ -x .venv/bin/python ] || "$PY" -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r requirements.lock
    .venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
  fi
  echo "$stamp_value" > "$stamp"
fi

# axe-core for the accessibility test, pinned by tests/api/axe/package-lock.json (node_modules is
# not committed); reinstalled when the lock file changes.
axe_stamp=tests/api/axe/node_modules/.dragnet-lock
if [ "$(cat "$axe_stamp" 2>/dev/null)" != "$(sha256sum < tests/api/axe/package-lock.json)" ]; then
  log "installing axe-core into tests/api/axe"
  npm ci --no-audit --no-fund --silent --prefix tests/api/axe
  sha256sum < tests/api/axe/package-lock.json > "$axe_stamp"
fi

.venv/bin/dragnet services prepare >/dev/null
log "ready"
