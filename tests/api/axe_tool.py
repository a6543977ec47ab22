"""axe-core for the accessibility test: installed from npm into ``tests/api/axe`` (pinned by its
package.json and package-lock.json), the way scripts/setup.sh does on a fresh machine.

A required tool, like Chromium: when it cannot be installed the test fails with the reason and
the command to run, it is never skipped (a skipped check would read as a passed one in CI)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from dragnet.services.process import ServiceError, require_binary

AXE_DIR = Path(__file__).resolve().parent / "axe"
AXE_SCRIPT = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
# what the test fails on: the two worst of axe's four impact levels
FAILING_IMPACTS = ("serious", "critical")


def axe_script() -> Path:
    """Path of ``axe.min.js``, installing the pinned axe-core with ``npm ci`` when it is missing."""
    if AXE_SCRIPT.is_file():
        return AXE_SCRIPT
    npm = require_binary("npm", "npm")
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(AXE_DIR)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0 or not AXE_SCRIPT.is_file():
        raise ServiceError(
            f"axe-core could not be installed (npm ci in {AXE_DIR} exited {done.returncode}): "
            f"{done.stderr.strip()[-500:]}; run scripts/setup.sh, or npm ci --prefix tests/api/axe"
        )
    return AXE_SCRIPT


def describe(violations: list[dict]) -> str:
    """One line per failing rule: impact, rule id, what it asks, and the first few elements."""
    lines = []
    for violation in violations:
        targets = ", ".join(str(node.get("target")) for node in violation.get("nodes", [])[:3])
        lines.append(f"{violation['impact']} {violation['id']}: {violation['help']} [{targets}]")
    return "\n".join(lines)
