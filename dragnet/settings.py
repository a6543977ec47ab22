"""One typed settings object for the whole of Dragnet.

Every component reads its configuration from :func:`get_settings`; nothing else in the
code base reads the process environment.  Values come, highest priority first, from
explicit keyword arguments, ``DRAGNET_*`` environment variables (nested sections with a
double underscore: ``DRAGNET_SEARCH__URL``), a TOML file (``DRAGNET_CONFIG`` or the
``config_file`` argument), and the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_ENV_VAR = "DRAGNET_CONFIG"


def _default_home() -> Path:
    return Path.home() / ".local" / "share" / "dragnet"


def _default_cache() -> Path:
    return Path.home() / ".cache" / "dragnet"


class _Section(BaseModel):
    """A settings section: a key it does not know is a typo, refused with the key's name rather
    than silently ignored (``[search] urll = ...`` would otherwise leave the default in force)."""

    model_config = ConfigDict(extra="forbid")


class PathSettings(_Section):
    """Where Dragnet keeps state: data (store, WARCs, evidence) and caches (jars, models)."""

    data_dir: Path = Field(default_factory=_default_home)
    cache_dir: Path = Field(default_factory=_default_cache)

    @property
    def warc_dir(self) -> Path:
        return self.data_dir / "warc"

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"

    @property
    def crawl_runs_file(self) -> Path:
        """One JSON line per site crawl (crawlers.runlog): what the operator's crawl page reads."""
        return self.data_dir / "crawls" / "runs.jsonl"


class RedisSettings(_Section):
    """Celery broker and shared crawl frontier.  ``None`` means embedded (in-process) mode."""

    url: str | None = None


class SearchSettings(_Section):
    """The listing store: embedded SQLite FTS5, or an OpenSearch / Elasticsearch cluster."""

    backend: Literal["embedded", "opensearch", "elasticsearch", "auto"] = "embedded"
    # one node's URL, or the nodes of a cluster comma-separated: the client fails over between them
    url: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    verify_certs: bool = True
    index_prefix: str = "dragnet"
    test_es_url: str | None = None  # a real Elasticsearch for the contract tests (DRAGNET_SEARCH__TEST_ES_URL)
    shards: int = Field(default=1, ge=1)
    replicas: int = Field(default=0, ge=0)
    embedded_path: Path | None = None  # default: <data_dir>/store.sqlite3
    # listings per read-merge-write cycle (one mget, one bulk); small enough that a 1,000-listing
    # batch splits into bulk_concurrency parts
    bulk_chunk_size: int = Field(default=250, ge=1)
    # bulk requests in flight at once from one upsert call (listings split by id, so no two
    # requests touch the same listing): the engine indexes some while the client builds others
    # (4 x 250 measured best on 2 cores: `dragnet bench index`)
    bulk_concurrency: int = Field(default=4, ge=1, le=16)
    # bytes of one _bulk request body at most (a chunk of long listings is sent as several
    # requests; one document larger than this goes alone): engines refuse bodies over
    # http.max_content_length (100 MB by default) and bulk is most efficient at 5-15 MB
    bulk_max_bytes: int = Field(default=8 * 1024 * 1024, ge=4096)
    request_timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=5, ge=0)
    # lifecycle policy of the monthly version indices (P-versions-YYYY.MM): Elasticsearch ILM,
    # OpenSearch ISM; created by ensure_schema when the engine has it (skipped, with a log line,
    # when it does not). Ages count from an index's creation (the first change archived for a
    # listing first seen in that month). No read-only phase: a month's index keeps receiving
    # the versions of its listings whenever they change.
    versions_lifecycle: bool = True
    versions_warm_after_days: int = Field(default=30, ge=1)  # then lower recovery priority
    versions_retention_days: int | None = Field(default=None, ge=1)  # None: versions kept forever


class TorSettings(_Section):
    """Tor's SOCKS5 proxy; ``socks5h`` so that .onion names resolve inside Tor."""

    socks_url: str = "socks5h://127.0.0.1:9050"
    isolate_per_market: bool = True  # distinct SOCKS credentials = distinct Tor circuits


