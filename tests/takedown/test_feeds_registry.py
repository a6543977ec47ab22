"""The platform registry maps URLs to platforms, native ids and reporting channels."""

from __future__ import annotations

import pytest

from dragnet.documents import Contact
from takedown.registry import PlatformRegistry, RegistryError, load_registry


@pytest.mark.parametrize(
    "url, platform, ids, kind",
    [
        ("https://t.me/plugshop/123", "telegram", {"channel": "plugshop", "message_id": "123"}, "message"),
        ("https://t.me/s/plugshop/77?before=80", "telegram", {"channel": "plugshop", "message_id": "77"}, "message"),
        ("https://www.instagram.com/p/Cx1_ab-9/?utm_source=ig", "instagram", {"post_id": "Cx1_ab-9"}, "post"),
        ("https://twitter.com/dealer/status/1723", "x", {"account": "dealer", "post_id": "1723"}, "post"),
        ("https://x.com/dealer", "x", {"account": "dealer"}, "profile"),
        ("https://www.facebook.com/groups/4411/posts/9876", "facebook", {"server": "4411", "post_id": "9876"}, "post"),
        (
            "https://m.facebook.com/permalink.php?story_fbid=555&id=42",
            "facebook",
            {"post_id": "555", "account_id": "42"},
            "post",
        ),
        ("https://www.tiktok.com/@bob.k/video/7301", "tiktok", {"account": "bob.k", "post_id": "7301"}, "post"),
        ("https://www.snapchat.com/add/plug.uk", "snapchat", {"account": "plug.uk"}, "profile"),
        ("https://old.reddit.com/r/foo/comments/abc12/slug/", "reddit", {"server": "foo", "post_id": "abc12"}, "post"),
        (
            "https://discord.com/channels/11/22/33",
            "discord",
            {"server": "11", "channel": "22", "message_id": "33"},
            "message",
        ),
        ("https://discord.gg/abcd", "discord", {"server": "abcd"}, "group"),
        ("https://wa.me/447700900123", "whatsapp", {"account_id": "447700900123"}, "profile"),
    ],
)
def test_urls_map_to_platform_and_native_ids(url: str, platform: str, ids: dict[str, str], kind: str) -> None:
    m = load_registry().match(url)
    assert m is not None and m.platform == platform
    for key, value in ids.items():
        assert m.native_ids[key] == value
    assert m.content_type == kind


def test_unknown_hosts_and_lookalikes_do_not_match() -> None:
    registry = load_registry()
    assert registry.match("https://example.com/p/1") is None
    assert registry.match("https://t.me.evil.example/plug/1") is None
    assert registry.match("https://notinstagram.com/p/abc") is None
    assert registry.match("not a url") is None


def test_same_post_through_different_urls_is_one_target() -> None:
    registry = load_registry()
    a = registry.match("https://www.instagram.com/p/Cx1/?utm_source=a")
    b = registry.match("https://instagram.com/p/Cx1/")
    c = registry.match("https://twitter.com/dealer/status/1723")
    d = registry.match("https://x.com/dealer/status/1723?s=20")
    assert a and b and c and d
    assert a.target_key == b.target_key
    assert c.target_key == d.target_key


def test_every_platform_names_a_reporting_channel() -> None:
    registry = load_registry()
    for name in ("telegram", "instagram", "facebook", "x", "tiktok", "snapchat", "reddit", "discord"):
        spec = registry.get(name)
        assert spec is not None, name
        assert spec.reporting.url or spec.reporting.email, name


def test_contact_handles_become_profile_targets() -> None:
    registry = load_registry()
    m = registry.match_contact(Contact(kind="telegram", handle="@plug_uk"))
    assert m is not None and m.platform == "telegram" and m.profile_url == "https://t.me/plug_uk"
    assert m.content_type == "profile" and m.username == "plug_uk"
    assert registry.match_contact(Contact(kind="wickr", handle="plug")) is None
    assert registry.match_contact(Contact(kind="telegram", handle="a b/../c")) is None


def test_bad_registry_is_refused_with_the_platform_named() -> None:
    with pytest.raises(RegistryError, match="broken"):
        PlatformRegistry.from_dict(
            {
                "platforms": {
                    "broken": {
                        "display_name": "B",
                        "hosts": ["b.test"],
                        "ids": ["(unclosed"],
                        "reporting": {"kind": "email", "email": "x@b.test"},
                    }
                }
            }
        )
    with pytest.raises(RegistryError, match="metrics"):
        PlatformRegistry.from_dict(
            {"platforms": {"metrics": {"display_name": "M", "hosts": ["m.test"], "reporting": {"kind": "email"}}}}
        )
