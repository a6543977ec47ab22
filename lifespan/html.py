"""The lifespan report and a market's page as self-contained HTML (the report's plots inlined as
SVG, a market's timeline as a PNG data URI): served by the API and written by ``dragnet lifespan
report --html``, whose file has no server-relative links (it is read away from the server).
Every value that came from a crawled page or an analyst is escaped."""

from __future__ import annotations

import base64
import html
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from lifespan.analytics import plots, timeline_png


def _fmt_time(ts: Any) -> str:
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC).strftime("%Y-%m-%d")
    except (TypeError, ValueError, OverflowError, OSError):
        return "-"


def _fmt_num(value: Any, digits: int = 1) -> str:
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return "-"


def render_market_page(detail: dict[str, Any]) -> str:
    """One market: state, mirrors (verified / phishing), uptime timeline, state changes, probes."""
    e = html.escape
    m = detail["market"]
    png = timeline_png(detail["probes"], detail["state_changes"])
    state = e(str(m["state"])) + (" <span class='s'>(suspected)</span>" if m.get("suspected") else "")
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Dragnet - market</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}.s{color:#a40}.p{color:#c00}</style>"
        "</head><body><main>",
        f"<h1>{e(str(m['name']))}</h1><p>State <b>{state}</b> since {e(_fmt_time(m.get('state_since')))}; "
        f"first seen {e(_fmt_time(m.get('first_seen')))}, last seen {e(_fmt_time(m.get('last_seen')))}; "
        f"uptime {e(_fmt_num(detail.get('uptime_pct')))}% of probes; next probe {e(_fmt_time(m.get('next_probe_at')))}"
        "</p>",
    ]
    if png:
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<h2>Uptime timeline</h2><img alt='uptime timeline' src='data:image/png;base64,{data}'>")
    parts.append(
        "<h2>Addresses</h2><table><tr><th>host</th><th>source</th><th>signed</th><th>phishing</th><th>note</th></tr>"
    )
    for mirror in detail["mirrors"]:
        phishing = "<span class='p'>LIKELY PHISHING</span>" if mirror["phishing"] else ""
        parts.append(
            f"<tr><td>{e(str(mirror['host']))}</td><td>{e(str(mirror['source']))}</td>"
            f"<td>{'yes' if mirror['verified'] else ''}</td><td>{phishing}</td>"
            f"<td>{e(str(mirror.get('note') or ''))}</td></tr>"
        )
    parts.append(
        "</table><h2>State changes</h2><table><tr><th>when</th><th>change</th><th>reason</th><th>evidence</th></tr>"
    )
    for c in detail["state_changes"]:
        flag = " <span class='s'>(suspected)</span>" if c.get("suspected") else ""
        if c.get("confirmed_by"):
            flag += f" confirmed by {e(str(c['confirmed_by']))}"
        evidence = "; ".join(f"{k}={v}" for k, v in c["evidence"].items() if k != "images")
        parts.append(
            f"<tr><td>{e(_fmt_time(c['at']))}</td><td>{e(str(c['from_state']))} &rarr; "
            f"{e(str(c['to_state']))}{flag}</td><td>{e(str(c['reason']))}</td>"
            f"<td>{e(evidence[:1000])}</td></tr>"
        )
    parts.append(
        "</table><h2>Recent probes</h2><table><tr><th>when</th><th>url</th><th>status</th><th>kind</th>"
        "<th>HTTP</th><th>latency ms</th><th>title</th></tr>"
    )
    for p in detail["probes"][::-1]:
        parts.append(
            f"<tr><td>{e(_fmt_time(p['at']))}</td><td>{e(str(p['url']))}</td><td>{e(str(p['status']))}</td>"
            f"<td>{e(str(p.get('down_kind') or ''))}</td><td>{e(str(p.get('http_status') or ''))}</td>"
            f"<td>{e(_fmt_num(p.get('latency_ms'), 0))}</td><td>{e(str(p.get('title') or ''))}</td></tr>"
        )
    parts.append("</table></main></body></html>")
    return "".join(parts)


def inline_svg(svg: bytes, label: str) -> str:
    """matplotlib's SVG file as an element for an HTML page: the XML prolog and doctype dropped,
    labelled for screen readers.  Only our own axis text is in it (no crawled value)."""
    text = svg.decode("utf-8")
    text = text[text.index("<svg") :]
    return text.replace("<svg", f"<svg role='img' aria-label='{html.escape(label)}'", 1)


