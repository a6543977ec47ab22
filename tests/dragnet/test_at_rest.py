"""At rest: files Dragnet writes are its operator's only, and webhook secrets are sealed."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from dragnet.secretbox import PREFIX, SecretKeyError, seal, unseal
from dragnet.settings import DragnetSettings
from takedown.store import SqliteNoticeStore, WebhookSubscription


def test_files_and_folders_written_by_the_cli_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    env.update(DRAGNET_ENV="test", DRAGNET_PATHS__DATA_DIR=str(data))
    for argv in (["keys", "create", "alice"], ["evidence", "public-key"]):
        result = subprocess.run(
            [sys.executable, "-m", "dragnet.cli", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=lambda: os.umask(0o022),  # a typical shell: world-readable by default
        )
        assert result.returncode == 0, result.stderr
    written = [data, *data.rglob("*")]
    assert len(written) >= 4  # the data folder, the API database, the keys folder and the signing key
    for path in written:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


def test_webhook_secrets_are_sealed_in_the_database(settings: DragnetSettings, tmp_path: Path) -> None:
    path = tmp_path / "notices.sqlite3"
    store = SqliteNoticeStore(path)
    store.set_webhook(WebhookSubscription(platform="fakegram", url="https://hooks.example/x", secret="s3cr3t-value"))
    raw = sqlite3.connect(path).execute("SELECT secret FROM webhooks").fetchone()[0]
    assert raw.startswith(PREFIX) and "s3cr3t-value" not in raw
    sub = store.get_webhook("fakegram")
    assert sub is not None and sub.secret == "s3cr3t-value"
    assert unseal("written-before-sealing") == "written-before-sealing"  # old rows still read


def test_a_sealed_secret_needs_its_key(settings: DragnetSettings) -> None:
    sealed = seal("x", settings)
    other = settings.model_copy(update={"secrets_key": SecretStr("A" * 43 + "=")})
    with pytest.raises(SecretKeyError, match="cannot be opened"):
        unseal(sealed, other)
