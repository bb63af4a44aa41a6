"""Running sources: one run fetches, checks and stores, and records the source's status."""
from __future__ import annotations

import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy.orm import Session

from bot import alerts
from bot.config import Config
from bot.db import Database
from bot.ingest.extract import Extractor
from bot.ingest.fetchers import FETCHERS, Context, Harvest
from bot.ingest.http import FetchError, HttpClient
from bot.ingest.sources import SourceConfig, parse_sources
from bot.ingest.store import store_news, store_quotes
from bot.market.catalog import Catalog
from bot.models import SourceStatus, utcnow

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """The outcome of one run of a source; `error` is set when it failed (nothing was stored then)."""

    source: str
    error: str | None = None
    not_modified: bool = False
    items: int = 0
    quotes_new: int = 0
    quotes_updated: int = 0
    quotes_quarantined: int = 0
    quotes_rejected: int = 0
    news_new: int = 0
    alerts_sent: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def outcome(self) -> str:
        """For the metrics: error, not_modified, partial (stored, with problems) or ok."""
        if self.error:
            return "error"
        if self.not_modified:
            return "not_modified"
        return "partial" if self.problems else "ok"

    def describe(self) -> str:
        if self.error:
            return f"{self.source}: FAILED: {self.error}"
        if self.not_modified:
            return f"{self.source}: not modified since the last run"
        text = (f"{self.source}: {self.items} items, {self.quotes_new} new quotes, {self.quotes_updated} updated, "
                f"{self.quotes_quarantined} quarantined, {self.quotes_rejected} rejected, {self.news_new} new news")
        return text + "".join(f"\n  problem: {p}" for p in self.problems)


def sources_of(config: Config) -> list[SourceConfig]:
    return parse_sources(config["sources"])


def run_source(db: Database, config: Config, source: SourceConfig, now: datetime | None = None) -> RunResult:
    """Fetch `source` now and store what it yields; a failure keeps the stored data and is recorded."""
    now = now or datetime.now(config.zone)
    result = RunResult(source.name)
    with db.session() as session:
        status = _status(session, source)
        etag, last_modified = status.etag, status.last_modified
        extractor = Extractor(Catalog.from_session(session))
    client = HttpClient(timeout=config["ingest.timeout"], retries=config["ingest.retries"],
                        backoff=config["ingest.backoff"], max_bytes=config["ingest.max_bytes"],
                        user_agent=config["ingest.user_agent"])
    context = Context(source, client, extractor, now.date(), config.zone, etag, last_modified)
    try:
        harvest = FETCHERS[source.type](context)
    except FetchError as exc:
        result.error = str(exc)
    except Exception as exc:  # a fetcher bug must not stop the other sources
        log.exception("source %s: the fetcher failed", source.name)
        result.error = f"internal error: {type(exc).__name__}: {exc}"
    finally:
        client.close()
    if result.error:
        _record_failure(db, source, result.error)
        log.warning("source %s failed: %s", source.name, result.error)
        return result
    try:
        with db.session() as session:
            _store(session, config, source, harvest, result, now)
    except Exception as exc:
        log.exception("source %s: storing failed", source.name)
        result.error = f"storing failed: {type(exc).__name__}: {exc}"
        _record_failure(db, source, result.error)
        return result
    try:  # the alerts these quotes fired go out from this process (the embedded default), with any left over
        result.alerts_sent = alerts.deliver_pending(db, config)
    except Exception:
        log.exception("source %s: delivering alerts failed (they stay queued)", source.name)
    return result


def _store(session: Session, config: Config, source: SourceConfig, harvest: Harvest, result: RunResult,
           now: datetime) -> None:
    stored = store_quotes(session, harvest.quotes, source=source.name,
                          max_jump_pct=Decimal(str(config["ingest.max_jump_pct"])), default_date=now.date())
    news = store_news(session, harvest.news, source=source.name,
                      now=now.astimezone(timezone.utc).replace(tzinfo=None))
    result.not_modified = bool(harvest.page and harvest.page.not_modified)
    result.items, result.news_new = harvest.items, len(news)
    result.quotes_new, result.quotes_updated = len(stored.new), len(stored.updated)
    result.quotes_quarantined, result.quotes_rejected = len(stored.quarantined), len(stored.rejected)
    result.problems = harvest.problems + [f"{q.product}: {reason}" for q, reason in stored.rejected]
    status = _status(session, source)
    moment = utcnow()
    status.runs += 1
    status.last_run = status.last_success = moment
    status.failures = 0
    if not result.not_modified:
        status.items_seen, status.news_new = result.items, result.news_new
        status.quotes_new, status.quotes_quarantined = result.quotes_new, result.quotes_quarantined
    if harvest.page is not None and not harvest.page.not_modified:
        status.etag, status.last_modified = harvest.page.etag, harvest.page.last_modified
    if result.problems:
        status.last_error = "partial: " + "; ".join(result.problems)[:2000]
        status.last_error_at = moment


def _record_failure(db: Database, source: SourceConfig, error: str) -> None:
    with db.session() as session:
        status = _status(session, source)
        moment = utcnow()
        status.runs += 1
        status.failures += 1
        status.last_run = status.last_error_at = moment
        status.last_error = error[:2000]


def _status(session: Session, source: SourceConfig) -> SourceStatus:
    status = session.get(SourceStatus, source.name)
    if status is None:
        status = SourceStatus(name=source.name, type=source.type, runs=0, failures=0, items_seen=0,
                              quotes_new=0, quotes_quarantined=0, news_new=0)
        session.add(status)
    status.type = source.type
    return status


def run_sources(db: Database, config: Config, name: str | None = None) -> list[RunResult]:
    """Run every enabled source (ingest.concurrency at a time), or the one called `name` (KeyError if there
    is none); the results in the configured order."""
    sources = sources_of(config)
    if name is not None:
        sources = [s for s in sources if s.name == name]
        if not sources:
            known = ", ".join(s.name for s in sources_of(config)) or "none configured"
            raise KeyError(f"no source named {name!r} (sources: {known})")
    if len(sources) < 2:
        return [run_source(db, config, source) for source in sources]
    # Side by side, so that a stuck source holds up no other (each page has its own deadline, ingest.timeout).
    with ThreadPoolExecutor(min(len(sources), config["ingest.concurrency"]), thread_name_prefix="fetch") as pool:
        return list(pool.map(lambda source: run_source(db, config, source), sources))


def source_jobs(config: Config) -> list:
    """The scheduler's job per enabled source: `fetch.<name>` on the source's cron (in `config.zone`)."""
    from bot.push.scheduler import ScheduledJob

    return [ScheduledJob(f"fetch.{s.name}", s.schedule, functools.partial(_run_job, source=s))
            for s in sources_of(config)]


def _run_job(bot, source: SourceConfig) -> RunResult:
    result = run_source(bot.db, bot.config, source)
    log.log(logging.INFO if result.ok else logging.WARNING, "%s", result.describe())
    bot.metrics.fetch(source.name, result.outcome)
    return result