class CrawlSettings(_Section):
    """Crawler politeness, safety caps and output."""

    profiles_dir: Path | None = None  # default: the profiles bundled with crawlers/
    user_agent: str = "Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0"
    allow_private_targets: bool = False
    allowed_private_hosts: list[str] = Field(default_factory=list)
    max_response_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    warn_response_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    download_timeout_s: float = Field(default=60.0, gt=0)
    concurrent_requests: int = Field(default=32, ge=1)
    concurrent_requests_per_host: int = Field(default=8, ge=1)
    download_delay_s: float = Field(default=0.0, ge=0)
    max_depth: int = Field(default=25, ge=0)
    max_pages_per_host: int = Field(default=20000, ge=1)
    retry_times: int = Field(default=5, ge=0)
    recrawl_after_s: float = Field(default=24 * 3600, gt=0)
    # The crawl schedule (crawlers/schedule.py): the beat hands out a round per site every
    # recrawl_interval_s (a profile's recrawl_s overrides it; a round inside the freshness window
    # recrawl_after_s re-fetches only what the dupefilter forgot), replicas of `dragnet crawl
    # --scheduled` take them and hold a lease renewed every third of lease_ttl_s; a dead
    # replica's round goes on after lease_ttl_s.  replicas_per_site > 1 lets idle replicas join
    # a site's round while its shared frontier still has queued requests.
    recrawl_interval_s: float = Field(default=24 * 3600, gt=0)
    schedule_key: str = "dragnet:crawl:schedule"
    lease_ttl_s: float = Field(default=60.0, ge=1)
    replicas_per_site: int = Field(default=1, ge=1)
    schedule_poll_s: float = Field(default=5.0, gt=0)  # an idle replica looks for a round this often
    round_retry_s: float = Field(default=900.0, gt=0)  # a round no crawl of which succeeded comes back after this
    retry_backoff_s: float = Field(default=0.5, ge=0)  # first back-off; doubles per retry
    retry_backoff_max_s: float = Field(default=60.0, ge=0)  # also caps a server's Retry-After
    max_pattern_pages: int = Field(default=5000, ge=1)  # distinct URLs per repeating URL shape (traps)
    handoff_batch_size: int = Field(default=64, ge=1)
    # the crawl's progress line when stderr is not a terminal: one plain line this often (0: none)
    progress_interval_s: float = Field(default=10.0, ge=0)
    # Prometheus metrics of a crawl (crawlers/metrics.py): served while it runs, written when it ends
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 only inside a container network (docker/compose.yaml)
    metrics_textfile: Path | None = None  # for node_exporter's textfile collector (one-shot crawls)
    # Telegram public channels (crawlers/spiders/telegram.py)
    telegram_max_pages: int = Field(default=50, ge=1)  # preview pages (~20 messages) per channel per crawl
    telegram_max_text_chars: int = Field(default=8000, ge=100)  # a message's text is cut here
    telegram_recrawl_s: float = Field(default=3600.0, gt=0)  # default interval of 'dragnet sources add'
    # dated USD rates (date,currency,usd): prices convert at the newest rate on or before the
    # crawl date (extract.rates); default: the table bundled as extract/rates.csv
    rates_file: Path | None = None
    # deprecated: undated rates that override the table for their currencies (rate_date empty);
    # kept so that config files written for the old constant table still load
    usd_rates: dict[str, PositiveFloat] = Field(default_factory=dict)


class BrowserSettings(_Section):
    """Chromium for Playwright-rendered pages (Debian's package; never a downloaded build)."""

    chromium_path: Path | None = None  # default: found on PATH (/usr/bin/chromium)
    headless: bool = True
    page_timeout_s: float = Field(default=30.0, gt=0)
    max_scrolls: int = Field(default=200, ge=1)
    # caps on what one rendered timeline may hand back (a hostile page decides how much it shows)
    max_posts_per_page: int = Field(default=2000, ge=1)
    max_post_html_bytes: int = Field(default=256 * 1024, ge=1024)  # a post's HTML record is cut here
    max_screenshot_px: int = Field(default=4000, ge=100)  # a taller or wider post gets no screenshot


