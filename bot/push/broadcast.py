"""A one-off text from an admin to every subscriber who gets the pushes, through the same ledger.

Each broadcast is its own PushRun (kind `broadcast:<id>`, its text in `push_runs.text`), so it is sent once
per recipient, can be resumed, is delivered by `rebot worker`s like the daily push when `push.delivery` is
`workers` (bot.push.worker.broadcast_push), and shows in the console with its deliveries like the daily runs."""
from __future__ import annotations

import secrets
from datetime import date

from bot.models import PushRun
from bot.push.content import MARKDOWN_BYTES, TEXT_BYTES, Content, text_fields
from bot.push.run import DailyPush
from bot.render import fit_bytes

MAX_TEXT_BYTES = TEXT_BYTES
RUN_PREFIX = "broadcast:"


class BroadcastContent:
    """The same text for everyone, in each shape a channel needs."""

    def __init__(self, config, text: str, key: str, day: date):
        title = text.partition("\n")[0]
        self.content = Content(key, config["language"], title, fit_bytes(text, TEXT_BYTES),
                               fit_bytes(text, MARKDOWN_BYTES), text_fields(config, text, str(day)))

    def for_subscriber(self, _codes, _language) -> Content:
        return self.content


def pushed():
    """Where a run is one the push delivers: the daily summary or a broadcast (an alert's run is sent by
    bot.alerts)."""
    return (PushRun.kind == "daily") | PushRun.kind.startswith(RUN_PREFIX)


def is_broadcast(run: PushRun) -> bool:
    return run.kind.startswith(RUN_PREFIX)


def content_of(config, run: PushRun) -> BroadcastContent:
    """What the broadcast `run` sends, from its stored text."""
    return BroadcastContent(config, run.text or "", f"broadcast-{run.id}", run.run_date)


class Broadcast(DailyPush):
    """`Broadcast(bot, text).run()` sends `text` to the daily push's recipients, each once;
    `Broadcast(bot, run.text, resume=run).run(run.run_date)` goes on with an unfinished one."""

    def __init__(self, bot, text: str, resume: PushRun | None = None, **kwargs):
        super().__init__(bot, **kwargs)
        self.text, self.resumed = text, resume
        self.kind = f"{RUN_PREFIX}{secrets.token_hex(6)}"  # of a new run

    def _get_or_create_run(self, day: date) -> PushRun:
        if self.resumed is not None:
            return self.resumed
        with self.db.session() as session:
            run = PushRun(kind=self.kind, run_date=day, status="running", data_date=None, reason="", text=self.text)
            session.add(run)
        return run

    def _content(self, session, run: PushRun) -> BroadcastContent:
        return content_of(self.config, run)

    def _tell_admins(self, report) -> None:
        """The admin who sent it gets the figures in the console; no daily-summary report for a broadcast."""
