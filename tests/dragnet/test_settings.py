from pathlib import Path

import pytest

from dragnet.settings import ConfigError, load_settings


def test_defaults_are_embedded_and_safe() -> None:
    settings = load_settings()
    assert settings.search.backend == "embedded"
    assert settings.redis.url is None
    assert settings.crawl.allow_private_targets is False
    assert settings.tor.socks_url.startswith("socks5h://")


def test_environment_overrides_nested_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRAGNET_SEARCH__BACKEND", "opensearch")
    monkeypatch.setenv("DRAGNET_SEARCH__URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("DRAGNET_CRAWL__MAX_DEPTH", "3")
    settings = load_settings()
    assert settings.search.backend == "opensearch"
    assert settings.search.url == "http://127.0.0.1:9999"
    assert settings.crawl.max_depth == 3


def test_toml_file_is_read_and_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "dragnet.toml"
    config.write_text('log_level = "debug"\n[crawl]\nmax_depth = 7\n[redis]\nurl = "redis://127.0.0.1:1/0"\n')
    monkeypatch.setenv("DRAGNET_CRAWL__MAX_DEPTH", "9")
    settings = load_settings(config)
    assert settings.log_level == "DEBUG"
    assert settings.redis.url == "redis://127.0.0.1:1/0"
    assert settings.crawl.max_depth == 9


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[api]\nport = 8123\n")
    monkeypatch.setenv("DRAGNET_CONFIG", str(config))
    assert load_settings().api.port == 8123


@pytest.mark.parametrize(
    "content, fragment",
    [
        ('[crawl]\nmax_depth = "deep"\n', "crawl.max_depth"),
        ('[search]\nbackend = "mongodb"\n', "search.backend"),
        ("unknown_section = 1\n", "unknown_section"),
        ("[crawl\nmax_depth = 1\n", "cannot read configuration"),
    ],
)
def test_broken_config_gives_a_clear_error(tmp_path: Path, content: str, fragment: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(content)
    with pytest.raises(ConfigError) as excinfo:
        load_settings(config)
    assert fragment in str(excinfo.value)


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("content", "env", "fragment"),
    [
        ('[search]\nurll = "http://127.0.0.1:9200"\n', {}, "search.urll"),
        ("[workers]\nmax_retry = 3\n", {}, "workers.max_retry"),
        ("", {"DRAGNET_CRAWL__MAX_DEPTHH": "3"}, "crawl.max_depthh"),
    ],
)
def test_a_typo_inside_a_section_is_refused_with_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, env: dict[str, str], fragment: str
) -> None:
    config = tmp_path / "dragnet.toml"
    config.write_text(content)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        load_settings(config)


def test_dragnet_config_naming_a_missing_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRAGNET_CONFIG", str(tmp_path / "nowhere.toml"))
    with pytest.raises(ConfigError, match="nowhere.toml"):
        load_settings()
