#!/usr/bin/env bash
# Re-resolve requirements.lock: the exact versions scripts/setup.sh installs on every machine and
# image.  Run it to upgrade dependencies on purpose, then run the tests (`make test`) and commit
# both files together; setup reinstalls wherever the lock changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -m uv --version >/dev/null 2>&1 || "$PY" -m pip install -q --disable-pip-version-check uv
"$PY" -m uv pip compile -q pyproject.toml --extra test --python-version 3.11 \
  --python-platform x86_64-unknown-linux-gnu --no-header --output-file requirements.lock
echo "requirements.lock: $(grep -c '==' requirements.lock) pinned packages"
