"""With `redis_url`: tokens, message de-duplication and rate counters shared through a real Redis."""
from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import create_engine, func, select

from bot.channels.api import WeChatClient
from bot.models import AccessToken, ProcessedMessage, Subscriber
from bot.redis_store import Shared
from conftest import AES_KEY
from conftest import APP_ID as WECHAT_APP_ID
from emulator import APP_ID, APP_SECRET
from test_webhook import (USER, _ids, _times, encrypted_post, gunicorn, hold_lock, post_text, reply_fields,
                          signed_params, text_xml)


def api_bot(make_app, emulator, redis_settings):
    return make_app(**redis_settings, **{"wechat.app_id": APP_ID, "wechat.app_secret": APP_SECRET,
                                         "wechat.api_base_url": emulator.url}).extensions["rebot"]


def test_a_retry_is_answered_from_redis(make_app, redis_settings):
    app = make_app(**redis_settings)
    bot = app.extensions["rebot"]
    client = app.test_client()
    msg_id = next(_ids)
    first = post_text(client, "subscribe Dy", msg_id=msg_id)
    again = post_text(client, "unsubscribe Dy", msg_id=msg_id)  # WeChat's retry (the words do not matter)
    assert first.data == again.data and "Dy" in reply_fields(first.data.decode())["Content"]
    cached = post_text(client, "price PrNd", msg_id=next(_ids))  # a pure command's cached reply: also once
    assert "PrNd" in reply_fields(cached.data.decode())["Content"]
    assert bot.dedup.state(f"wechat:{msg_id}:{USER}") == "done"
    with bot.db.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(ProcessedMessage)) == 0  # the database is spared
    with bot.db.session() as session:
        sub = session.scalars(select(Subscriber).where(Subscriber.external_id == USER)).one()
        assert "Dy-oxide" in sub.products


def test_a_signed_query_carries_one_message_in_redis_too_and_safe_mode_keeps_no_signature(make_app, redis_settings):
    plain = make_app(**redis_settings, admins=["oAdmin"]).test_client()
    captured = signed_params()
    first = plain.post("/wechat", query_string=captured, data=text_xml("price PrNd", user="oAdmin").encode(),
                       content_type="text/xml")
    assert "449,000" in reply_fields(first.data.decode())["Content"]
    forged = plain.post("/wechat", query_string=captured, data=text_xml("subscribe Dy", user="oAdmin").encode(),
                        content_type="text/xml")
    assert forged.status_code == 403
    safe = make_app(**redis_settings, **{"wechat.encoding_aes_key": AES_KEY, "wechat.app_id": WECHAT_APP_ID})
    shared = safe.extensions["rebot"].db.redis
    before = set(shared.client.scan_iter(shared.key("sig", "*")))
    assert encrypted_post(safe.test_client(), text_xml("subscribe Dy", user="oSafe")).status_code == 200
    assert encrypted_post(safe.test_client(), text_xml("subscribe Dy", user="oSafe")).status_code == 200
    assert set(shared.client.scan_iter(shared.key("sig", "*"))) == before  # msg_signature covers the body
    with safe.extensions["rebot"].db.session() as session:
        assert "Dy-oxide" in session.scalars(select(Subscriber).where(Subscriber.external_id == "oSafe")).one().products


def test_the_access_token_is_shared_and_refreshed_once(make_app, emulator, redis_settings):
    clients = [WeChatClient(b.config, b.db) for b in (api_bot(make_app, emulator, redis_settings) for _ in range(3))]
    for client in clients:
        client.send_custom_text("o-ann", "hello")
    assert sum(emulator.token_fetches.values()) == 1
    emulator.expire_tokens()  # every process's token is refused (42001): one of them refreshes it
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda c: c.send_custom_text("o-ann", "again"), clients))
    assert sum(emulator.token_fetches.values()) == 2
    assert len(emulator.inbox("o-ann")) == 6
    with clients[0].tokens.db.session() as session:
        assert session.scalar(select(func.count()).select_from(AccessToken)) == 0  # kept in Redis


def test_a_rate_is_kept_across_processes(redis_settings):
    limiters = [Shared(redis_settings["redis_url"], redis_settings["redis_prefix"]).rate_limiter("push:wechat", 20)
                for _ in range(2)]
    times: list[float] = []
    lock = threading.Lock()

    def call(limiter):
        for _ in range(25):
            limiter.wait()
            with lock:
                times.append(time.time())

    threads = [threading.Thread(target=call, args=(lim,)) for lim in limiters]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    per_second = Counter(int(t) for t in times)
    assert len(times) == 50 and max(per_second.values()) <= 20, per_second
    for limiter in limiters:
        limiter.shared.close()


def test_a_retry_on_another_server_gets_the_first_answer(db_url, tmp_path, redis_settings):
    """Two gunicorn servers share the database and Redis; WeChat's retry lands on the second."""
    env = {"REBOT_REDIS_URL": redis_settings["redis_url"], "REBOT_REDIS_PREFIX": redis_settings["redis_prefix"]}
    msg_id, sent = next(_ids), next(_times)
    body = text_xml("subscribe Tb", msg_id=msg_id, create_time=sent).encode()

    def deliver(base):
        return requests.post(base + "/wechat", params=signed_params(), data=body, timeout=15)

    with gunicorn(db_url, tmp_path, "a", **env) as (one, log_one), gunicorn(db_url, tmp_path, "b", **env) as (two, log_two):
        locked = threading.Event()
        holder = threading.Thread(target=hold_lock, args=(db_url, 1.5, locked))
        holder.start()
        assert locked.wait(5)
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(deliver, one)
            time.sleep(0.4)  # the first attempt has claimed the message and waits for the database
            retry = pool.submit(deliver, two)
            first, retry = first.result(), retry.result()
        holder.join()
        late = deliver(two)
        logs = log_one.read_text(errors="replace") + log_two.read_text(errors="replace")
    assert first.status_code == retry.status_code == late.status_code == 200
    assert first.text == retry.text == late.text
    assert "Tb" in reply_fields(first.text)["Content"]
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            subs = conn.execute(select(Subscriber.products).where(Subscriber.external_id == USER)).all()
    finally:
        engine.dispose()
    assert len(subs) == 1 and subs[0].products.count("Tb-oxide") + subs[0].products.count("Tb-metal") >= 1
    assert "Traceback" not in logs
