"""The removal-metrics plot: counts tick at integers, hours start at 0, every axis says its unit.
Read from the SVG itself (labels are kept as text)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest

from dragnet.documents import utcnow
from dragnet.settings import DragnetSettings
from takedown import metrics
from takedown.delivery import feed_page
from takedown.service import FeedService
from tests.takedown.helpers import make_hit

SVG = "{http://www.w3.org/2000/svg}"


def _axes(svg: bytes) -> list[dict[str, list[str]]]:
    """Per drawn axes: its x tick labels, y tick labels and every other text."""
    root = ET.fromstring(svg)
    out: list[dict[str, list[str]]] = []
    for axes in root.iter(f"{SVG}g"):
        if not re.fullmatch(r"axes_\d+", axes.get("id", "")):
            continue
        ticks: dict[str, list[str]] = {"x": [], "y": [], "text": []}
        for g in axes.iter(f"{SVG}g"):
            m = re.fullmatch(r"([xy])tick_\d+", g.get("id", ""))
            if m:
                ticks[m.group(1)] += ["".join(t.itertext()).strip() for t in g.iter(f"{SVG}text")]
        ticks["text"] = ["".join(t.itertext()).strip() for t in axes.iter(f"{SVG}text")]
        out.append(ticks)
    return out


@pytest.mark.parametrize("removals", [1, 3, 7])
def test_plot_ticks_are_integer_counts_and_non_negative_hours(feed_settings: DragnetSettings, removals: int) -> None:
    service = FeedService(feed_settings)
    hits = [make_hit(f"https://fakegram.test/p/M{i}", f"xanax bars lot {i}") for i in range(removals)]
    created = service.ingest(hits, bundles=False).created
    for nid in created:
        service.review(nid, "approve", by="analyst:ann")
    feed_page(service, "fakegram", 0, 100)
    for i, nid in enumerate(created):  # removed a few minutes to a few hours after the notice
        notice = service.get(nid)
        v0 = notice.version
        service._transition(
            notice, "removed", "platform:fakegram", at=notice.time_of("sent") + timedelta(minutes=7 + 50 * i)
        )
        service.store.save(notice, bump=False, expect_version=v0)
    m = metrics.compute(service.store, now=utcnow())
    assert m.time_to_removal_hours["count"] == removals

    left, right = _axes(metrics.render_plot(m, "svg"))
    for axes in (left, right):
        assert axes["y"], axes
        assert all(re.fullmatch(r"\d+", label) for label in axes["y"]), axes["y"]  # no 0.5 listings
    assert all(not label.startswith(("-", "\u2212")) for label in right["x"]), right["x"]
    assert float(right["x"][0]) == 0  # the time axis starts at 0 hours
    assert all(re.fullmatch(r"\d{4}-\d{2}", label) for label in left["x"])
    assert "listings removed (count)" in left["text"] and "month (YYYY-MM, UTC)" in left["text"]
    assert "hours from notice to removal (h)" in right["text"] and "listings (count)" in right["text"]


def test_empty_plot_has_labelled_non_negative_axes(feed_settings: DragnetSettings) -> None:
    m = metrics.compute(FeedService(feed_settings).store, now=utcnow())
    left, right = _axes(metrics.render_plot(m, "svg"))
    assert "no removals yet" in right["text"]
    for axes in (left, right):
        assert all(re.fullmatch(r"\d+", label) for label in axes["y"]), axes["y"]
    assert all(not label.startswith(("-", "\u2212")) for label in right["x"])
