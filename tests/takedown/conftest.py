"""Fixtures for the feed tests: settings with a registry that knows two fake platforms, hits built
from real extractor evidence, the fake platform server and an API client with keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from dragnet.settings import DragnetSettings, use_settings
from takedown.registry import BUNDLED_REGISTRY
from tests.takedown.helpers import FakePlatform

FAKE_PLATFORMS = {
    "fakegram": {
        "display_name": "Fakegram",
        "hosts": ["fakegram.test"],
        "ids": [r"^/p/(?P<post_id>[A-Za-z0-9_-]+)"],
        "reporting": {"kind": "api", "url": "http://fakegram.test/hook"},
    },
    "otherapp": {
        "display_name": "Other App",
        "hosts": ["otherapp.test"],
        "ids": [r"^/p/(?P<post_id>[A-Za-z0-9_-]+)"],
        "reporting": {"kind": "trusted_flagger", "email": "tf@otherapp.test"},
    },
}


@pytest.fixture
def feed_settings(settings: DragnetSettings, tmp_path: Path) -> Iterator[DragnetSettings]:
    raw = yaml.safe_load(BUNDLED_REGISTRY.read_text())
    raw["platforms"].update(FAKE_PLATFORMS)
    registry = tmp_path / "platforms.yaml"
    registry.write_text(yaml.safe_dump(raw))
    feeds = settings.feeds.model_copy(
        update={
            "platforms_file": registry,
            "webhook_allow_private": True,
            "webhook_backoff_s": 0.01,
            "webhook_max_attempts": 3,
            "notifier_name": "Dragnet test notifier",
            "trusted_flagger": True,
        }
    )
    configured = settings.model_copy(update={"feeds": feeds})
    use_settings(configured)
    yield configured


@pytest.fixture
def fake_platform() -> Iterator[FakePlatform]:
    platform = FakePlatform().start()
    yield platform
    platform.stop()
