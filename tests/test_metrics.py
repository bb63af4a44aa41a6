"""`/metrics`: drive the webhook, then read the counters back in the Prometheus text format."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from conftest import DEMO_NOW
from test_webhook import event_xml, post_event, post_text, post_xml, text_xml


def scrape(client) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from GET /metrics."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def requests_count(samples, command: str, outcome: str) -> float:
    key = ("rebot_webhook_requests_total", (("channel", "wechat"), ("command", command), ("outcome", outcome)))
    return samples.get(key, 0)


def test_webhook_requests_are_counted_by_command_and_outcome(client):
    post_text(client, "price PrNd")
    post_text(client, "price PrNd")  # answered from the reply cache: counted all the same
    post_text(client, "价格 镝")
    post_text(client, "summary")
    post_text(client, "frobnicate")
    post_event(client, "subscribe")
    assert post_xml(client, text_xml("price Dy"), token="not-our-token").status_code == 403

    samples = scrape(client)
    assert requests_count(samples, "price", "ok") == 3
    assert requests_count(samples, "summary", "ok") == 1
    assert requests_count(samples, "unknown", "ok") == 1
    assert requests_count(samples, "event:subscribe", "ok") == 1
    assert requests_count(samples, "-", "rejected") == 1
    latency = ("rebot_webhook_reply_seconds_count", (("channel", "wechat"),))
    assert samples[latency] == 7
    assert samples[("rebot_webhook_reply_seconds_sum", (("channel", "wechat"),))] > 0


def test_a_retried_message_is_counted_as_a_retry_not_run_again(client):
    body = text_xml("price PrNd", msg_id=4242424242)
    first = post_xml(client, body)
    again = post_xml(client, body)
    assert first.data == again.data
    event = event_xml("CLICK", "NOPE", create_time=1749636000)
    post_xml(client, event)
    post_xml(client, event)

    samples = scrape(client)
    assert requests_count(samples, "price", "ok") == 1
    assert requests_count(samples, "-", "retry") == 2
    assert samples[("rebot_webhook_retries_total", (("channel", "wechat"),))] == 2


def test_a_failing_command_is_counted_as_an_error(make_app, db_url):
    from sqlalchemy import create_engine, text

    client = make_app().test_client()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE price_quotes"))
    engine.dispose()
    post_text(client, "price PrNd")
    assert requests_count(scrape(client), "price", "error") == 1


def test_each_app_has_its_own_counters(make_app):
    first, second = make_app().test_client(), make_app().test_client()
    post_text(first, "price PrNd")
    assert requests_count(scrape(first), "price", "ok") == 1
    assert requests_count(scrape(second), "price", "ok") == 0


def test_pushes_and_fetches_are_recorded_through_the_bot(app, client):
    metrics = app.extensions["rebot"].metrics
    metrics.push("wechat", ok=True)
    metrics.push("wechat", ok=True)
    metrics.push("wechat", ok=False, errcode=45015)
    metrics.fetch("smm", "ok")
    metrics.fetch("smm", "error")

    samples = scrape(client)
    pushes = "rebot_pushes_total"
    assert samples[(pushes, (("channel", "wechat"), ("errcode", "0"), ("result", "sent")))] == 2
    assert samples[(pushes, (("channel", "wechat"), ("errcode", "45015"), ("result", "failed")))] == 1
    assert samples[("rebot_fetches_total", (("outcome", "ok"), ("source", "smm")))] == 1
    assert samples[("rebot_fetches_total", (("outcome", "error"), ("source", "smm")))] == 1


def test_quote_age_is_computed_at_scrape_time(make_app):
    now = [DEMO_NOW]
    client = make_app(clock=lambda: now[0]).test_client()
    age = ("rebot_quote_age_seconds", (("product", "PrNd-oxide"),))
    # The demo's newest quotes are from 2025-06-11; DEMO_NOW is 18:00 that day.
    assert scrape(client)[age] == 18 * 3600
    from datetime import timedelta

    now[0] = DEMO_NOW + timedelta(days=2)
    assert scrape(client)[age] == 18 * 3600 + 2 * 86400


def test_a_scrape_with_a_broken_database_still_gives_the_counters(make_app, tmp_path, caplog):
    """The gauges computed from the database are left empty (and logged); the counters are still scraped."""
    from bot.db import Database

    path = tmp_path / "broken.db"
    fresh = Database(f"sqlite:///{path}")
    fresh.upgrade()
    fresh.dispose()
    app = make_app(database_url=f"sqlite:///{path}")
    client = app.test_client()
    post_text(client, "help")
    app.extensions["rebot"].db.engine.dispose()
    for leftover in (tmp_path / "broken.db-wal", tmp_path / "broken.db-shm"):
        leftover.unlink(missing_ok=True)
    path.write_bytes(b"not a database " * 512)  # a disk fault, as SQLite meets it
    samples = scrape(client)
    assert requests_count(samples, "help", "ok") == 1
    assert not any(name in ("rebot_quote_age_seconds", "rebot_push_run_stalled") for name, _ in samples)
    assert "cannot read the quote ages: DatabaseError" in caplog.text
    assert "cannot read the push runs: DatabaseError" in caplog.text


MULTIPROCESS_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[3])
from bot.app import create_app
from bot.config import build_config
from conftest import DEMO_NOW
from test_webhook import post_text

app = create_app(build_config({"database_url": sys.argv[1], "wechat.token": "rebot-test-token"}, environ={}),
                 clock=lambda: DEMO_NOW)
client = app.test_client()
for i in range(int(sys.argv[2])):
    post_text(client, "price PrNd", msg_id=int(sys.argv[2]) * 1000 + i)  # distinct ids across the processes
print(client.get("/metrics").get_data(as_text=True))
"""


