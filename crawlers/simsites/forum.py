"""A simulated onion forum (boards, paginated threads, post permalinks) and a JavaScript social
timeline whose posts arrive only through ``fetch()`` on scroll (nothing is server-rendered)."""

from __future__ import annotations

import json
from collections import Counter
from html import escape
from typing import Any

from aiohttp import web

from crawlers.simsites.addressing import OnionAddresses
from crawlers.simsites.data import Post


class ForumSite(OnionAddresses):
    kind = "forum"

    def __init__(
        self, name: str, posts: list[Post], onion_hosts: list[str], *, title: str, posts_per_page: int = 10
    ) -> None:
        self.name = name
        self.title = title
        self.posts = posts
        self.onion_hosts = onion_hosts
        self.posts_per_page = posts_per_page
        self.port = 0
        self.stats: Counter[str] = Counter()
        self.threads: dict[int, list[Post]] = {}
        for post in posts:
            self.threads.setdefault(post.thread_id or 1, []).append(post)
        self.boards: dict[str, list[int]] = {}
        for thread_id, thread_posts in sorted(self.threads.items()):
            self.boards.setdefault(thread_posts[0].board or "general", []).append(thread_id)

    def post_url(self, post: Post) -> str:
        return f"{self.base_url}/post/{post.post_id}"

    def ground_truth(self) -> list[dict[str, Any]]:
        return [
            {
                "url": self.post_url(p),
                "author": p.author,
                "text": p.text,
                "is_sale": p.is_sale,
                "thread_id": p.thread_id,
                "board": p.board,
                "contacts": [{"kind": k, "handle": h} for k, h in p.contacts],
            }
            for p in self.posts
        ]

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/", self._home),
                web.get("/f/{board}", self._board),
                web.get("/t/{thread}", self._thread),
                web.get("/post/{post}", self._post),
            ]
        )
        return app

    def _page(self, title: str, body: str) -> web.Response:
        self.stats["pages"] += 1
        return web.Response(
            text=f"<!DOCTYPE html><html><head><title>{escape(title)} - {escape(self.title)}</title>"
            f"</head><body><header><a href='/'>{escape(self.title)}</a></header>{body}</body></html>",
            content_type="text/html",
        )

    async def _home(self, request: web.Request) -> web.Response:
        links = "".join(f"<li><a class='board' href='/f/{escape(b)}'>{escape(b)}</a></li>" for b in self.boards)
        return self._page("Boards", f"<ul class='boards'>{links}</ul>")

    async def _board(self, request: web.Request) -> web.Response:
        board = request.match_info["board"]
        if board not in self.boards:
            raise web.HTTPNotFound()
        rows = "".join(
            f"<li><a class='thread' href='/t/{t}'>Thread {t}: {escape(self.threads[t][0].text[:40])}</a></li>"
            for t in self.boards[board]
        )
        return self._page(board, f"<ul class='threads'>{rows}</ul>")

    async def _thread(self, request: web.Request) -> web.Response:
        try:
            thread_id = int(request.match_info["thread"])
            page = int(request.query.get("page", "1"))
            posts = self.threads[thread_id]
        except (ValueError, KeyError):
            raise web.HTTPNotFound() from None
        pages = max(1, -(-len(posts) // self.posts_per_page))
        if not 1 <= page <= pages:
            raise web.HTTPNotFound()
        chunk = posts[(page - 1) * self.posts_per_page : page * self.posts_per_page]
        body = "".join(
            f"<div class='post' id='p{p.post_id}'><div class='meta'><span class='author'>{escape(p.author)}</span>"
            f" <a class='permalink' href='/post/{p.post_id}'>#{p.post_id}</a></div>"
            f"<div class='body'>{escape(p.text)}</div></div>"
            for p in chunk
        )
        nav = f"<a class='next-page' href='/t/{thread_id}?page={page + 1}'>next</a>" if page < pages else ""
        return self._page(f"Thread {thread_id}", f"<div class='thread'>{body}</div><div class='nav'>{nav}</div>")

    async def _post(self, request: web.Request) -> web.Response:
        try:
            post = next(p for p in self.posts if p.post_id == int(request.match_info["post"]))
        except (ValueError, StopIteration):
            raise web.HTTPNotFound() from None
        return self._page(
            f"Post {post.post_id}",
            f"<div class='post' id='p{post.post_id}'><span class='author'>{escape(post.author)}</span>"
            f"<div class='body'>{escape(post.text)}</div></div>",
        )


TIMELINE_JS = """
(function () {
  const timeline = document.getElementById('timeline');
  let cursor = 0, loading = false, done = false;
  async function more() {
    if (loading || done) return;
    loading = true;
    const r = await fetch('/api/posts?cursor=' + cursor + '&limit=' + PAGE);
    const data = await r.json();
    for (const p of data.posts) {
      const art = document.createElement('article');
      art.className = 'post';
      art.dataset.id = p.id;
      const a = document.createElement('a');
      a.className = 'permalink'; a.href = '/p/' + p.id; a.textContent = '@' + p.author;
      const t = document.createElement('div');
      t.className = 'text'; t.textContent = p.text;   // never innerHTML: posts are hostile
      art.appendChild(a); art.appendChild(t); timeline.appendChild(art);
    }
    if (data.next === null) { done = true; document.body.dataset.end = '1'; }
    else { cursor = data.next; }
    loading = false;
  }
  window.addEventListener('scroll', function () {
    if (window.innerHeight + window.scrollY >= document.body.scrollHeight - 200) more();
  });
  more();
})();
"""


class SocialSite(OnionAddresses):
    kind = "social"

    def __init__(self, name: str, posts: list[Post], onion_hosts: list[str], *, title: str, page_size: int = 8) -> None:
        self.name = name
        self.title = title
        self.posts = posts
        self.onion_hosts = onion_hosts
        self.page_size = page_size
        self.port = 0
        self.stats: Counter[str] = Counter()

    def ground_truth(self) -> list[dict[str, Any]]:
        return [
            {
                "url": f"{self.base_url}/p/{p.post_id}",
                "author": p.author,
                "text": p.text,
                "is_sale": p.is_sale,
                "contacts": [{"kind": k, "handle": h} for k, h in p.contacts],
            }
            for p in self.posts
        ]

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [web.get("/", self._home), web.get("/static/timeline.js", self._js), web.get("/api/posts", self._api)]
        )
        return app

    async def _home(self, request: web.Request) -> web.Response:
        self.stats["pages"] += 1
        html = (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(self.title)}</title>"
            f"<style>article.post{{height:160px;border-bottom:1px solid #ccc}}</style></head>"
            f"<body><h1>{escape(self.title)}</h1><main id='timeline'></main>"
            f"<script>const PAGE={self.page_size};</script><script src='/static/timeline.js'></script></body></html>"
        )
        return web.Response(text=html, content_type="text/html")

    async def _js(self, request: web.Request) -> web.Response:
        return web.Response(text=TIMELINE_JS, content_type="application/javascript")

    async def _api(self, request: web.Request) -> web.Response:
        self.stats["api"] += 1
        try:
            cursor = max(0, int(request.query.get("cursor", "0")))
            limit = min(50, max(1, int(request.query.get("limit", str(self.page_size)))))
        except ValueError:
            raise web.HTTPBadRequest() from None
        chunk = self.posts[cursor : cursor + limit]
        nxt = cursor + limit if cursor + limit < len(self.posts) else None
        return web.Response(
            text=json.dumps(
                {"posts": [{"id": p.post_id, "author": p.author, "text": p.text} for p in chunk], "next": nxt}
            ),
            content_type="application/json",
        )