class ClassifierSettings(_Section):
    """The drug-sale classifier: where the model lives and how it runs."""

    model_dir: Path | None = None  # default: <cache_dir>/models/default
    device: Literal["auto", "cpu", "cuda"] = "auto"
    max_length: int = Field(default=256, ge=16)
    batch_size: int = Field(default=64, ge=1)
    precision_target: float = Field(default=0.95, gt=0, le=1)
    # let the n-gram heads settle the posts they are sure about (classifier.cascade)
    cascade: bool = True
    data_dir: Path | None = None  # default: ../shared/data next to the checkout
    seed: int = 13


class WorkerSettings(_Section):
    """Celery queues, batching and delivery guarantees."""

    classify_batch_size: int = Field(default=64, ge=1)
    classify_max_wait_s: float = Field(default=1.0, gt=0)
    max_retries: int = Field(default=10, ge=0)
    retry_backoff_max_s: float = Field(default=60.0, gt=0)
    max_text_bytes: int = Field(default=1_000_000, ge=1)
    routes: dict[str, str] = Field(
        default_factory=lambda: {
            "workers.tasks.classify_batch": "classify",
            "workers.tasks.index_batch": "index",
            "workers.tasks.deliver_feed": "feeds",
            "workers.tasks.notify_feeds": "feeds",
            "workers.tasks.deliver_all_feeds": "feeds",
            "workers.tasks.recheck_removals": "feeds",
            "workers.tasks.probe_market": "probes",
            "workers.tasks.probe_due_markets": "probes",
            "workers.tasks.schedule_crawls": "probes",
        }
    )
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 only inside a container network (docker/compose.yaml)
    retry_backoff_base_s: float = Field(default=1.0, gt=0)
    # Redis redelivers a message whose worker died unacked after this long; it must exceed the
    # longest task plus the longest retry countdown (duplicates are harmless: effects are idempotent).
    visibility_timeout_s: float = Field(default=3600.0, gt=0)
    prefetch_multiplier: int = Field(default=1, ge=1)
    autoscale: str | None = None  # "max,min" worker processes, e.g. "8,2"
    threads_per_process: int | None = Field(default=None, ge=1)  # torch threads per worker process
    probe_check_interval_s: float = Field(default=60.0, gt=0)  # beat: how often due markets are probed
    crawl_check_interval_s: float = Field(default=60.0, gt=0)  # beat: how often due crawl rounds are handed out
    dlq_key: str = "dragnet:dlq"
    inflight_key: str = "dragnet:inflight"  # the ledger of listings handed on but not yet indexed
    feeds_check_interval_s: float = Field(default=300.0, gt=0)  # beat: push pending notices, re-check removals
    # workers and senders publish task events (sent, received, started, succeeded, failed) so that
    # Flower or `celery events` show each task; off saves one broker message per task state
    task_events: bool = True


