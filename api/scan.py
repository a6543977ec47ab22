"""The platforms' scan API behind ``POST /api/v1/scan``: classify a platform's own posts with the
model ``dragnet classify`` uses and answer exactly what that command prints for each text.

- The model is loaded once per API process, on the first scan (:func:`engine`), and shared by
  every request thread and job thread (the engine is thread-safe).
- Verdicts go through :func:`classifier.cli.classify_stream` itself, so a verdict here is the
  ``dragnet classify`` line for the same text, field for field.
- Idempotency: a verdict is remembered by (caller, SHA-256 of the post id, SHA-256 of the text)
  for ``api.scan_retention_days``; a repeated post is answered from it (``cached: true``) without
  the model.  Only hashes and verdicts are stored, never the text (a non-hit's verdict holds
  no part of it; a hit's holds its evidence snippets, as the command's output does).
- Quota: ``api.scan_quota_per_minute`` posts per caller over a rolling minute, counted in the API
  database so that every API process shares it.
- Batches over ``api.scan_sync_max`` (or with a ``callback_url``) become a :class:`ScanJob` run
  in a background thread of this process; its results can be polled by the caller that made it
  and are POSTed to the callback, signed like the platform webhooks with a per-job secret.
  Jobs live in this process's memory (a restart forgets them; their verdicts stay cached).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from api import audit, db
from api.auth import Principal
from classifier.cli import classify_stream
from classifier.engine import ClassifierEngine, get_engine
from classifier.model_store import ensure_default_model
from dragnet.documents import Classification, Evidence, Listing
from dragnet.outbound import WebhookURLError, check_url, pinned_client, signed_headers
from dragnet.settings import DragnetSettings
from takedown.service import FeedService

log = logging.getLogger(__name__)

VERDICT_FIELDS = (
    "is_drug_sale",
    "intent",
    "score",
    "substances",
    "substance_scores",
    "evidence",
    "explanation",
    "threshold",
    "model_version",
)
QUOTA_WINDOW_S = 60.0
_LOOKUP_CHUNK = 500

_model_lock = threading.Lock()
_model_dir: Path | None = None


def engine() -> ClassifierEngine:
    """The process's classifier engine over the default model (built on first use if missing)."""
    global _model_dir
    with _model_lock:
        if _model_dir is None:
            _model_dir = ensure_default_model()
        model_dir = _model_dir
    return get_engine(model_dir)


def owner_of(principal: Principal) -> str:
    """Whose verdicts, quota and jobs these are: the platform's role (an admin: its own key)."""
    return principal.role if principal.platform is not None else f"{principal.role}:{principal.key_id}"


def post_key(post_id: str | int) -> str:
    return hashlib.sha256(json.dumps(post_id).encode()).hexdigest()


