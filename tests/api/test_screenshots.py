"""``dragnet docs screenshots`` in a real Chromium: a PNG per page, into the folder asked for,
without touching the user's own data; and docs/ui.md shows every picture the command makes."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.screenshots import SHOTS, VIEWPORT
from dragnet.cli import app
from dragnet.settings import DragnetSettings
from tests.conftest import REPO_ROOT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG's header chunk (which must come first)."""
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.integration
@pytest.mark.slow
def test_the_command_writes_a_png_of_every_page(tmp_path: Path, settings: DragnetSettings) -> None:
    out = tmp_path / "shots"
    result = CliRunner().invoke(app, ["docs", "screenshots", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in out.iterdir()) == sorted(f"{name}.png" for name in SHOTS)
    for name in SHOTS:
        data = (out / f"{name}.png").read_bytes()
        assert _png_size(data) == (VIEWPORT["width"], VIEWPORT["height"]), name
        assert len(data) > 8_000, f"{name}.png is {len(data)} bytes: an empty page?"
    assert not (settings.paths.data_dir / "store.sqlite3").exists()  # seeded in a throwaway folder


def test_an_unknown_page_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["docs", "screenshots", "--out", str(tmp_path), "--page", "nope"])
    assert result.exit_code == 2 and "unknown page(s) nope" in result.output
    assert list(tmp_path.iterdir()) == []


def test_the_ui_guide_shows_every_committed_picture() -> None:
    guide = (REPO_ROOT / "docs" / "ui.md").read_text(encoding="utf-8")
    for name, line in SHOTS.items():
        assert f"(screenshots/{name}.png)" in guide and line in guide, name
        assert _png_size((REPO_ROOT / "docs" / "screenshots" / f"{name}.png").read_bytes()) == (1280, 900)
