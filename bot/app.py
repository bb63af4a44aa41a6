"""The Flask application factory."""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any, Callable

from http import HTTPStatus

from flask import Flask, Response, jsonify

from bot import charts
from bot.channels.crypto import MessageCrypto
from bot.channels.inbound import TEXT, Answer, Channel, Inbound
from bot.channels.request import Rejected, Request
from bot.config import Config, build_config, load_config
from bot.logs import setup_logging
from bot.service import Bot

log = logging.getLogger(__name__)


def create_app(config: Config | dict[str, Any] | str | None = None,
               clock: Callable[[], datetime] | None = None) -> Flask:
    """The rebot web app. `config` is a Config, a dict of settings, a YAML path, or None (the default places)."""
    if isinstance(config, dict):
        config = build_config(config)
    elif not isinstance(config, Config):
        config = load_config(config)
    setup_logging(config)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config["server.max_body_bytes"]
    bot = Bot(config, clock)
    app.extensions["rebot"] = bot
    wechat_crypto = wecom_crypto = None
    if config["wechat.encoding_aes_key"]:
        wechat_crypto = MessageCrypto(config["wechat.token"], config["wechat.encoding_aes_key"], config["wechat.app_id"])
    if config["wecom.encoding_aes_key"]:
        wecom_crypto = MessageCrypto(config["wecom.token"], config["wecom.encoding_aes_key"], config["wecom.corp_id"])
    if bot.apis:
        # Charts go out as images on these channels: load matplotlib now, not in the first chart's reply.
        threading.Thread(target=charts.warm_up, name="charts-warm-up", daemon=True).start()

    from bot.admin import blueprint as admin
    from bot.pages import blueprint as pages

    app.register_blueprint(admin)
    app.register_blueprint(pages)
    wechat = Channel("wechat", config["wechat.token"], wechat_crypto,
                     plaintext=wechat_crypto is None or config["wechat.accept_plaintext"], encrypted_only=False,
                     nothing="success", api=bot.apis.get("wechat"),
                     setup_hint="wechat.encoding_aes_key is not set")
    wecom = Channel("wecom", config["wecom.token"], wecom_crypto, plaintext=False, encrypted_only=True, nothing="",
                    api=bot.apis.get("wecom"),
                    setup_hint="wecom.encoding_aes_key (with wecom.token and wecom.corp_id) is not set")
    # The chat callbacks, GET/POST /wechat and /wecom, are mounted in front of Flask: its request machinery
    # cost more than a quarter of a callback's CPU (README, "Benchmarks"). Every other route is Flask's.
    app.wsgi_app = CallbackMount(app.wsgi_app, {f"/{c.name}": callback(bot, Inbound(bot, c)) for c in (wechat, wecom)})
    if config["server.trusted_proxies"]:
        from bot.proxies import TrustedProxies

        app.wsgi_app = TrustedProxies(app.wsgi_app, config["server.trusted_proxies"])

    @app.get("/healthz")
    def healthz():
        try:
            database = bot.db.ping()
        except Exception as exc:  # the health check reports, never raises
            log.error("healthz: database unreachable: %s", type(exc).__name__)
            return jsonify(status="error", database="unreachable"), 503
        if bot.db.redis is None:
            return jsonify(status="ok", database=database)
        # Redis away is "degraded", still 200: this node answers from the database (README "What rebot promises").
        try:
            bot.db.redis.ping()
        except Exception as exc:  # noqa: BLE001 - reported, never raised
            log.warning("healthz: Redis unreachable: %s", type(exc).__name__)
            return jsonify(status="degraded", database=database, redis="unreachable")
        return jsonify(status="ok", database=database, redis="ok")

    @app.get("/metrics")
    def metrics():
        body, content_type = bot.metrics.exposition()
        return Response(body, content_type=content_type)

    @app.errorhandler(413)
    def too_large(_error):
        log.warning("request body over %d bytes refused", config["server.max_body_bytes"])
        return "request body too large", 413

    return app


class CallbackMount:
    """WSGI: the callback paths answered by their pipelines, every other request by the Flask app."""

    def __init__(self, app: Callable, callbacks: dict[str, Callable[[dict], Answer]]):
        self.app, self.callbacks = app, callbacks

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        callback = self.callbacks.get(environ.get("PATH_INFO", ""))
        if callback is None:
            return self.app(environ, start_response)
        answer = callback(environ)
        body = answer.body.encode("utf-8")
        headers = [("Content-Type", answer.content_type), ("Content-Length", str(len(body)))]
        if answer.status == 405:
            headers.append(("Allow", "GET, POST"))
        start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}", headers)
        return [body]


def callback(bot: Bot, inbound: Inbound) -> Callable[[dict], Answer]:
    """One channel's callback: a request in, the pipeline's Answer out, counted in the metrics."""
    name = inbound.channel.name
    max_body, timeout = bot.config["server.max_body_bytes"], bot.config["server.body_timeout_seconds"]

    def answer(environ: dict) -> Answer:
        started, method = time.perf_counter(), environ["REQUEST_METHOD"]
        try:
            request = Request(environ, max_body, timeout)
            if method == "GET":
                return inbound.verify(request)
            if method != "POST":
                return Answer(405, TEXT, "method not allowed")
            answer = inbound.receive(request)
        except Rejected as refused:
            answer = Answer(refused.status, TEXT, HTTPStatus(refused.status).phrase.lower())
        except Exception:
            log.exception("callback %s failed", name)
            answer = Answer(500, TEXT, "internal server error", outcome="error")
        if method == "POST":
            bot.metrics.webhook(name, answer.command, answer.outcome, time.perf_counter() - started)
            if answer.outcome == "retry":
                bot.metrics.retry(name)
        return answer

    return answer
