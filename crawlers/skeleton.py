"""``dragnet profile new``: a commented skeleton profile to fill in.

Every value an operator must supply is a string starting with ``TODO`` (with an example after
it); :func:`crawlers.profiles.load_profile` refuses a profile that still has one, naming where,
so a half-filled skeleton can never be crawled with placeholder selectors.
"""

from __future__ import annotations

import re

_HEAD = """\
# Site profile {name!r} ({kind}), from 'dragnet profile new'.  Replace every "TODO ..." value (the
# text after TODO is an example), then try the profile on one page of the site:
#   dragnet profile check {name}.yaml http://<onion>/some/page     (fetched through the proxy)
#   dragnet profile check {name}.yaml saved-page.html --url http://<onion>/some/page
# Selectors are CSS: "h1::text" for text, "a::attr(href)" for links, "div.body ::text" for all
# the text under an element.  Reference: crawlers/README.md ("Site profiles").
name: {name}
kind: {kind}
title: {name}                      # the site's name as analysts see it
start_urls: ["TODO http://<56 characters>.onion/"]   # where a crawl starts
mirrors: []                        # the same site's other onion names (same paths)
# follow_hosts: []                 # other hosts links may lead to (default: none)
# signed_mirrors_path: /mirrors.txt
# login:                           # a research account, when the site needs one
#   url: /login
#   form_css: "form#login"
#   fields: {{username: research-account, password: secret}}
# gate:                            # an anti-DDoS page or captcha in front of the site
#   markers: ["Checking your browser"]   # text that only the gate page has
#   solve: human                   # human: pause and wait for 'dragnet session import';
#                                  # form (with form_css): an automatic form a crawl submits
# max_depth: 1000
# delay_s: 1.0                     # between two requests to the site
# concurrency: 2
"""

_MARKET = """\
listing:
  # rows: "table.listings tr"      # optional: one element per listing on an index page;
  #                                # links (and vendor_page.index_url) are then read inside each row
  links: "TODO a.item-link::attr(href)"     # the detail links on an index page
  next: "TODO a.next::attr(href)"           # the next index page
  detail_url: "TODO ^/item/\\\\d+$"           # regex: the paths that are detail pages
fields:                            # read on each detail page
  title: {css: "TODO h1.title::text", first: true}
  price: {css: "TODO span.price::text", first: true}
  # vendor: {css: "a.vendor::text", first: true}
  # text: {css: "div.description ::text"}
  # crypto_price: {css: "span.btc::text", first: true}
  # quantity: {css: "td.qty::text", first: true}
  # ships_from: {css: "td.from::text", first: true}
  # ships_to: {css: "td.to::text", split: ","}
  # escrow: {css: "td.escrow::text", first: true}
# vendor_page:                     # the vendor's own page: exactly one of url, index_url, template
#   url: {css: "a.vendor::attr(href)", first: true}      # a link on the detail page
#   # index_url: {css: "td.seller a::attr(href)", first: true}   # a link in the index row (needs listing.rows)
#   # template: "/u/{vendor}"      # built from fields.vendor
#   fields:
#     pgp: {css: "pre.pgp::text"}
#     rating: {css: "span.rating::text", first: true}
#     sales: {css: "span.sales::text", first: true}
#     contacts: {css: "ul.contacts li::text", many: true}
"""

_FORUM = """\
posts:                             # one element per post on a thread page
  container: "TODO div.post"
  url: "TODO a.permalink::attr(href)"       # inside the post: its own link
  author: "TODO span.author::text"
  text: "TODO div.body ::text"
follow:                            # links to follow from any page (boards, threads, next pages)
  - "TODO a.board::attr(href)"
  - "TODO a.thread::attr(href)"
"""

KINDS = ("market", "forum")


def skeleton(name: str, kind: str) -> str:
    """The skeleton profile text for ``name`` (a profile name) of ``kind`` (market or forum)."""
    if not re.match(r"^[a-z0-9][a-z0-9_-]{0,62}$", name):
        raise ValueError(f"not a profile name: {name!r} (lower-case letters, digits, '-' and '_')")
    if kind not in KINDS:
        raise ValueError(f"no skeleton for kind {kind!r} (one of: {', '.join(KINDS)})")
    return _HEAD.format(name=name, kind=kind) + (_MARKET if kind == "market" else _FORUM)