class ApiSettings(_Section):
    """The analyst / platform / operator HTTP API."""

    @field_validator("bootstrap_admin_key")
    @classmethod
    def _strong_bootstrap(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value() and len(value.get_secret_value()) < 32:
            raise ValueError("the bootstrap admin key must be at least 32 characters (openssl rand -hex 24)")
        return value

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    bootstrap_admin_key: SecretStr | None = None  # at least 32 characters; retired once an admin key exists
    key_ttl_days: float | None = Field(default=365.0, gt=0)  # lifetime of a new API key; None: never expires
    public_url: str | None = None
    db_path: Path | None = None  # keys, audit log, saved searches; default: <data_dir>/api.sqlite3
    max_body_bytes: int = Field(default=1_048_576, ge=1024)  # larger request bodies are refused unread (413)
    alert_interval_s: float = Field(default=300.0, gt=0)  # how often `dragnet serve` checks saved searches
    alert_timeout_s: float = Field(default=10.0, gt=0)
    export_max_rows: int = Field(default=100_000, ge=1)
    # POST /api/v1/scan (platforms): batches up to scan_sync_max are answered at once, larger ones
    # (up to scan_max_posts) become a background job; verdicts are kept (hashes, never text) for
    # scan_retention_days so that a repeated post is answered without the model
    scan_sync_max: int = Field(default=256, ge=1)
    scan_max_posts: int = Field(default=10_000, ge=1)
    scan_max_text_chars: int = Field(default=100_000, ge=1)
    scan_max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)  # the scan route's own body cap
    scan_quota_per_minute: int = Field(default=60_000, ge=1)  # posts per platform per rolling minute
    scan_retention_days: float = Field(default=30.0, gt=0)
    scan_job_workers: int = Field(default=1, ge=1, le=16)  # background scan jobs run at once per API process
    scan_job_ttl_s: float = Field(default=24 * 3600.0, gt=0)  # a finished job can be polled this long
    # continuous intake (api/intake.py): Redis streams per platform between the API and `dragnet intake run`
    intake_stream_prefix: str = "dragnet:intake"
    intake_max_backlog: int = Field(default=50_000, ge=1)  # posts waiting for a verdict before pushes get 429
    intake_retry_after_s: int = Field(default=5, ge=1)
    intake_batch: int = Field(default=64, ge=1)  # posts a consumer classifies per stream per round
    intake_claim_idle_s: float = Field(default=60.0, gt=0)  # a dead consumer's messages are taken over after


class FeedSettings(_Section):
    """Takedown notices: who we are to the platforms, and how we deliver."""

    platforms_file: Path | None = None  # default: the registry bundled with the feeds module
    notifier_name: str = "Dragnet operator"
    notifier_email: str = "abuse-reports@example.org"
    trusted_flagger: bool = False
    jurisdiction: str = "EU"
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_replay_window_s: int = Field(default=300, ge=1)
    max_notices_per_hour: int = Field(default=500, ge=1)
    signing_key_file: Path | None = None  # ECDSA P-256/P-384 (WACZ signing); default: a P-384 key in <data_dir>/keys
    # keys `dragnet evidence verify` trusts besides this deployment's own (base64 DER SPKI, as GET /feeds/signing-key)
    evidence_trusted_keys: list[str] = Field(default_factory=list)
    store_path: Path | None = None  # default: <data_dir>/feeds.sqlite3
    webhook_max_attempts: int = Field(default=5, ge=1)
    webhook_backoff_s: float = Field(default=1.0, ge=0)
    webhook_backoff_max_s: float = Field(default=300.0, gt=0)
    notice_ttl_days: int = Field(default=90, ge=1)
    tlp: str = "TLP:AMBER"
    dsa_category: str = "STATEMENT_CATEGORY_UNSAFE_AND_ILLEGAL_PRODUCTS"
    dsa_keyword: str = "KEYWORD_REGULATED_GOODS_SERVICES"
    legal_ground: str = (
        "Illicit offer of narcotic drugs and psychotropic substances (UN Single Convention 1961, "
        "Convention 1971; Council Framework Decision 2004/757/JHA Art. 2)"
    )
    recrawl_proxy_url: str | None = None  # clearnet re-crawls; .onion always goes through tor.socks_url
    webhook_allow_private: bool = False  # allow webhook URLs on loopback/private addresses (tests, on-prem)
    webhook_batch: int = Field(default=200, ge=1)
    recrawl_timeout_s: float = Field(default=20.0, gt=0)
    recheck_interval_s: float = Field(default=6 * 3600.0, ge=0)  # re-crawl a sent notice at most this often
    removed_markers: list[str] = Field(
        default_factory=lambda: [
            "post removed",
            "this content isn't available",
            "page not found",
            "this post has been removed",
            "content unavailable",
            "account suspended",
            "message was deleted",
        ]
    )


