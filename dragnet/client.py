"""A small Python client for platforms: the scan API, continuous intake, and the check of
Dragnet's webhook signatures.

    from dragnet.client import DragnetClient
    with DragnetClient("https://dragnet.example", key) as dn:
        for verdict in dn.scan([("p1", "fresh coke 3.5g $80"), ("p2", "happy birthday")]):
            print(verdict.id, verdict.is_drug_sale, verdict.score)

Why a client: the API's contract has parts a hand-written caller gets wrong (batches above the
synchronous limit, ``Retry-After`` on quota and back-pressure, cursors, signatures); this does
them once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from dragnet.outbound import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

RETRY_STATUS = frozenset({429, 502, 503, 504})


class DragnetError(RuntimeError):
    """The API refused a call (4xx other than 429) or kept failing; ``status`` says how."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Verdict:
    """One post's verdict: the fields ``dragnet classify`` prints, plus the post id."""

    id: str | int
    is_drug_sale: bool
    intent: str | None
    score: float
    threshold: float
    substances: list[str]
    model_version: str
    explanation: str | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    cached: bool = False
    error: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        if "error" in data and "score" not in data:
            return cls(data.get("id", ""), False, None, 0.0, 1.0, [], "", error=str(data["error"]))
        return cls(
            id=data["id"],
            is_drug_sale=bool(data["is_drug_sale"]),
            intent=data.get("intent"),
            score=float(data["score"]),
            threshold=float(data["threshold"]),
            substances=list(data.get("substances") or []),
            model_version=str(data.get("model_version", "")),
            explanation=data.get("explanation"),
            evidence=list(data.get("evidence") or []),
            cached=bool(data.get("cached", False)),
        )


Post = tuple[str | int, str]


class DragnetClient:
    """Retries connection errors, 429 and 502-504 with back-off (honouring ``Retry-After``)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 60.0,
        max_attempts: int = 6,
        batch_size: int = 256,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"X-API-Key": api_key},
            timeout=timeout_s,
            transport=transport,
        )

    def __enter__(self) -> DragnetClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        delay = 0.5
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError:
                if attempt == self.max_attempts:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            if response.status_code not in RETRY_STATUS or attempt == self.max_attempts:
                if response.status_code >= 400:
                    raise DragnetError(response.status_code, _detail(response))
                return response
            wait = _retry_after(response) or delay
            time.sleep(min(wait, 120.0))
            delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")

    def scan(self, posts: Iterable[Post]) -> list[Verdict]:
        """Each post's verdict, in order; batches of ``batch_size`` (keep it at or under the
        server's ``api.scan_sync_max`` for answers without a job)."""
        verdicts: list[Verdict] = []
        for batch in _batches(posts, self.batch_size):
            body = {"posts": [{"id": pid, "text": text} for pid, text in batch]}
            data = self._call("POST", "/api/v1/scan", json=body).json()
            if "results" not in data:  # the server made it a job: poll it
                data = self.wait_for_job(str(data["job_id"]))
            verdicts.extend(Verdict.from_json(item) for item in data["results"])
        return verdicts

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/v1/scan/jobs/{job_id}").json())

    def wait_for_job(self, job_id: str, timeout_s: float = 3600.0, poll_s: float = 1.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            data = self.job(job_id)
            if data.get("status") in ("done", "failed"):
                if data.get("status") == "failed":
                    raise DragnetError(500, f"scan job {job_id} failed: {data.get('error')}")
                return data
            if time.monotonic() > deadline:
                raise TimeoutError(f"scan job {job_id} not done after {timeout_s:.0f} s")
            time.sleep(poll_s)

    def push(self, posts: Iterable[Post], batch_size: int = 500) -> int:
        """Continuous intake: queue posts (waits out back-pressure); how many were queued."""
        queued = 0
        for batch in _batches(posts, batch_size):
            body = {"posts": [{"id": pid, "text": text} for pid, text in batch]}
            queued += int(self._call("POST", "/api/v1/intake", json=body).json()["queued"])
        return queued

    def verdicts(self, after: str = "0", limit: int = 1000) -> tuple[list[Verdict], str]:
        """Intake verdicts after the cursor ``after``; returns them and the next cursor."""
        data = self._call("GET", "/api/v1/intake/verdicts", params={"after": after, "limit": limit}).json()
        return [Verdict.from_json(item) for item in data["verdicts"]], str(data["next"])

    def follow(self, after: str = "0", idle_s: float = 1.0) -> Iterator[Verdict]:
        """Every intake verdict from ``after`` on, as they come (runs until the caller stops)."""
        while True:
            found, after = self.verdicts(after)
            yield from found
            if not found:
                time.sleep(idle_s)


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes, window_s: int = 300) -> bool:
    """For a platform's receiver: is this callback or feed delivery really from Dragnet?"""
    lower = {key.lower(): value for key, value in headers.items()}
    timestamp = lower.get(TIMESTAMP_HEADER.lower(), "")
    signature = lower.get(SIGNATURE_HEADER.lower(), "")
    return verify_signature(secret, timestamp, body, signature, window_s=window_s)


def _batches(posts: Iterable[Post], size: int) -> Iterator[Sequence[Post]]:
    batch: list[Post] = []
    for post in posts:
        batch.append(post)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail"))[:500]
    except ValueError:
        return response.text[:500]
