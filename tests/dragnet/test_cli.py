import subprocess
import sys
from pathlib import Path

SUBCOMMANDS = ("crawl", "worker", "serve", "train", "evaluate", "classify", "probe", "demo", "bench")


def _dragnet(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("dragnet")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120)


def test_help_lists_every_subcommand() -> None:
    result = _dragnet("--help")
    assert result.returncode == 0, result.stderr
    for name in SUBCOMMANDS:
        assert f" {name} " in result.stdout, f"{name} missing from dragnet --help"


def test_bench_help_lists_every_benchmark() -> None:
    result = _dragnet("bench", "--help")
    assert result.returncode == 0
    for name in ("crawl", "classify", "pipeline", "index", "takedown", "lifespan"):
        assert f" {name} " in result.stdout


def test_broken_config_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[search]\nbackend = 3\n")
    result = _dragnet("--config", str(bad), "services", "--help")
    assert result.returncode == 2
    assert "invalid configuration" in result.stderr and "search.backend" in result.stderr