def content_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def classify_texts(model: Any, texts: Sequence[str]) -> list[dict[str, Any]]:
    """``dragnet classify``'s record for each text, in order, without its ``id`` (an engine
    failure on a text gives ``{"error": ...}`` for that text alone)."""
    if not texts:
        return []
    source = io.StringIO("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    sink = io.StringIO()
    classify_stream(model, source, sink)
    records = [json.loads(line) for line in sink.getvalue().split("\n") if line]
    if [r.get("id") for r in records] != list(range(len(texts))):
        raise RuntimeError("the classifier answered out of order")
    return [{k: v for k, v in r.items() if k != "id"} for r in records]


# -- quota -----------------------------------------------------------------------------------------
def take_quota(settings: DragnetSettings, owner: str, posts: int, now: float | None = None) -> int | None:
    """Count ``posts`` against the owner's rolling minute: None when they fit (and are counted),
    else the seconds to wait before they would (nothing is counted)."""
    quota = settings.api.scan_quota_per_minute
    now = time.time() if now is None else now
    with closing(db.connect(settings)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM scan_usage WHERE at <= ?", (now - QUOTA_WINDOW_S,))
            rows = conn.execute("SELECT at, posts FROM scan_usage WHERE platform = ? ORDER BY at", (owner,)).fetchall()
            used = sum(int(r["posts"]) for r in rows)
            if used + posts <= quota:
                conn.execute("INSERT INTO scan_usage(platform, at, posts) VALUES (?,?,?)", (owner, now, posts))
                conn.commit()
                return None
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    wait = QUOTA_WINDOW_S
    if posts <= quota:  # the earliest moment enough of the window has expired
        need, freed = used + posts - quota, 0
        for row in rows:
            freed += int(row["posts"])
            if freed >= need:
                wait = float(row["at"]) + QUOTA_WINDOW_S - now
                break
    return max(1, math.ceil(wait))


# -- stored verdicts -------------------------------------------------------------------------------
def purge(settings: DragnetSettings) -> int:
    """Forget verdicts older than ``api.scan_retention_days``."""
    cutoff = (datetime.now(UTC) - timedelta(days=settings.api.scan_retention_days)).isoformat()
    with closing(db.connect(settings)) as conn, conn:
        return int(conn.execute("DELETE FROM scan_verdicts WHERE created_at < ?", (cutoff,)).rowcount)


def _lookup(settings: DragnetSettings, owner: str, keys: set[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    found: dict[tuple[str, str], dict] = {}
    ids = sorted({k for k, _ in keys})
    with closing(db.connect(settings)) as conn:
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start : start + _LOOKUP_CHUNK]
            rows = conn.execute(
                f"SELECT post_key, content_sha256, verdict_json FROM scan_verdicts "
                f"WHERE platform = ? AND post_key IN ({','.join('?' * len(chunk))})",
                [owner, *chunk],
            ).fetchall()
            for row in rows:
                key = (row["post_key"], row["content_sha256"])
                if key in keys:
                    found[key] = json.loads(row["verdict_json"])
    return found


def _save(settings: DragnetSettings, owner: str, verdicts: dict[tuple[str, str], dict]) -> None:
    now = datetime.now(UTC).isoformat()
    rows = [
        (owner, pk, sha, json.dumps(v, ensure_ascii=False), int(bool(v["is_drug_sale"])), now)
        for (pk, sha), v in verdicts.items()
    ]
    with closing(db.connect(settings)) as conn, conn:
        conn.executemany(
            "INSERT OR REPLACE INTO scan_verdicts(platform, post_key, content_sha256, verdict_json, is_drug_sale, "
            "created_at) VALUES (?,?,?,?,?,?)",
            rows,
        )


def scan(settings: DragnetSettings, owner: str, posts: Sequence[tuple[str | int, str]]) -> list[dict[str, Any]]:
    """One result per post, in order: the post id, the verdict fields and ``cached``."""
    model = engine()
    keys = [(post_key(pid), content_sha256(text)) for pid, text in posts]
    stored = {k: v for k, v in _lookup(settings, owner, set(keys)).items() if v.get("model_version") == model.version}
    todo: dict[tuple[str, str], str] = {}
    for key, (_, text) in zip(keys, posts, strict=True):
        if key not in stored and key not in todo:
            todo[key] = text
    fresh = dict(zip(todo, classify_texts(model, list(todo.values())), strict=True))
    if fresh:
        _save(settings, owner, {k: v for k, v in fresh.items() if "error" not in v})
    results = []
    for key, (pid, _) in zip(keys, posts, strict=True):
        cached = key in stored
        results.append({"id": pid, **(stored[key] if cached else fresh[key]), "cached": cached})
    return results


def hits_of(results: Sequence[dict[str, Any]]) -> int:
    return sum(1 for r in results if r.get("is_drug_sale") is True)


def hits_to_notices(
    settings: DragnetSettings, principal: Principal, posts: Sequence[Any], results: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """Hand a platform's own hits to the takedown workflow: each hit whose ``url`` lies on the
    calling platform becomes a notice waiting for an analyst's review, with the ids the
    platform's registry entry reads from the URL.  Only hits are kept (their text becomes the
    notice's evidence); a hit without a URL, or with one on another platform, is skipped."""
    service = FeedService(settings)
    created: list[str] = []
    duplicates: list[str] = []
    skipped: list[str | int] = []
    for post, verdict in zip(posts, results, strict=True):
        if verdict.get("is_drug_sale") is not True:
            continue
        match = service.registry.match(post.url) if post.url else None
        if match is None or (principal.platform is not None and match.platform != principal.platform):
            skipped.append(post.id)
            continue
        listing = Listing.new(post.url, source_kind="social", title="", text=post.text, platform=match.platform)
        listing.classification = Classification(
            is_drug_sale=True,
            score=verdict["score"],
            threshold=verdict["threshold"],
            substances=verdict.get("substance_scores") or {},
            model_version=verdict["model_version"],
            evidence=[Evidence.model_validate(e) for e in verdict.get("evidence") or []],
            explanation=verdict.get("explanation"),
            intent=verdict.get("intent"),
        )
        outcome = service.ingest([listing], by=f"{principal.role}:{principal.name}")
        created += outcome.created + outcome.updated
        duplicates += outcome.duplicates
    summary = f"created={len(created)} duplicates={len(duplicates)} skipped={len(skipped)}"
    audit.record(principal, "scan.notices", summary, len(created), settings)
    return {"created": created, "duplicates": duplicates, "skipped": skipped}


# -- background jobs -------------------------------------------------------------------------------
@dataclass
class ScanJob:
    id: str
    owner: str
    principal: Principal
    total: int
    callback_url: str | None = None
    secret: str | None = None
    status: str = "queued"  # queued, running, done, failed
    done: int = 0
    hits: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    callback: dict[str, Any] | None = None
    posts: list[tuple[str | int, str]] | None = field(default=None, repr=False)  # dropped once classified

    def public(self, *, with_results: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "job_id": self.id,
            "status": self.status,
            "posts": self.total,
            "done": self.done,
            "hits": self.hits,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "error": self.error,
            "callback": self.callback,
        }
        if with_results and self.status == "done":
            out["results"] = self.results
        return out


class ScanJobs:
    """The jobs of one API process and the threads that run them."""

    def __init__(self, settings: DragnetSettings) -> None:
        self.settings = settings
        self._jobs: dict[str, ScanJob] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=settings.api.scan_job_workers, thread_name_prefix="scan-job")

    def submit(self, principal: Principal, posts: list[tuple[str | int, str]], callback_url: str | None) -> ScanJob:
        job = ScanJob(
            id=secrets.token_hex(12),
            owner=owner_of(principal),
            principal=principal,
            total=len(posts),
            callback_url=callback_url,
            secret=secrets.token_urlsafe(32) if callback_url else None,
            callback={"status": "pending", "attempts": 0, "error": None} if callback_url else None,
            posts=posts,
        )
        with self._lock:
            self._expire()
            self._jobs[job.id] = job
        self._pool.submit(self._run, job)
        return job

    def get(self, job_id: str, principal: Principal) -> ScanJob | None:
        """The job, for the caller that made it (or an admin); None for anyone else."""
        with self._lock:
            self._expire()
            job = self._jobs.get(job_id)
        if job is None or (job.owner != owner_of(principal) and principal.role != "admin"):
            return None
        return job

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _expire(self) -> None:
        cutoff = datetime.now(UTC) - timedelta(seconds=self.settings.api.scan_job_ttl_s)
        for job_id in [j.id for j in self._jobs.values() if j.finished_at and j.finished_at < cutoff]:
            del self._jobs[job_id]

    def _run(self, job: ScanJob) -> None:
        posts, job.posts = job.posts or [], None
        job.status = "running"
        step = self.settings.api.scan_sync_max
        try:
            purge(self.settings)
            for start in range(0, len(posts), step):
                chunk = scan(self.settings, job.owner, posts[start : start + step])
                job.results.extend(chunk)
                job.done += len(chunk)
                job.hits += hits_of(chunk)
            job.status = "done"
        except Exception as exc:  # the job reports it; the API process goes on
            log.exception("scan job %s failed", job.id)
            job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"[:500]
        finally:
            del posts  # the texts go with the job's thread
            job.finished_at = datetime.now(UTC)
        audit.record(
            job.principal,
            "scan",
            f"posts={job.total} hits={job.hits} job={job.id} status={job.status}",
            job.total,
            self.settings,
        )
        if job.callback_url:
            self._callback(job)

    def _callback(self, job: ScanJob) -> None:
        """POST the job's results to its callback URL, signed with the job's secret, to the very
        address that was checked (the platform webhooks' policy), retrying with back-off."""
        assert job.callback_url is not None and job.secret is not None and job.callback is not None
        f, settings = self.settings.feeds, self.settings
        body = json.dumps(job.public(), ensure_ascii=False).encode()
        for attempt in range(f.webhook_max_attempts):
            job.callback["attempts"] = attempt + 1
            try:
                target = check_url(
                    job.callback_url, allow_private=f.webhook_allow_private, https_only=settings.env == "prod"
                )
                with pinned_client(target, f.webhook_timeout_s) as client:
                    response = client.post(
                        target.url,
                        content=body,
                        headers={"Content-Type": "application/json", **signed_headers(job.secret, body)},
                    )
                if response.status_code < 300:
                    job.callback.update(status="delivered", error=None)
                    return
                job.callback["error"] = f"HTTP {response.status_code}"
            except WebhookURLError as exc:
                job.callback.update(status="failed", error=str(exc)[:300])
                return
            except httpx.HTTPError as exc:
                job.callback["error"] = f"{type(exc).__name__}"
            if attempt + 1 < f.webhook_max_attempts:
                time.sleep(min(f.webhook_backoff_s * 2**attempt, f.webhook_backoff_max_s))
        job.callback["status"] = "failed"
