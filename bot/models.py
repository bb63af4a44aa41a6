"""Typed SQLAlchemy models: the catalog, quotes, news, subscribers, processed messages, push ledger."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

from sqlalchemy import (JSON, Date, DateTime, ForeignKey, Index, Numeric, String, Text, UniqueConstraint, false,
                        text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Product(Base):
    __tablename__ = "products"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_en: Mapped[str] = mapped_column(String(128))
    name_zh: Mapped[str] = mapped_column(String(64))
    short_en: Mapped[str] = mapped_column(String(64), default="")
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    unit: Mapped[str] = mapped_column(String(16))
    group: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(default=0)


class PriceQuote(Base):
    __tablename__ = "price_quotes"
    __table_args__ = (
        # A series is product + source + unit: an export quote (usd/kg) never replaces the domestic one.
        UniqueConstraint("product_code", "date", "source", "unit", name="uq_quote_product_date_source_unit"),
        Index("ix_quote_product_date", "product_code", "date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_code: Mapped[str] = mapped_column(ForeignKey("products.code"))
    date: Mapped[date] = mapped_column(Date)
    low: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    high: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    unit: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    product: Mapped[Product] = relationship(lazy="joined")

    @property
    def mid(self) -> Decimal:
        return (self.low + self.high) / 2


class NewsItem(Base):
    __tablename__ = "news_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(512))
    summary: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(1024), unique=True)
    image_url: Mapped[str | None] = mapped_column(String(1024))
    published_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    source: Mapped[str] = mapped_column(String(64))
    hidden: Mapped[bool] = mapped_column(default=False, server_default=false())  # hidden by an admin


class Subscriber(Base):
    __tablename__ = "subscribers"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_subscriber_channel_external"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str] = mapped_column(String(128), default="")
    products: Mapped[list[str]] = mapped_column(JSON, default=list)
    daily_summary: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | paused | unreachable
    language: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class CallbackSignature(Base):
    """A callback's signed query (timestamp, nonce, signature) and the body it came with: one body per
    signature, remembered for the clock-skew window (bot.dedup). Small rows: one B-tree on SQLite (migration 0016)."""

    __tablename__ = "callback_signatures"
    __table_args__ = {"sqlite_with_rowid": False}

    signature: Mapped[str] = mapped_column(String(200), primary_key=True)
    body_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ProcessedMessage(Base):
    """One row per inbound message key, so a retried delivery gets the first answer.

    Written for every chat message: rows appended by rowid, the key in its index (rows with a reply are too
    large for a tree keyed by the key: migration 0016), no index on created_at (the prune scans a couple of
    days of rows)."""

    __tablename__ = "processed_messages"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    state: Mapped[str] = mapped_column(String(8), default="running")  # running | done
    reply: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AdminUser(Base):
    """A person who may use the admin console; the password is kept only as a slow salted hash."""

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login: Mapped[datetime | None] = mapped_column(DateTime)


class AdminSession(Base):
    """A signed-in browser: the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "admin_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("admin_users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)

    user: Mapped[AdminUser] = relationship(lazy="joined")


class SignInFailure(Base):
    """Failed sign-ins of one user name from one address, counted atomically; past the limit, a growing delay."""

    __tablename__ = "admin_sign_in_failures"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # "<user name>|<client address>"
    failures: Mapped[int] = mapped_column(default=0)  # attempts since the last delay, those being checked included
    level: Mapped[int] = mapped_column(default=0)  # delays so far: each one is twice the last
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class AuditLog(Base):
    """Who changed what: one row per admin action that changed data."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(160))  # "web:alice", "chat:oABC…", "cli"
    action: Mapped[str] = mapped_column(String(64))  # e.g. subscriber.pause, price.correct
    target: Mapped[str] = mapped_column(String(160), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class PendingAction(Base):
    """An admin's chat command waiting for `admin confirm` (one per admin; a new one replaces it)."""

    __tablename__ = "admin_pending_actions"

    user_key: Mapped[str] = mapped_column(String(160), primary_key=True)  # channel:user_id
    action: Mapped[str] = mapped_column(String(32))  # push_now | broadcast
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class MarketVersion(Base):
    """One row counting changes to products, quotes and news: replies built from them are cached per version.

    Moved by the database itself (triggers of migration 0012), whoever writes: ORM, Core, psql, migrations."""

    __tablename__ = "market_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(default=0)