def test_with_a_multiprocess_directory_a_scrape_adds_up_every_process(db_url, tmp_path):
    """What gunicorn workers do with PROMETHEUS_MULTIPROC_DIR set: each counts, any scrape sums them."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    tests = str(Path(__file__).parent)
    directory = tmp_path / "metrics"  # its own directory: prometheus-client reads every *.db file in it
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    env = {k: v for k, v in env.items() if not k.startswith("REBOT_") or k.startswith("REBOT_TEST_")}
    outputs = [subprocess.run([sys.executable, "-c", MULTIPROCESS_SCRIPT, db_url, str(n), tests], env=env,
                              capture_output=True, text=True, timeout=120, check=True).stdout for n in (2, 3)]
    samples = {}
    for family in text_string_to_metric_families(outputs[-1]):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    assert requests_count(samples, "price", "ok") == 5  # 2 from the first process, 3 from the second
    assert samples[("rebot_quote_age_seconds", (("product", "PrNd-oxide"),))] == 18 * 3600


def test_a_push_run_counts_sent_and_failed_by_channel_and_error_code(make_app, emulator):
    from bot.push.run import DailyPush
    from test_push import add_subscribers, settings

    app = make_app(**settings(emulator))
    bot = app.extensions["rebot"]
    add_subscribers(bot, "wechat", ["o-ann", "o-bob", "o-gone", "o-bad"])
    emulator.recipient_error("o-gone", 43004)
    emulator.recipient_error("o-bad", 40003)
    DailyPush(bot).run()

    samples = scrape(app.test_client())
    pushes = "rebot_pushes_total"
    assert samples[(pushes, (("channel", "wechat"), ("errcode", "0"), ("result", "sent")))] == 2
    assert samples[(pushes, (("channel", "wechat"), ("errcode", "43004"), ("result", "failed")))] == 1
    assert samples[(pushes, (("channel", "wechat"), ("errcode", "40003"), ("result", "failed")))] == 1


def test_wecom_callbacks_are_counted_too_and_a_late_answer_is_late(make_app, emulator):
    import time

    from test_wecom import AES_KEY as WECOM_AES_KEY, TOKEN as WECOM_TOKEN, USER, post_member
    from emulator import AGENT_ID, CORP_ID, CORP_SECRET

    settings = {"wecom.corp_id": CORP_ID, "wecom.agent_id": AGENT_ID, "wecom.secret": CORP_SECRET,
                "wecom.token": WECOM_TOKEN, "wecom.encoding_aes_key": WECOM_AES_KEY, "wecom.api_base_url": emulator.url}
    client = make_app(**settings).test_client()
    post_member(client, "price PrNd", msg_id=1)
    post_member(client, "price PrNd", msg_id=1)
    post_member(client, "price PrNd", corp_id="ww-someone-else")
    samples = scrape(client)
    wecom = (("channel", "wecom"),)
    assert samples[("rebot_webhook_requests_total", (*wecom, ("command", "price"), ("outcome", "ok")))] == 1
    assert samples[("rebot_webhook_requests_total", (*wecom, ("command", "-"), ("outcome", "retry")))] == 1
    assert samples[("rebot_webhook_requests_total", (*wecom, ("command", "-"), ("outcome", "rejected")))] == 1
    assert samples[("rebot_webhook_retries_total", wecom)] == 1

    slow = make_app(**settings, **{"wechat.reply_budget_seconds": 0.001}).test_client()
    post_member(slow, "summary", msg_id=2)
    deadline = time.monotonic() + 10
    while not emulator.inbox(USER) and time.monotonic() < deadline:
        time.sleep(0.02)
    samples = scrape(slow)
    assert samples[("rebot_webhook_requests_total", (*wecom, ("command", "-"), ("outcome", "late")))] == 1


def test_scheduled_fetches_are_counted_by_source_and_outcome(db_url):
    from prometheus_client import generate_latest

    from bot.ingest.jobs import source_jobs
    from bot.service import Bot
    from test_fetch import make_config
    from tests.fixture_site import FixtureSite

    site = FixtureSite()
    config = make_config(db_url, {"name": "daily", "type": "report", "url": site.url("/daily-report-2025-06-12.html")},
                         {"name": "down", "type": "report", "url": site.url("/status/500")})
    bot = Bot(config)
    try:
        for job in source_jobs(config):
            job.func(bot)
        text = generate_latest(bot.metrics.registry).decode()
    finally:
        bot.db.dispose()
        site.close()
    assert 'rebot_fetches_total{outcome="ok",source="daily"} 1.0' in text
    assert 'rebot_fetches_total{outcome="error",source="down"} 1.0' in text