class LifespanSettings(_Section):
    """Marketplace probes and lifespan analytics."""

    probe_interval_s: float = Field(default=3600.0, gt=0)
    # the back-off cap for failing and dead markets: one that returns is noticed within a day
    backoff_max_s: float = Field(default=24 * 3600.0, gt=0)
    probe_timeout_s: float = Field(default=60.0, gt=0)
    store_path: Path | None = None  # default: <data_dir>/lifespan.sqlite3
    probe_max_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    degraded_latency_s: float = Field(default=20.0, gt=0)
    down_after_failures: int = Field(default=3, ge=1)
    retire_after_s: float = Field(default=90 * 24 * 3600.0, gt=0)
    exit_scam_outage_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    exit_scam_min_complaints: int = Field(default=3, ge=1)
    complaint_window_s: float = Field(default=30 * 24 * 3600.0, gt=0)
    canary_max_age_days: int = Field(default=14, ge=1)
    clone_similarity: float = Field(default=0.8, gt=0, le=1)
    seizure_image_hashes: list[str] = Field(default_factory=list)  # sha256 or ahash:<hex> of known banners
    probe_concurrency: int = Field(default=8, ge=1, le=256)


class DragnetSettings(BaseSettings):
    """All of Dragnet's configuration, one section per part."""

    model_config = SettingsConfigDict(
        env_prefix="DRAGNET_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    env: Literal["dev", "test", "prod"] = "dev"
    log_level: str = "INFO"
    log_json: bool = False
    secrets_key: SecretStr | None = None  # Fernet key sealing stored secrets; default: <data_dir>/keys/secrets.key
    paths: PathSettings = Field(default_factory=PathSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    tor: TorSettings = Field(default_factory=TorSettings)
    crawl: CrawlSettings = Field(default_factory=CrawlSettings)
    browser: BrowserSettings = Field(default_factory=BrowserSettings)
    classifier: ClassifierSettings = Field(default_factory=ClassifierSettings)
    workers: WorkerSettings = Field(default_factory=WorkerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    feeds: FeedSettings = Field(default_factory=FeedSettings)
    lifespan: LifespanSettings = Field(default_factory=LifespanSettings)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file_from_env()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    # Derived locations, so that no caller re-implements the defaults.
    @property
    def model_dir(self) -> Path:
        return self.classifier.model_dir or self.paths.cache_dir / "models" / "default"

    @property
    def embedded_store_path(self) -> Path:
        return self.search.embedded_path or self.paths.data_dir / "store.sqlite3"

    @property
    def training_data_dir(self) -> Path:
        if self.classifier.data_dir is not None:
            return self.classifier.data_dir
        return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


class ConfigError(ValueError):
    """A configuration file or variable is unreadable or invalid; the message says which."""


_config_override: Path | None = None


def _config_file_from_env() -> Path | None:
    if _config_override is not None:
        return _config_override
    raw = os.environ.get(CONFIG_ENV_VAR)
    if not raw:
        return None
    path = Path(raw)
    if not path.is_file():  # a pointer to nothing is a mistake, not "use the defaults"
        raise ConfigError(f"{CONFIG_ENV_VAR}={raw} names no readable file")
    return path


def load_settings(config_file: Path | None = None, **overrides: Any) -> DragnetSettings:
    """Build settings from defaults, an optional TOML file, the environment and overrides.

    Raises :class:`ConfigError` with a readable message instead of a pydantic traceback,
    because a broken config file is an operator mistake, not a crash.
    """
    global _config_override

    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist")
    previous = _config_override
    _config_override = config_file if config_file is not None else previous
    try:
        return DragnetSettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from None
    except ConfigError:
        raise
    except (OSError, ValueError) as exc:  # unreadable or malformed TOML
        raise ConfigError(f"cannot read configuration: {exc}") from None
    finally:
        _config_override = previous


_active: DragnetSettings | None = None


def get_settings() -> DragnetSettings:
    """The process-wide settings, loaded on first use."""
    global _active
    if _active is None:
        _active = load_settings()
    return _active


def use_settings(settings: DragnetSettings | None) -> None:
    """Make ``settings`` the process-wide object (``None``: reload from the environment next time)."""
    global _active
    _active = settings


def reset_settings() -> None:
    use_settings(None)
