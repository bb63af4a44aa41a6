"""Logs: text or JSON lines on stderr, never a message's body or a configured secret."""
from __future__ import annotations

import json
import logging

from sqlalchemy import create_engine, text

from conftest import AES_KEY, APP_ID, TOKEN
from test_webhook import encrypted_post, post_text, text_xml

BODY = "news Zq7-body-marker-5521"
APP_SECRET = "appsecret-0f9e8d7c6b5a"


def logged_lines(capfd) -> list[str]:
    return [line for line in capfd.readouterr().err.splitlines() if line.strip()]


def drop(db_url: str, table: str) -> None:
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {table}"))
    engine.dispose()


def test_json_logs_carry_neither_message_bodies_nor_secrets(make_app, db_url, capfd):
    app = make_app(**{"logging.format": "json", "logging.level": "DEBUG", "wechat.app_id": APP_ID,
                      "wechat.app_secret": APP_SECRET, "wechat.encoding_aes_key": AES_KEY, "wechat.accept_plaintext": True})
    client = app.test_client()
    capfd.readouterr()
    drop(db_url, "news_items")  # the news search fails with the user's words among the SQL parameters
    post_text(client, BODY)
    assert encrypted_post(client, text_xml(BODY), app_id="wxsomeoneelse0000").status_code == 400
    logging.getLogger("bot.test").error("a careless line: token=%s secret=%s", TOKEN, APP_SECRET)

    lines = logged_lines(capfd)
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"time", "level", "logger", "message", "pid"} <= set(entries[0])
    failed = [e for e in entries if e["level"] == "ERROR" and e["logger"] == "bot.service"]
    assert failed and "news_items" in failed[0]["exception"]  # the traceback says what broke
    assert any("AppId" in e["message"] for e in entries)
    everything = "\n".join(lines)
    assert "Zq7-body-marker-5521" not in everything
    for secret in (TOKEN, APP_SECRET, AES_KEY):
        assert secret not in everything
    assert "token=*** secret=***" in everything


def test_text_logs_are_the_default_and_mask_secrets_too(make_app, capfd):
    make_app(**{"wechat.app_secret": APP_SECRET})
    capfd.readouterr()
    logging.getLogger("bot.test").warning("secret=%s", APP_SECRET)
    (line,) = logged_lines(capfd)
    assert line.endswith("WARNING bot.test: secret=***")


def test_an_unknown_log_format_is_named(make_app):
    import pytest

    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="logging.format: must be text or json"):
        make_app(**{"logging.format": "xml"})
