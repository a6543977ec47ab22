"""The platform registry: which platform a URL belongs to, the native ids it carries and the door
(reporting channel) through which a notice about it enters that platform.

It lives in configuration (``platforms.yaml`` bundled here, or ``feeds.platforms_file``) because
trust-and-safety teams change their reporting channels and URL shapes faster than code ships.
"""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from dragnet.documents import Contact, canonicalize_url
from dragnet.settings import DragnetSettings, get_settings

BUNDLED_REGISTRY = Path(__file__).with_name("platforms.yaml")
NATIVE_ID_KEYS = ("post_id", "message_id", "channel", "server", "account", "account_id")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class RegistryError(ValueError):
    """The registry file is unreadable or inconsistent; the message names the platform."""


class ReportingChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["dsa_form", "trusted_flagger", "api", "email", "webhook"]
    url: str | None = None
    email: str | None = None


class PlatformSpec(BaseModel):
    """One platform as configured."""

    model_config = ConfigDict(extra="forbid")

    name: str
    display_name: str
    hosts: list[str]
    ids: list[str] = Field(default_factory=list)
    profile: str | None = None
    channel_is_account: bool = False
    reporting: ReportingChannel
    auto_approve_score: float | None = Field(default=None, ge=0, le=1)
    max_notices_per_hour: int | None = Field(default=None, ge=1)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME_RE.match(value) or value in {"metrics", "notices", "schema", "metrics.html", "metrics.svg"}:
            raise ValueError(f"platform name {value!r} must be lower-case [a-z0-9_-] and not reserved")
        return value

    def compiled_ids(self) -> list[re.Pattern[str]]:
        return [re.compile(p) for p in self.ids]

    def matches_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for pattern in self.hosts:
            pattern = pattern.lower()
            if fnmatch.fnmatchcase(host, pattern):
                return True
            if pattern.startswith("*.") and host == pattern[2:]:
                return True
        return False


ContentType = Literal["post", "message", "profile", "group", "page"]


class PlatformMatch(BaseModel):
    """What the registry knows about one URL."""

    platform: str
    url: str
    canonical_url: str
    native_ids: dict[str, str] = Field(default_factory=dict)
    username: str | None = None
    profile_url: str | None = None
    content_type: ContentType = "page"

    @property
    def target_key(self) -> str:
        """What makes two URLs the same target: the native post/message id where the URL has one
        (so mirrors, tracking parameters and alternate hosts collapse), else the canonical URL."""
        ids = self.native_ids
        for key in ("post_id", "message_id"):
            if key in ids:
                scope = ids.get("channel") or ids.get("server") or ids.get("account_id") or ""
                return f"{self.platform}:{scope}:{key}={ids[key]}"
        if self.content_type == "profile" and self.username:
            return f"{self.platform}:account={self.username.lower()}"
        return f"{self.platform}:url={self.canonical_url}"


class PlatformRegistry:
    """All configured platforms; :meth:`match` maps a URL to its platform and native ids."""

    def __init__(self, platforms: dict[str, PlatformSpec], contact_kinds: dict[str, str] | None = None) -> None:
        self.platforms = platforms
        self.contact_kinds = {k.lower(): v for k, v in (contact_kinds or {}).items()}
        self._compiled = {name: spec.compiled_ids() for name, spec in platforms.items()}
        for kind, platform in self.contact_kinds.items():
            if platform not in platforms:
                raise RegistryError(f"contact kind {kind!r} routes to unknown platform {platform!r}")

    @classmethod
    def from_file(cls, path: Path) -> PlatformRegistry:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise RegistryError(f"cannot read platform registry {path}: {exc}") from None
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PlatformRegistry:
        platforms: dict[str, PlatformSpec] = {}
        for name, body in (raw.get("platforms") or {}).items():
            try:
                spec = PlatformSpec(name=name, **(body or {}))
                spec.compiled_ids()
            except (ValueError, re.error) as exc:
                raise RegistryError(f"platform {name!r}: {exc}") from None
            platforms[name] = spec
        return cls(platforms, raw.get("contact_kinds") or {})

    def get(self, name: str) -> PlatformSpec | None:
        return self.platforms.get(name)

    def names(self) -> list[str]:
        return sorted(self.platforms)

    def platform_for_host(self, host: str) -> PlatformSpec | None:
        for spec in self.platforms.values():
            if spec.matches_host(host):
                return spec
        return None

    def match(self, url: str) -> PlatformMatch | None:
        """The platform of ``url`` and the native ids its path carries, or ``None``."""
        try:
            parts = urlsplit(url.strip())
            host = parts.hostname or ""
        except ValueError:
            return None
        spec = self.platform_for_host(host)
        if spec is None:
            return None
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        ids: dict[str, str] = {}
        for pattern in self._compiled[spec.name]:
            m = pattern.search(target)
            if m:
                ids = {k: v for k, v in m.groupdict().items() if v}
                break
        if spec.channel_is_account and "channel" in ids and "account" not in ids:
            ids["account"] = ids["channel"]
        username = ids.get("account")
        profile_url = None
        if spec.profile:
            try:
                profile_url = spec.profile.format(**ids) if username or "{account}" not in spec.profile else None
            except KeyError:
                profile_url = None
        content_type: ContentType
        if "message_id" in ids and "post_id" not in ids:
            content_type = "message"
        elif "post_id" in ids:
            content_type = "post"
        elif username or "account_id" in ids:
            content_type = "profile"
        elif "server" in ids:
            content_type = "group"
        else:
            content_type = "page"
        return PlatformMatch(
            platform=spec.name,
            url=url,
            canonical_url=canonicalize_url(url),
            native_ids=ids,
            username=username,
            profile_url=profile_url,
            content_type=content_type,
        )

    def match_contact(self, contact: Contact) -> PlatformMatch | None:
        """A contact handle found in a listing (``telegram: @plug``) as a profile target on the
        platform that hosts the account, so the account itself can be reported."""
        platform = self.contact_kinds.get(contact.kind.lower())
        spec = self.platforms.get(platform or "")
        if spec is None or not spec.profile:
            return None
        handle = contact.handle.strip().lstrip("@")
        if not re.fullmatch(r"[A-Za-z0-9_.+-]{2,64}", handle):
            return None
        try:
            url = spec.profile.format(account=handle, account_id=handle)
        except KeyError:
            return None
        return PlatformMatch(
            platform=spec.name,
            url=url,
            canonical_url=canonicalize_url(url),
            native_ids={"account": handle},
            username=handle,
            profile_url=url,
            content_type="profile",
        )


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float) -> PlatformRegistry:
    return PlatformRegistry.from_file(Path(path))


def load_registry(settings: DragnetSettings | None = None) -> PlatformRegistry:
    """The registry named by ``feeds.platforms_file`` (default: the bundled one), re-read when
    the file changes."""
    settings = settings or get_settings()
    path = settings.feeds.platforms_file or BUNDLED_REGISTRY
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise RegistryError(f"cannot read platform registry {path}: {exc}") from None
    return _load_cached(str(path), mtime)
