"""The lifespan endpoint, page and commands, on an imported made-up table with a hostile name."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.auth import KeyStore
from dragnet.cli import app as cli_app
from dragnet.settings import use_settings
from lifespan.importer import import_csv
from lifespan.models import MarketState, ProbeResult, ProbeStatus, StateChange
from lifespan.store import LifespanStore

HOSTILE = "<script>alert(1)</script>Evil"


def table(path: Path) -> Path:
    path.write_text(
        "name,start,end,closure_type,notes\n"
        "AlphaBay,2014-12-22,2017-07-05,seized,Operation Bayonet\n"
        "Evolution,2014-01-14,2015-03-14,exit scam,\n"
        f'"{HOSTILE}",2016-01-01,2016-06-01,retired,\n'
        "Open One,2019-01-01,2019-12-01,open,\n",
        encoding="utf-8",
    )
    return path


def test_report_endpoint_and_escaped_page(settings, tmp_path) -> None:
    with LifespanStore(settings=settings) as store:
        assert import_csv(store, table(tmp_path / "t.csv")).imported == 4
        store.upsert_market("Watched", primary_host="x.onion")
        store.add_state_change(
            StateChange(
                market_id="watched",
                at=1.7e9,
                from_state=MarketState.ACTIVE,
                to_state=MarketState.DOWN,
                reason="3 consecutive failed probes",
                evidence={"url": 'http://x.onion/"><img src=x onerror=alert(2)>'},
            )
        )
        store.add_probe(
            ProbeResult(
                market_id="watched",
                url="http://x.onion/",
                host="x.onion",
                at=1.69e9,
                status=ProbeStatus.UP,
                title="<b onmouseover=alert(3)>Shop</b>",
                latency_ms=900,
            )
        )
        store.add_mirror("watched", "y" * 56 + ".onion", "clone", phishing=True, note="<i>clone</i>")
    keys = KeyStore(settings)
    analyst = keys.create_key("ana", "analyst")
    platform = keys.create_key("plat", "platform:examplechat")
    client = TestClient(create_app(settings))

    assert client.get("/lifespan/report").status_code == 401
    assert client.get("/lifespan/report", headers={"X-API-Key": platform}).status_code == 403
    resp = client.get("/lifespan/report", headers={"X-API-Key": analyst})
    assert resp.status_code == 200
    rep = resp.json()
    assert rep["survival"]["n"] == 4 and rep["survival"]["events"] == 3 and rep["survival"]["censored"] == 1
    assert {r["name"] for r in rep["markets"]} >= {"AlphaBay", HOSTILE}
    assert rep["survival"]["incidence"]["seized"]["events"] == 1

    page = client.get("/lifespan", headers={"X-API-Key": analyst})
    assert page.status_code == 200
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no scripts
    body = page.text
    assert "<script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;Evil" in body
    assert "onerror=alert(2)>" not in body and "&lt;img src=x onerror=alert(2)&gt;" in body
    # the survival plot is inline SVG (one plot per figure), labelled for screen readers
    assert "<svg role='img' aria-label='Kaplan-Meier survival'" in body and "<?xml" not in body

    detail = client.get("/lifespan/markets/watched", headers={"X-API-Key": analyst}).json()
    assert detail["state_changes"][0]["to_state"] == "down"
    assert client.get("/lifespan/markets/nope", headers={"X-API-Key": analyst}).status_code == 404
    # an analyst confirms the (suspected) change; a platform key may not
    assert client.post("/lifespan/markets/watched/confirm", headers={"X-API-Key": platform}).status_code == 403
    confirmed = client.post("/lifespan/markets/watched/confirm", headers={"X-API-Key": analyst})
    assert confirmed.status_code == 200 and confirmed.json()["confirmed_by"] == "ana"
    market_page = client.get("/lifespan/markets/watched/page", headers={"X-API-Key": analyst})
    assert market_page.status_code == 200 and "default-src 'none'" in market_page.headers["content-security-policy"]
    assert "<b onmouseover" not in market_page.text and "&lt;b onmouseover=alert(3)&gt;Shop" in market_page.text
    assert "LIKELY PHISHING" in market_page.text and "&lt;i&gt;clone&lt;/i&gt;" in market_page.text
    assert "data:image/png;base64," in market_page.text  # the uptime timeline
    # the summary page links probed markets to their pages
    assert "href='/lifespan/markets/watched/page'" in body


@pytest.mark.integration
def test_cli_import_report_and_probe(settings, tmp_path, sim_market, socks_proxy) -> None:
    use_settings(
        settings.model_copy(
            update={
                "tor": settings.tor.model_copy(update={"socks_url": socks_proxy.url}),
                "crawl": settings.crawl.model_copy(update={"profiles_dir": tmp_path / "none"}),
            }
        )
    )
    runner = CliRunner()
    result = runner.invoke(cli_app, ["lifespan", "import", str(table(tmp_path / "t.csv"))])
    assert result.exit_code == 0, result.output
    assert "imported 4" in result.output
    out = runner.invoke(cli_app, ["lifespan", "report", "--json", "--html", str(tmp_path / "page.html")])
    assert out.exit_code == 0, out.output
    rep = json.loads(out.stdout)
    assert rep["survival"]["n"] == 4
    assert "&lt;script&gt;" in (tmp_path / "page.html").read_text(encoding="utf-8")
    text = runner.invoke(cli_app, ["lifespan", "report"])
    assert text.exit_code == 0 and "median lifespan" in text.output

    market = sim_market("Cli Market")
    probe = runner.invoke(cli_app, ["probe", "--add", f"Cli Market=http://{market.host}/", "--json"])
    assert probe.exit_code == 0, probe.output
    line = json.loads(probe.stdout.strip().splitlines()[-1])
    assert line["market_id"] == "cli-market" and line["status"] == "up" and line["state"] == "active"
    again = runner.invoke(cli_app, ["probe"])  # nothing due within the interval
    assert again.exit_code == 0 and "no market due" in again.output


LONG_NAME = "Very Long Market Name That Would Not Fit Into Eighty Terminal Columns " + "X" * 40


def test_cli_plot_file_self_contained_html_and_uncut_columns(settings, tmp_path) -> None:
    with LifespanStore(settings=settings) as store:
        path = table(tmp_path / "t.csv")
        path.write_text(path.read_text(encoding="utf-8") + f'"{LONG_NAME}",2018-01-01,,,\n', encoding="utf-8")
        assert import_csv(store, path).imported == 5
        store.upsert_market("Watched", primary_host="x.onion")
    runner = CliRunner()

    svg_out = runner.invoke(
        cli_app, ["lifespan", "report", "--plot", str(tmp_path / "km.svg"), "--html", str(tmp_path / "r.html")]
    )
    assert svg_out.exit_code == 0, svg_out.output
    root = ElementTree.fromstring((tmp_path / "km.svg").read_bytes())  # well-formed SVG
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    svg_text = (tmp_path / "km.svg").read_text(encoding="utf-8")
    # two markets are open (censored): the legend says so and each gets a '+' marker on the curve
    assert "censored (2)" in svg_text and "Kaplan-Meier" in svg_text

    png_out = runner.invoke(cli_app, ["lifespan", "report", "--plot", str(tmp_path / "km.PNG")])
    assert png_out.exit_code == 0, png_out.output
    assert (tmp_path / "km.PNG").read_bytes().startswith(b"\x89PNG")
    bad = runner.invoke(cli_app, ["lifespan", "report", "--plot", str(tmp_path / "km.pdf")])
    assert bad.exit_code == 2 and ".png or .svg" in bad.output and not (tmp_path / "km.pdf").exists()

    # the written page stands alone: plots inline, no server-relative link or image, names escaped
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.count("<svg role='img'") == 2 and "censored (2)" in page
    assert "href='/" not in page and 'href="/' not in page and "src=" not in page
    assert "&lt;script&gt;" in page and "<script>" not in page and "Watched" in page

    # CliRunner's stdout is not a terminal: the table keeps every value whole (no '…')
    text = runner.invoke(cli_app, ["lifespan", "report"])
    assert text.exit_code == 0, text.output
    assert LONG_NAME in text.stdout and "…" not in text.stdout
    assert "import:t.csv" in text.stdout and "median lifespan" in text.stdout


def test_cli_plot_without_markets_is_one_line(settings, tmp_path) -> None:
    out = CliRunner().invoke(cli_app, ["lifespan", "report", "--plot", str(tmp_path / "km.svg")])
    assert out.exit_code == 1
    assert out.stderr.strip().splitlines() == ["no market lifespans to plot: import a table or probe markets first"]
    assert not (tmp_path / "km.svg").exists()
