"""``dragnet evidence ...`` and ``dragnet feeds ...``."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from dragnet.settings import get_settings
from index.factory import open_store
from takedown import metrics
from takedown.delivery import (
    DEFAULT_OVERLAP_S,
    NoWebhook,
    WebhookBusy,
    deliver_all,
    deliver_pending,
    rotate_secret,
    send_test_event,
)
from takedown.evidence import build_bundle, verify_bundle
from takedown.notices import render_letter
from takedown.registry import load_registry
from takedown.service import FeedService, NotFound, WorkflowError, ingest_from_store
from takedown.signing import legacy_public_key_b64, public_key_b64, signing_key_path
from takedown.store import open_notice_store


def register(app: typer.Typer) -> None:
    evidence_app = typer.Typer(help="Evidence bundles.", no_args_is_help=True)
    feeds_app = typer.Typer(help="Takedown notices for platforms.", no_args_is_help=True)

    @evidence_app.command("verify")
    def verify(
        bundle: Path,
        key: list[str] = typer.Option(
            [],
            "--key",
            "--public-key",
            help="Expect a signature by this key (base64 DER; the signer's GET /feeds/signing-key); may be "
            "repeated. Default: feeds.evidence_trusted_keys and this deployment's own keys.",
        ),
        any_key: bool = typer.Option(
            False, "--any-key", help="Accept a valid signature by any key (the signer is still named)."
        ),
        allow_unsigned: bool = typer.Option(
            False, "--allow-unsigned", help="Check digests only (an unsigned bundle proves nothing about its origin)."
        ),
        json_output: bool = typer.Option(False, "--json", help="The report as JSON."),
    ) -> None:
        """Check every digest, the index and the signature of an evidence bundle; exit 1 and name
        each file that fails.  A signature by an expected key is required unless opted out."""

        settings = get_settings()
        trusted = list(key)
        if not trusted and not (any_key or allow_unsigned):
            trusted = list(settings.feeds.evidence_trusted_keys)
            if signing_key_path(settings).is_file():
                trusted.append(public_key_b64(settings))
            legacy = legacy_public_key_b64(settings)
            if legacy:
                trusted.append(legacy)
            if not trusted:
                typer.echo(
                    f"UNTRUSTED {bundle}: no key to expect: pass --key (the signer's GET /feeds/signing-key), "
                    "or --any-key / --allow-unsigned",
                    err=True,
                )
                raise typer.Exit(code=1)
        report = verify_bundle(
            bundle, trusted_public_keys=trusted, require_signature=not allow_unsigned, any_key=any_key
        )
        if json_output:
            typer.echo(json.dumps(asdict(report) | {"tampered_files": report.tampered_files}))
        else:
            for problem in report.problems:
                typer.echo(f"FAIL {problem.file}: {problem.reason}")
            if not report.signed:
                signed = "unsigned"
            elif not report.signature_ok:
                signed = f"signed by key {report.signer_fingerprint}, INVALID or untrusted"
            else:
                trust = "an expected key" if report.signer_trusted else "a key not checked against any expected key"
                label = (
                    "legacy signature (not WACZ signing)" if report.signature_format == "legacy" else "WACZ signature"
                )
                signed = f"{label} valid, signed by {trust}: {report.signer_fingerprint} ({report.signer_public_key})"
            typer.echo(
                f"{'OK' if report.ok else 'TAMPERED'} {bundle}: {report.files_checked} files, "
                f"{report.warc_records_checked} WARC records, {report.index_lines_checked} index lines, {signed}"
            )
        raise typer.Exit(code=0 if report.ok else 1)

    @evidence_app.command("public-key")
    def public_key_command() -> None:
        """This deployment's evidence signing key (WACZ ``publicKey``: base64 DER), for receivers' ``--key``."""
        typer.echo(public_key_b64(get_settings()))

    @evidence_app.command("build")
    def build(listing_id: str, out: Path | None = typer.Option(None, help="Directory for the bundle.")) -> None:
        """Write the evidence bundle of one stored listing."""

        with open_store() as store:
            listing = store.get(listing_id)
        if listing is None:
            typer.echo(f"no listing {listing_id}", err=True)
            raise typer.Exit(code=1)
        typer.echo(str(build_bundle(listing, out_dir=out)))

    @feeds_app.command("platforms")
    def platforms() -> None:
        """The platform registry: hosts and reporting channels."""

        registry = load_registry()
        for name in registry.names():
            spec = registry.platforms[name]
            door = spec.reporting.url or spec.reporting.email or ""
            typer.echo(f"{name:10} {spec.reporting.kind:16} {door:50} {', '.join(spec.hosts)}")

    @feeds_app.command("match")
    def match(url: str) -> None:
        """Which platform a URL belongs to, and its native ids."""

        m = load_registry().match(url)
        typer.echo(m.model_dump_json(indent=1) if m else "no platform matches")

    @feeds_app.command("ingest")
    def ingest(
        min_score: float = typer.Option(0.0, help="Only hits at or above this score."),
        limit: int = typer.Option(1000, help="At most this many hits."),
    ) -> None:
        """Build notices from the drug-sale hits in the listing store."""

        service = FeedService()
        with open_store() as store:
            outcome = ingest_from_store(service, store, min_score=min_score or None, limit=limit)
        typer.echo(
            f"created {len(outcome.created)}, updated {len(outcome.updated)}, duplicates "
            f"{len(outcome.duplicates)}, auto-approved {len(outcome.auto_approved)}, skipped {outcome.skipped}"
        )

    @feeds_app.command("queue")
    def queue(
        platform: str | None = typer.Argument(None, help="One platform (default: all)."),
        limit: int = typer.Option(20, help="At most this many."),
    ) -> None:
        """New notices awaiting review, the least certain first (score nearest the threshold)."""
        for notice in FeedService().review_queue(platform, limit=limit):
            v = notice.verdict
            typer.echo(
                f"{notice.id}\t{notice.platform}\tscore {v.score:.3f} (threshold {v.threshold:.3f})\t"
                f"{notice.target.url}"
            )

    @feeds_app.command("review")
    def review(
        notice_id: str,
        decision: str = typer.Argument(..., help="approve or reject"),
        by: str = typer.Option(..., help="Who decides (analyst name)."),
        note: str | None = None,
    ) -> None:
        """Approve or reject a new notice."""

        notice = FeedService().review(notice_id, decision, by=f"analyst:{by}", note=note)
        typer.echo(f"{notice.id} {notice.status}")

    @feeds_app.command("questions")
    def questions(platform: str | None = typer.Argument(None, help="One platform (default: all).")) -> None:
        """Platforms' open "need more information" questions, oldest first."""
        waiting = [n for n in FeedService().store.all(platform) if n.status == "need_more_info"]
        for notice in sorted(waiting, key=lambda n: n.modified):
            request = notice.open_info_request()
            if request is not None:
                question = " ".join(request.question.split())[:300]
                typer.echo(f"{notice.id}\t{notice.platform}\t{request.asked_at:%Y-%m-%d %H:%M}Z\t{question}")

    @feeds_app.command("answer")
    def answer(
        notice_id: str,
        text: str = typer.Argument(..., help="The answer to the platform's question."),
        by: str = typer.Option(..., help="Who answers (analyst name)."),
    ) -> None:
        """Answer a platform's "need more information": the notice goes back to the platform."""

        try:
            notice = FeedService().answer_info_request(notice_id, text, by=f"analyst:{by}")
        except NotFound:
            typer.echo(f"no notice {notice_id}", err=True)
            raise typer.Exit(code=1) from None
        except WorkflowError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(code=1) from None
        typer.echo(f"{notice.id} {notice.status}")

    @feeds_app.command("webhook-test")
    def webhook_test(platform: str) -> None:
        """Send a signed test event to the platform's webhook; exit 1 unless it answers 2xx."""

        try:
            result = send_test_event(FeedService(), platform)
        except NoWebhook:
            typer.echo(f"{platform} has registered no webhook", err=True)
            raise typer.Exit(code=1) from None
        typer.echo(
            f"{platform}: {'delivered' if result.delivered else 'FAILED'} status={result.status_code}"
            + (f" ({result.error})" if result.error else "")
        )
        raise typer.Exit(code=0 if result.delivered else 1)

    @feeds_app.command("rotate-secret")
    def rotate(
        platform: str,
        overlap_s: int = typer.Option(DEFAULT_OVERLAP_S, help="Seconds the old secret keeps signing too."),
    ) -> None:
        """A new webhook signing secret for the platform (printed once; hand it to the platform)."""

        try:
            sub = rotate_secret(FeedService(), platform, overlap_s)
        except NoWebhook:
            typer.echo(f"{platform} has registered no webhook", err=True)
            raise typer.Exit(code=1) from None
        except (ValueError, WebhookBusy) as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(code=1) from None
        until = sub.previous_secret_until.isoformat() if sub.previous_secret_until else "-"
        typer.echo(f"secret {sub.secret}\nold secret also signs until {until}")

    @feeds_app.command("letter")
    def letter(notice_id: str) -> None:
        """Print a notice as a plain-text DSA Art. 16 notice (for form and e-mail channels)."""

        try:
            typer.echo(render_letter(FeedService().get(notice_id)), nl=False)
        except NotFound:
            typer.echo(f"no notice {notice_id}", err=True)
            raise typer.Exit(code=1) from None

    @feeds_app.command("deliver")
    def deliver(platform: str | None = typer.Argument(None)) -> None:
        """Push pending notices to platforms' webhooks."""

        counts = {platform: deliver_pending(platform)} if platform else deliver_all()
        for name, n in counts.items():
            if n or platform:
                typer.echo(f"{name}: {n} delivered")

    @feeds_app.command("recheck")
    def recheck(
        platform: str | None = typer.Argument(None),
        force: bool = typer.Option(False, help="Ignore feeds.recheck_interval_s."),
    ) -> None:
        """Re-crawl sent notices; posts found gone become removed.  Also expires old notices."""

        service = FeedService()
        for notice_id, result in service.confirm_removals(platform, force=force):
            typer.echo(f"{notice_id} {result.outcome:8} {result.reason}")
        typer.echo(f"expired {service.expire_due()}")

    @feeds_app.command("metrics")
    def metrics_cmd(
        year: int | None = None,
        plot: Path | None = typer.Option(None, help="Write the plot here (.svg or .png)."),
        html: Path | None = typer.Option(None, help="Write the HTML page here."),
    ) -> None:
        """Impact figures (JSON on stdout)."""

        m = metrics.compute(open_notice_store(), year=year)
        if plot:
            plot.write_bytes(metrics.render_plot(m, "png" if plot.suffix == ".png" else "svg"))
        if html:
            html.write_text(metrics.render_html(m, plot_url=plot.name if plot else "metrics.svg"), encoding="utf-8")
        typer.echo(json.dumps(metrics.as_dict(m), indent=1))

    app.add_typer(evidence_app, name="evidence")
    app.add_typer(feeds_app, name="feeds")
