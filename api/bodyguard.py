"""The request-body guard: no body is read for a caller who shows no credential, and none beyond
``api.max_body_bytes`` is read at all (a path given its own cap, the platforms' scan API with its
batches of posts, is held to that one instead).

FastAPI parses a route's body before its dependencies run, so authentication (a dependency)
comes too late to stop an anonymous 200 MB POST from being read into memory.  This ASGI layer
runs first: a body-carrying request with no key (header, bearer token or UI cookie) is answered
401 unread, except the UI's login form, which carries the key in its body (and is capped like
everything else); a declared or streamed length over the cap is answered 413.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NO_KEY_NEEDED = frozenset({"/login"})


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'ApiKey header="X-API-Key"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _has_credential(headers: dict[bytes, bytes], cookie_name: str) -> bool:
    if headers.get(b"x-api-key", b"").strip():
        return True
    scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
    if scheme.lower() == b"bearer" and token.strip():
        return True
    return f"{cookie_name}=".encode() in headers.get(b"cookie", b"")


class BodyGuard:
    def __init__(
        self, app: ASGIApp, max_body_bytes: int, cookie_name: str, path_limits: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.cookie_name = cookie_name
        self.path_limits = dict(path_limits or {})  # exact paths with a cap of their own (the scan API)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if scope["path"] not in _NO_KEY_NEEDED and not _has_credential(headers, self.cookie_name):
            await _answer(send, 401, "an API key is required")
            return
        cap = self.path_limits.get(scope["path"], self.max_body_bytes)
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > cap):
            await _answer(send, 413, f"request body over {cap} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                await _answer(send, 413, f"request body over {cap} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
