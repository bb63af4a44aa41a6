"""The Flask application factory."""
from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any, Callable

from flask import Flask, Response, jsonify

from bot import charts
from bot.channels.api import WeChatClient, WeComClient
from bot.channels.callback import Callbacks
from bot.channels.crypto import MessageCrypto
from bot.channels.wechat import WeChatCallback
from bot.channels.wecom import WeComCallback
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
    wechat_crypto = wecom_crypto = wechat_api = wecom_api = None
    if config["wechat.encoding_aes_key"]:
        wechat_crypto = MessageCrypto(config["wechat.token"], config["wechat.encoding_aes_key"], config["wechat.app_id"])
    if config["wecom.encoding_aes_key"]:
        wecom_crypto = MessageCrypto(config["wecom.token"], config["wecom.encoding_aes_key"], config["wecom.corp_id"])
    if config["wechat.app_id"] and config["wechat.app_secret"]:
        wechat_api = WeChatClient(config, bot.db)
    if config["wecom.corp_id"] and config["wecom.secret"]:
        wecom_api = WeComClient(config, bot.db)
    if wechat_api or wecom_api:
        # Charts go out as images on these channels: load matplotlib now, not in the first chart's reply.
        threading.Thread(target=charts.warm_up, name="charts-warm-up", daemon=True).start()

    from bot.admin import blueprint as admin
    from bot.pages import blueprint as pages

    app.register_blueprint(admin)
    app.register_blueprint(pages)
    callbacks = {"/wechat": WeChatCallback(bot, wechat_crypto, wechat_api).routes(),
                 "/wecom": WeComCallback(bot, wecom_crypto, wecom_api).routes()}
    app.wsgi_app = Callbacks(app.wsgi_app, callbacks, config["server.max_body_bytes"])
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
        return jsonify(status="ok", database=database)

    @app.get("/metrics")
    def metrics():
        body, content_type = bot.metrics.exposition()
        return Response(body, content_type=content_type)

    @app.errorhandler(413)
    def too_large(_error):
        log.warning("request body over %d bytes refused", config["server.max_body_bytes"])
        return "request body too large", 413

    return app