def render_page(rep: dict[str, Any], changes: list[dict[str, Any]] | None = None, links: bool = True) -> str:
    """The lifespan page: summary, survival and incidence plots, market table, recent changes.
    ``links=False`` for a file read away from the server: market names are not linked."""
    e = html.escape
    s = rep["survival"]
    svgs = plots(s, "svg")
    lo, hi = s.get("median_ci") or (None, None)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Dragnet - marketplace lifespan</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}.s{color:#a40}</style></head><body><main>",
        "<h1>Marketplace lifespan</h1>",
        f"<p>{e(str(s['n']))} markets, {e(str(s['events']))} closed, {e(str(s['censored']))} censored (still open "
        f"or undecided). Median lifespan <b>{e(_fmt_num(s.get('median_days')))}</b> days "
        f"({e(str(int(100 * (1 - s.get('alpha', 0.05)))))}% CI {e(_fmt_num(lo))} to {e(_fmt_num(hi))}).</p>",
    ]
    if rep.get("confirmed_only"):
        parts.append("<p>Suspected closures are counted as open (confirmed only).</p>")
    for key, title in (("survival", "Kaplan-Meier survival"), ("incidence", "Cumulative incidence by closure type")):
        if key in svgs:
            parts.append(f"<h2>{e(title)}</h2><figure>{inline_svg(svgs[key], title)}</figure>")
    parts.append(
        "<h2>Survival at</h2><table><tr><th>days</th><th>S(t)</th>"
        + "".join(f"<th>{e(name)}</th>" for name in s.get("incidence", {}))
        + "</tr>"
    )
    for day, value in (s.get("survival_at") or {}).items():
        parts.append(
            f"<tr><td>{e(day)}</td><td>{e(_fmt_num(value, 3))}</td>"
            + "".join(f"<td>{e(_fmt_num(inc['at'].get(day), 3))}</td>" for inc in s["incidence"].values())
            + "</tr>"
        )
    parts.append(
        "</table><h2>Markets</h2><table><tr><th>market</th><th>source</th><th>state</th><th>first seen</th>"
        "<th>last seen / end</th><th>days</th><th>uptime %</th><th>closure</th></tr>"
    )
    for row in rep["markets"]:
        closure = e(row.get("closure_type") or "open")
        if row.get("suspected"):
            closure += " <span class='s'>(suspected)</span>"
        parts.append(
            f"<tr><td>{e(str(row['name']))}</td><td>{e(str(row['source']))}</td>"
            f"<td>{e(str(row.get('state') or '-'))}</td><td>{e(_fmt_time(row['start']))}</td>"
            f"<td>{e(_fmt_time(row['end']))}</td><td>{e(_fmt_num(row['days']))}</td>"
            f"<td>{e(_fmt_num(row.get('uptime_pct')))}</td><td>{closure}</td></tr>"
        )
    parts.append("</table>")
    if rep.get("registry"):
        parts.append(
            "<h2>Probed markets</h2><table><tr><th>market</th><th>state</th><th>address</th>"
            "<th>last probe</th><th>next probe</th></tr>"
        )
        for m in rep["registry"]:
            link = f"/lifespan/markets/{quote(str(m['market_id']), safe='')}/page"
            flag = " <span class='s'>(suspected)</span>" if m.get("suspected") else ""
            name = f"<a href='{e(link)}'>{e(str(m['name']))}</a>" if links else e(str(m["name"]))
            parts.append(
                f"<tr><td>{name}</td><td>{e(str(m['state']))}{flag}</td>"
                f"<td>{e(str(m.get('primary_host') or '-'))}</td><td>{e(_fmt_time(m.get('last_probe_at')))}</td>"
                f"<td>{e(_fmt_time(m.get('next_probe_at')))}</td></tr>"
            )
        parts.append("</table>")
    if changes:
        parts.append(
            "<h2>Recent state changes</h2><table><tr><th>when</th><th>market</th><th>change</th>"
            "<th>reason</th><th>evidence</th></tr>"
        )
        for c in changes:
            evidence = ", ".join(
                f"{k}={v}"
                for k, v in c["evidence"].items()
                if k
                in {
                    "url",
                    "down_kind",
                    "http_status",
                    "consecutive_failures",
                    "outage_s",
                    "seizure_phrases",
                    "seizure_agencies",
                    "content_sha256",
                }
            )
            flag = " <span class='s'>(suspected)</span>" if c.get("suspected") else ""
            parts.append(
                f"<tr><td>{e(_fmt_time(c['at']))}</td><td>{e(str(c['market_id']))}</td>"
                f"<td>{e(str(c['from_state']))} &rarr; {e(str(c['to_state']))}{flag}</td>"
                f"<td>{e(str(c['reason']))}</td><td>{e(evidence[:500])}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</main></body></html>")
    return "".join(parts)
