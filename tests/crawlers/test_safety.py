"""Private and loopback targets are refused unless the settings allow them by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.crawlers.conftest import run_crawl_subprocess

pytestmark = pytest.mark.integration


def test_loopback_target_refused_unless_allowed(world, settings, tmp_path: Path) -> None:
    forum = world.sites["tavern"]
    profile = yaml.safe_load((world.profiles_dir / "tavern.yaml").read_text())
    profile["start_urls"] = [forum.direct_url + "/"]
    path = tmp_path / "profiles" / "tavern.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(profile))
    pages_before = forum.stats["pages"]

    refused = run_crawl_subprocess(
        [str(path)], data_dir=settings.paths.data_dir, proxy_url=world.proxy_url, out=tmp_path / "refused.jsonl"
    )
    assert refused.listings == []
    assert refused.site("tavern")["dragnet/refused/private_target"] >= 1
    assert "refused private/loopback target" in refused.log
    assert forum.stats["pages"] == pages_before  # not a single byte was fetched

    allowed = run_crawl_subprocess(
        [str(path)],
        data_dir=settings.paths.data_dir,
        proxy_url=world.proxy_url,
        out=tmp_path / "allowed.jsonl",
        env={"DRAGNET_CRAWL__ALLOWED_PRIVATE_HOSTS": '["127.0.0.1"]'},
    )
    assert len(allowed.listings) == len(world.ground_truth()["tavern"])
