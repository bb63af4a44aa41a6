"""Push senders behind one interface: send one Content to recipients, get an Outcome per recipient.

A channel raises ApiError when a whole call failed (busy, timeout, quota, token, configuration);
the push run decides about retries. Per-recipient failures come back as Outcomes.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from bot.channels.api import ApiError, Http, RobotClient, WeChatClient, WeComClient
from bot.config import Config, ConfigError
from bot.db import Database
from bot.push.content import Content


@dataclass(frozen=True)
class Outcome:
    status: str  # sent | failed | skipped
    code: int | None = None
    message: str = ""
    unreachable: bool = False  # the recipient no longer follows us: stop pushing to them


SENT = Outcome("sent")


class Sender(Protocol):
    name: str
    batch: int  # recipients per API call
    idempotent: bool  # a repeated call cannot deliver twice (so a timeout may be retried)

    def send(self, content: Content, recipients: list[str]) -> dict[str, Outcome]: ...


class RateLimiter:
    """At most `rate` calls a second across all worker threads (evenly spaced)."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            slot = max(self.next, now)
            self.next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


def recipient_outcome(err: ApiError) -> Outcome:
    """What a per-recipient error means for the ledger (see shared/docs/wechat.md)."""
    if err.errcode == 43004:
        return Outcome("skipped", 43004, "the user does not follow the account", unreachable=True)
    if err.errcode in (45015, 45047):
        return Outcome("skipped", err.errcode, err.errmsg or "outside the customer-service window")
    return Outcome("failed", err.errcode, err.errmsg)


class WeChatSender:
    """The Official Account: template or customer-service message per follower, or one mass send by tag."""

    name = "wechat"
    batch = 1

    def __init__(self, config: Config, client: WeChatClient):
        self.config, self.client = config, client
        self.mode = config["push.wechat.mode"]
        self.template_id = config["push.wechat.template_id"]
        self.idempotent = self.mode == "mass"
        self.limit = RateLimiter(config["push.wechat.rate_per_second"])
        if self.mode == "template" and not self.template_id:
            raise ConfigError(["push.wechat.template_id: required when push.wechat.mode is template"])
        if self.mode == "mass" and not config["push.wechat.mass_tag_id"]:
            raise ConfigError(["push.wechat.mass_tag_id: required when push.wechat.mode is mass (the tag to send to)"])

    def send(self, content: Content, recipients: list[str], personal: bool = False) -> dict[str, Outcome]:
        """`personal`: a message for this follower alone (an alert), never a mass send."""
        (recipient,) = recipients
        self.limit.wait()
        try:
            if self.mode == "mass" and personal:
                self._custom(recipient, content)
            elif self.mode == "mass":
                tag = int(recipient.removeprefix("tag:"))
                self.client.mass_send_text(tag, content.text, f"rebot-{content.key}-{tag}")
            elif self.mode == "custom":
                self._custom(recipient, content)
            else:
                self._template(recipient, content)
        except ApiError as err:
            if err.kind != "recipient":
                raise
            return {recipient: recipient_outcome(err)}
        return {recipient: SENT}

    def _custom(self, openid: str, content: Content) -> None:
        try:
            self.client.send_custom_text(openid, content.text)
        except ApiError as err:
            if err.errcode != 45015 or not self.template_id:
                raise
            self._template(openid, content)  # outside the 48-hour window: the template reaches them

    def _template(self, openid: str, content: Content) -> None:
        self.client.send_template(openid, self.template_id, content.template_fields,
                                  self.config["push.wechat.template_url"] or content.url)


class WeComSender:
    """WeCom app messages: one call for up to 1000 members with the same text, duplicate-checked."""

    name = "wecom"
    batch = 1000
    idempotent = True  # enable_duplicate_check: a repeat within the interval is dropped by WeCom

    def __init__(self, config: Config, client: WeComClient):
        self.client = client
        self.interval = config["push.wecom.duplicate_check_seconds"]
        self.limit = RateLimiter(config["push.wecom.rate_per_second"])
        # WeCom asks senders to avoid the first minute of :00 and :30, its peaks (the default push is 17:30).
        now = time.time()
        self.not_before = now - now % 60 + 60 if config["push.wecom.avoid_peak"] and \
            time.localtime(now).tm_min in (0, 30) else 0.0

    def send(self, content: Content, recipients: list[str]) -> dict[str, Outcome]:
        if time.time() < self.not_before:
            time.sleep(self.not_before - time.time())
        self.limit.wait()
        try:
            result = self.client.send(recipients, "text", {"content": content.text}, self.interval)
        except ApiError as err:
            if err.errcode != 81013:
                raise
            invalid = set(str(err.data.get("invaliduser", "")).split("|"))
            return {r: Outcome("failed", 81013, "not a member of the organisation") if r in invalid
                    else Outcome("failed", 81013, err.errmsg) for r in recipients}
        invalid = set(result.invalid_users)
        return {r: Outcome("failed", 81013, "invaliduser: not a member of the organisation") if r in invalid
                else SENT for r in recipients}


class RobotSender:
    """WeCom group robots (`robots:` in config): the summary as one markdown post per robot."""

    name = "wecom_robot"
    batch = 1
    idempotent = False

    def __init__(self, config: Config, http: Http):
        per_minute = config["push.robot.per_minute"]
        self.robots = {r["name"]: RobotClient(r["name"], r["webhook"], http, per_minute)
                       for r in config["robots"]}

    def send(self, content: Content, recipients: list[str]) -> dict[str, Outcome]:
        (name,) = recipients
        robot = self.robots.get(name)
        if robot is None:
            return {name: Outcome("failed", None, "robot no longer configured")}
        robot.send_markdown(content.markdown)
        return {name: SENT}


def build_senders(config: Config, db: Database, workers: int | None = None) -> dict[str, Sender]:
    """The channels the configuration enables: wechat (app id + secret), wecom (corp id + secret), robots."""
    pool = (workers or config["push.workers"]) + 2
    channels: dict[str, Sender] = {}
    if config["wechat.app_id"] and config["wechat.app_secret"]:
        channels["wechat"] = WeChatSender(config, WeChatClient(config, db, Http(config["http.timeout_seconds"], pool)))
    if config["wecom.corp_id"] and config["wecom.secret"]:
        channels["wecom"] = WeComSender(config, WeComClient(config, db, Http(config["http.timeout_seconds"], pool)))
    if config["robots"]:
        channels["wecom_robot"] = RobotSender(config, Http(config["http.timeout_seconds"], pool))
    if db.redis is not None:  # one rate per API account over every push worker
        for name in ("wechat", "wecom"):
            if name in channels:
                channels[name].limit = db.redis.rate_limiter(f"push:{name}", config[f"push.{name}.rate_per_second"])
    return channels