class Lease(Base):
    """A named lock shared by every process through the database: held by `owner` until `expires_at`."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class AccessToken(Base):
    """The one access_token of an API account, shared by all processes."""

    __tablename__ = "access_tokens"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)  # wechat:<appid> | wecom:<corpid>:<agentid>
    token: Mapped[str] = mapped_column(String(512))
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class PushRun(Base):
    """One push (the daily summary of a date): created once, resumed until every delivery is settled."""

    __tablename__ = "push_runs"
    __table_args__ = (UniqueConstraint("kind", "run_date", name="uq_push_run_kind_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # daily
    run_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | done | stopped | skipped
    data_date: Mapped[date | None] = mapped_column(Date)  # the newest quote date the run reports
    reason: Mapped[str] = mapped_column(String(255), default="")
    text: Mapped[str | None] = mapped_column(Text)  # a broadcast's text (its senders may be `rebot worker`s)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class Delivery(Base):
    """The ledger: one row per (run, recipient), written before anything is sent.

    status: queued → sending → sent | failed | skipped; a row found in `sending` by a later process may or
    may not have gone out and becomes `unknown` (reported, never re-sent automatically).
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("run_id", "channel", "recipient", name="uq_delivery_run_recipient"),
        Index("ix_delivery_run_status", "run_id", "status"),
        # What push workers claim, in id order: the queued rows alone (bot/worker.py).
        Index("ix_delivery_queued", "run_id", "id", postgresql_where=text("status = 'queued'"),
              sqlite_where=text("status = 'queued'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("push_runs.id"))
    # A removed subscriber's deliveries stay, as the history of their run.
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL", name="fk_deliveries_subscriber_id_subscribers"))
    channel: Mapped[str] = mapped_column(String(16))  # wechat | wecom | wecom_robot
    recipient: Mapped[str] = mapped_column(String(160))  # openid, WeCom userid, robot name, tag:<id>
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    error_code: Mapped[int | None] = mapped_column()
    error_message: Mapped[str] = mapped_column(String(255), default="")
    claimed_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
class QuarantinedQuote(Base):
    """A fetched quote that failed a plausibility check, held until an admin approves or rejects it."""

    __tablename__ = "quarantined_quotes"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_code: Mapped[str] = mapped_column(ForeignKey("products.code"))
    date: Mapped[date] = mapped_column(Date)
    low: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    high: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    unit: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(256))
    sentence: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending | approved | rejected
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_by: Mapped[str | None] = mapped_column(String(128))

    @property
    def mid(self) -> Decimal:
        return (self.low + self.high) / 2


class SourceStatus(Base):
    """The state of one configured source: its last run, last success and last error, for the admin pages."""

    __tablename__ = "source_status"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(16), default="")
    last_run: Mapped[datetime | None] = mapped_column(DateTime)
    last_success: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime)
    runs: Mapped[int] = mapped_column(default=0)
    failures: Mapped[int] = mapped_column(default=0)  # consecutive failed runs
    # What the last successful run found:
    items_seen: Mapped[int] = mapped_column(default=0)
    quotes_new: Mapped[int] = mapped_column(default=0)
    quotes_quarantined: Mapped[int] = mapped_column(default=0)
    news_new: Mapped[int] = mapped_column(default=0)
    # Conditional GET validators of the source URL, saved only after a successful run.
    etag: Mapped[str | None] = mapped_column(String(256))
    last_modified: Mapped[str | None] = mapped_column(String(64))


class Alert(Base):
    """A subscriber's price alert: `above`/`below` a line (product's unit) or a daily `move` of `threshold` %.

    `armed` is False after a firing until the price has moved back past the line by the hysteresis margin."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    product_code: Mapped[str] = mapped_column(ForeignKey("products.code"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # above | below | move
    threshold: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    direction: Mapped[str | None] = mapped_column(String(4))  # move only: up | down; None: either way
    armed: Mapped[bool] = mapped_column(default=True)
    fired_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AlertFiring(Base):
    """One firing of an alert: a PushRun (kind `alert:<id>`, the quote's date) and its message."""

    __tablename__ = "alert_firings"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("push_runs.id"), unique=True)
    alert_id: Mapped[int] = mapped_column(index=True)  # no foreign key: deleting an alert keeps its history
    product_code: Mapped[str] = mapped_column(String(32))
    date: Mapped[date] = mapped_column(Date)
    price: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    language: Mapped[str] = mapped_column(String(2))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ChartMedia(Base):
    """A chart uploaded as temporary media: its media id, per API account and chart data version."""

    __tablename__ = "chart_media"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    media_id: Mapped[str] = mapped_column(String(256))
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class LateAnswer(Base):
    """An answer that missed its callback's budget, sent through the API (bot.channels.late): retried with
    backoff until WeChat's 48-hour window closes. status: queued → sent | failed."""

    __tablename__ = "late_answers"
    __table_args__ = (Index("ix_late_answer_due", "status", "next_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text, default="")
    media_id: Mapped[str] = mapped_column(String(128), default="")
    status: Mapped[str] = mapped_column(String(8), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    next_at: Mapped[datetime] = mapped_column(DateTime)  # when to try (again); a claim moves it by a lease
    received_at: Mapped[datetime] = mapped_column(DateTime)  # the message's time: the window counts from it
    error: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
