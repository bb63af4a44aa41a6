"""Issue 18, case 7: every callback answers within WeChat's 5 s (`wechat.reply_budget_seconds`, 4) whatever
the stores do. gunicorn serves the app over real HTTP; the late answers reach the API emulator."""
from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from chaos_tools import pg_url, wait_for  # noqa: F401 (pg_url: a fixture)
from emulator import APP_ID, APP_SECRET
from test_webhook import USER, gunicorn, reply_fields, signed_params, text_xml

pytestmark = pytest.mark.slow
BUDGET = 4.0
APOLOGY = "抱歉"


def api_env(emulator) -> dict[str, str]:
    return {"REBOT_WECHAT_APP_ID": APP_ID, "REBOT_WECHAT_APP_SECRET": APP_SECRET,
            "REBOT_WECHAT_API_BASE_URL": emulator.url, "REBOT_HTTP_TIMEOUT_SECONDS": "10"}


def ask(base: str, words: str, user: str = USER) -> tuple[requests.Response, float]:
    started = time.monotonic()
    answer = requests.post(base + "/wechat", params=signed_params(), data=text_xml(words, user=user).encode(),
                           timeout=30)
    return answer, time.monotonic() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HungServer:
    """A TCP server that accepts connections and never answers (a Redis hung in a long command, or a
    half-dead host behind a load balancer)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def test_redis_down_answers_from_the_database(db_url, tmp_path):
    redis_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with gunicorn(db_url, tmp_path, workers=1, threads=4, REBOT_REDIS_URL=redis_url) as (base, log_path):
        health = requests.get(base + "/healthz", timeout=5)
        price, price_took = ask(base, "价格 镨钕")
        subscribe, _ = ask(base, "订阅 镝")
        again, _ = ask(base, "price PrNd")
    assert health.status_code == 200 and health.json() == {"status": "degraded", "database": "ok",
                                                            "redis": "unreachable"}
    assert "44.9 万元/吨" in reply_fields(price.text)["Content"] and price_took < BUDGET
    assert APOLOGY not in reply_fields(subscribe.text)["Content"]
    assert "449,000" in reply_fields(again.text)["Content"]
    assert "using the database" in log_path.read_text(errors="replace")


def test_redis_hung_answers_within_the_budget(db_url, tmp_path):
    hung = HungServer()
    try:
        with gunicorn(db_url, tmp_path, workers=1, threads=4,
                      REBOT_REDIS_URL=f"redis://127.0.0.1:{hung.port}/0") as (base, _log):
            answers = [ask(base, words) for words in ("price PrNd", "subscribe Dy", "价格 氧化镝")]
    finally:
        hung.close()
    for answer, took in answers:
        assert took < BUDGET, f"answered after {took:.1f} s"
        assert APOLOGY not in reply_fields(answer.text)["Content"]
    assert "449,000" in reply_fields(answers[0][0].text)["Content"]


def test_a_locked_market_version_row_answers_success_then_through_the_api(pg_url, tmp_path, emulator):
    locked, release = threading.Event(), threading.Event()

    def hold(seconds: float) -> None:
        engine = create_engine(pg_url, poolclass=NullPool)
        with engine.connect() as conn:
            conn.execute(text("LOCK TABLE market_version IN ACCESS EXCLUSIVE MODE"))  # as an ALTER TABLE would
            locked.set()
            release.wait(seconds)
            conn.rollback()
        engine.dispose()

    with gunicorn(pg_url, tmp_path, workers=1, threads=4, **api_env(emulator)) as (base, log_path):
        holder = threading.Thread(target=hold, args=(12,))
        holder.start()
        locked.wait(5)
        try:
            answer, took = ask(base, "价格 镨钕")
            assert answer.status_code == 200 and answer.text == "success" and took < BUDGET + 0.5, \
                f"{answer.status_code} {answer.text[:80]!r} after {took:.1f} s"
        finally:
            holder.join(15)
        inbox = wait_for(lambda: emulator.inbox(USER), 20, "the answer through the customer-service API")
    assert inbox[0]["msgtype"] == "text" and "44.9 万元/吨" in inbox[0]["text"]["content"]
    assert "did not answer within 3.0 s" in log_path.read_text(errors="replace")


def test_ten_slow_answers_with_every_thread_busy(db_url, tmp_path, emulator):
    """Charts uploaded to a slow API: each answer takes ~6 s, on a worker of four threads."""
    emulator.fault("/cgi-bin/media/upload", delay=6, times=100)
    users = [f"oUser-slow-{n:02d}" for n in range(10)]
    with gunicorn(db_url, tmp_path, workers=1, threads=4, **api_env(emulator)) as (base, _):
        ask(base, "price PrNd", user="oUser-warm-up")
        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(lambda user: ask(base, "trend PrNd", user=user), users))
        took = sorted(round(t, 1) for _a, t in answers)
        assert all(a.status_code == 200 for a, _t in answers)
        assert took[-1] < BUDGET + 0.5, f"answered after {took} s"
        wait_for(lambda: all(emulator.inbox(user) for user in users), 40, "ten answers through the API")
    for user in users:
        assert len(emulator.inbox(user)) == 1, user


def test_a_late_answer_is_retried_after_an_http_500(db_url, tmp_path, emulator):
    emulator.fault("/cgi-bin/media/upload", delay=5)  # the answer misses the budget
    emulator.fault("/cgi-bin/message/custom/send", status=500)  # and its first send fails
    with gunicorn(db_url, tmp_path, workers=1, threads=4, **api_env(emulator)) as (base, log_path):
        answer, took = ask(base, "trend PrNd")
        assert answer.text == "success" and took < BUDGET + 0.5
        inbox = wait_for(lambda: emulator.inbox(USER), 30, "the late answer, sent again")
        sends = emulator.calls("/cgi-bin/message/custom/send")
    assert len(inbox) == 1 and inbox[0]["msgtype"] == "image"
    assert len(sends) == 2 and sends[1]["time"] - sends[0]["time"] >= 1.5  # after a backoff, not at once
    assert "trying again in 2 s" in log_path.read_text(errors="replace")


def late_bot(db_url: str, emulator):
    from bot.channels.api import WeChatClient
    from bot.channels.late import LateAnswers
    from bot.config import build_config
    from bot.service import Bot

    bot = Bot(build_config({"database_url": db_url, "wechat": {"app_id": APP_ID, "app_secret": APP_SECRET,
                                                               "api_base_url": emulator.url}}, environ={}))
    late = LateAnswers(bot)
    late.register("wechat", WeChatClient(bot.config, bot.db))
    return bot, late


def late_rows(bot) -> list[tuple[str, int]]:
    from sqlalchemy import select

    from bot.models import LateAnswer

    with bot.db.session() as session:
        return [tuple(row) for row in session.execute(select(LateAnswer.status, LateAnswer.attempts))]


def test_a_late_answer_failing_past_the_window_is_counted(db_url, emulator):
    from datetime import datetime, timedelta, timezone

    from bot.messages import Reply

    emulator.fault("/cgi-bin/message/custom/send", status=500)
    bot, late = late_bot(db_url, emulator)
    try:
        received = datetime.now(timezone.utc) - timedelta(hours=48) + timedelta(seconds=1)
        late.send("wechat", USER, Reply(text="PrNd 449,000"), received)  # the window closes before the retry
        emulator.recipient_error("oUser-gone", 43004)  # unfollowed: no retry can mend it
        late.send("wechat", "oUser-gone", Reply(text="PrNd 449,000"))
        failed = bot.metrics.late_failed.labels("wechat")._value.get()
        assert late_rows(bot) == [("failed", 1), ("failed", 1)] and failed == 2
        assert b"rebot_late_answers_failed_total" in bot.metrics.exposition()[0]
    finally:
        bot.db.dispose()


def test_a_late_answer_left_by_a_restart_is_sent_by_the_scheduled_job(db_url, emulator):
    from bot.channels.late import send_due_answers
    from bot.dedup import prune
    from bot.messages import Reply

    emulator.fault("/cgi-bin/message/custom/send", status=500)
    bot, late = late_bot(db_url, emulator)
    try:
        late.send("wechat", USER, Reply(text="PrNd 449,000"))  # fails once; this process then "dies"
        assert late_rows(bot) == [("queued", 1)] and not emulator.inbox(USER)
        late._timer.cancel()
        time.sleep(2.1)  # the retry is due
        restarted = type(bot)(bot.config)  # a scheduler process of its own
        try:
            assert send_due_answers(restarted) == 1
        finally:
            restarted.db.dispose()
        assert late_rows(bot) == [("sent", 2)] and emulator.inbox(USER)[0]["text"]["content"] == "PrNd 449,000"
        with bot.db.session() as session:  # three days on, the daily prune forgets it
            session.execute(text("UPDATE late_answers SET created_at = created_at - INTERVAL '3' DAY")
                            if "postgresql" in db_url else
                            text("UPDATE late_answers SET created_at = datetime(created_at, '-3 days')"))
        prune(bot)
        assert late_rows(bot) == []
    finally:
        bot.db.dispose()
