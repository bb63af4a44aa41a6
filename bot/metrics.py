"""Prometheus metrics: one registry per Bot, so apps (and tests) never share counters.

Other modules record through the small methods of `Metrics` (`bot.metrics.push(...)`,
`bot.metrics.fetch(...)`); `/metrics` serves `Metrics.exposition()`.

Under gunicorn every worker counts for itself. With PROMETHEUS_MULTIPROC_DIR set (an empty directory
shared by the web workers and the scheduler, emptied before they start, holding nothing else), prometheus-client
keeps the values in files there and a scrape adds up every process's figures.
"""
from __future__ import annotations

import logging
import os
from datetime import datetime
from typing import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

# The 5-second rule: WeChat gives up at 5 s, so the buckets are dense below it.
log = logging.getLogger(__name__)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 10.0)


class Metrics:
    """The counters and histograms of one bot; `quote_ages` gives {product: seconds} at scrape time."""

    def __init__(self, quote_ages: Callable[[], dict[str, float]] | None = None):
        self.registry = CollectorRegistry()
        self._quote_ages = quote_ages
        self.requests = Counter(
            "rebot_webhook_requests", "Callback requests by channel, command and outcome (ok, error: answered with the apology, "
            "retry: a de-duplicated repeat, late: answered later through the API, rejected: 4xx).",
            ["channel", "command", "outcome"], registry=self.registry)
        self.latency = Histogram(
            "rebot_webhook_reply_seconds", "Time from a callback's arrival to its answer.",
            ["channel"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.retries = Counter(
            "rebot_webhook_retries", "Repeated deliveries of a message already handled or in hand "
            "(answered from the first attempt, the work not run again).", ["channel"], registry=self.registry)
        self.pushes = Counter(
            "rebot_pushes", "Outbound messages by channel, result (sent, failed) and the API's error code.",
            ["channel", "result", "errcode"], registry=self.registry)
        self.fetches = Counter(
            "rebot_fetches", "Source fetches by source and outcome.", ["source", "outcome"], registry=self.registry)
        self.late_failed = Counter(
            "rebot_late_answers_failed", "Answers past their callback's budget that could not be sent through the "
            "API before WeChat's 48-hour window closed (or that the API refused for good).", ["channel"],
            registry=self.registry)
        self._series: dict[tuple, object] = {}
        if quote_ages is not None:
            self.registry.register(_quote_age_gauge(quote_ages))
        self._stalled: _AtScrape | None = None

    def watch_stalled_runs(self, count: Callable[[], int]) -> None:
        """`rebot_push_run_stalled`: `count()` (daily runs not done 30 minutes after they started), at scrape."""
        self._stalled = _stalled_runs_gauge(count)
        self.registry.register(self._stalled)

    def webhook(self, channel: str, command: str, outcome: str, seconds: float) -> None:
        """One callback answered."""
        self._labelled(self.requests, channel, command or "-", outcome).inc()
        self._labelled(self.latency, channel).observe(seconds)

    def retry(self, channel: str) -> None:
        """A repeated delivery that was answered from the first attempt."""
        self.retries.labels(channel).inc()

    def late_answer_failed(self, channel: str) -> None:
        """A late answer given up (bot.channels.late)."""
        self.late_failed.labels(channel).inc()

    def push(self, channel: str, ok: bool, errcode: int | str = 0) -> None:
        """One outbound message sent (ok) or failed with the API's `errcode` (e.g. 45015, or 'http' / 'timeout')."""
        self._labelled(self.pushes, channel, "sent" if ok else "failed", str(errcode)).inc()

    def _labelled(self, metric, *labels: str):
        """`metric.labels(*labels)`, looked up once per combination: labels() takes a lock and builds its
        key, which the per-message counters would otherwise pay on every message."""
        key = (metric, labels)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = metric.labels(*labels)
        return series

    def fetch(self, source: str, outcome: str) -> None:
        """One fetch of a price/news source: outcome ok, error, quarantined, unchanged…"""
        self.fetches.labels(source, outcome).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text format of every metric, and its content type."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            if self._quote_ages is not None:
                registry.register(_quote_age_gauge(self._quote_ages))
            if self._stalled is not None:
                registry.register(self._stalled)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _AtScrape:
    """A gauge computed when scraped: `read()` gives {label values: value}. A failure is logged and the scrape
    reports the rest (the webhook counters still matter)."""

    def __init__(self, name: str, documentation: str, labels: list[str], read: Callable[[], dict[tuple, float]],
                 what: str):
        self.name, self.documentation, self.labels, self.read, self.what = name, documentation, labels, read, what

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [GaugeMetricFamily(self.name, self.documentation, labels=self.labels)]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        try:
            values = self.read()
        except Exception as exc:
            log.error("metrics: cannot read %s: %s", self.what, type(exc).__name__)
            values = {}
        for labels, value in sorted(values.items()):
            family.add_metric(list(labels), value)
        yield family


def _quote_age_gauge(quote_ages: Callable[[], dict[str, float]]) -> _AtScrape:
    return _AtScrape("rebot_quote_age_seconds",
                     "Seconds since the start of the market day of each product's newest quote.", ["product"],
                     lambda: {(product,): seconds for product, seconds in quote_ages().items()}, "the quote ages")


def _stalled_runs_gauge(count: Callable[[], int]) -> _AtScrape:
    """`rebot_push_run_stalled` (see bot.push.resume)."""
    return _AtScrape("rebot_push_run_stalled", "Pushes (daily runs, broadcasts) not done 30 minutes after they "
                     "started (within push.resume_within_hours): each is logged at ERROR every minute and shown on "
                     "the dashboard.",
                     [], lambda: {(): count()}, "the push runs")


def quote_ages(db, clock: Callable[[], datetime]) -> dict[str, float]:
    """{product code: seconds from 00:00 (configured time zone) of its newest quote's date to now}."""
    from sqlalchemy import func, select

    from bot.models import PriceQuote

    now = clock()
    with db.session() as session:
        rows = session.execute(select(PriceQuote.product_code, func.max(PriceQuote.date))
                               .group_by(PriceQuote.product_code)).all()
    ages = {}
    for code, day in rows:
        start = datetime(day.year, day.month, day.day, tzinfo=now.tzinfo)
        ages[code] = round((now - start).total_seconds(), 3)
    return ages
