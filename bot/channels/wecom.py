"""The WeCom app callback, `GET/POST /wecom`: always encrypted, CorpID as the receive id.

The same router, handlers, templates and de-duplication as `/wechat`; passive replies are encrypted;
an answer not ready within `wechat.reply_budget_seconds` goes out as a WeCom app message.
"""
from __future__ import annotations

import dataclasses
import logging
import secrets
import time

from flask import Blueprint, Response, abort, current_app, request

from bot.channels.budget import answer_within
from bot.metrics import counted_callback, late_unless_repeat
from bot.channels.crypto import CryptoError, MessageCrypto
from bot.channels.wechat import TEXT_REPLY_BYTES, to_message
from bot.channels.wechat_xml import XMLError, parse, render_envelope, render_reply
from bot.charts import attach_image
from bot.messages import Reply
from bot.service import Bot

log = logging.getLogger(__name__)
blueprint = Blueprint("wecom", __name__)


def _crypto() -> MessageCrypto:
    crypto = current_app.extensions.get("rebot.wecom_crypto")
    if crypto is None:
        log.error("wecom: wecom.encoding_aes_key (with wecom.token and wecom.corp_id) is not set; refusing callbacks")
        abort(403)
    return crypto


def _fresh(timestamp: str) -> None:
    try:
        skew = abs(time.time() - int(timestamp))
    except (ValueError, OverflowError):
        abort(400)
    if skew > current_app.extensions["rebot"].config["wechat.max_clock_skew"]:
        log.warning("wecom: stale timestamp (%.0f s off)", skew)
        abort(403)


@blueprint.get("/wecom")
def verify():
    """WeCom's URL check: decrypt `echostr` and answer its plaintext, nothing around it."""
    args = request.args
    crypto = _crypto()
    _fresh(args.get("timestamp", ""))
    try:
        plain = crypto.decrypt(args.get("echostr", ""), args.get("msg_signature"), args.get("timestamp", ""),
                               args.get("nonce", ""))
    except CryptoError as exc:
        log.warning("wecom: URL verification failed: %s", exc)
        abort(403 if "signature" in str(exc) else 400)
    return Response(plain, mimetype="text/plain")


@blueprint.post("/wecom")
@counted_callback("wecom")
def receive(outcome: dict[str, str]):
    """One message or event from a WeCom member; an encrypted passive reply or an empty 200."""
    args = request.args
    crypto = _crypto()
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    _fresh(timestamp)
    bot: Bot = current_app.extensions["rebot"]
    try:
        envelope = parse(request.get_data(cache=False))
        fields = parse(crypto.decrypt(envelope.get("Encrypt", ""), args.get("msg_signature"), timestamp,
                                      nonce).encode("utf-8"))
    except XMLError as exc:
        log.warning("wecom: rejected body: %s", exc)
        abort(400)
    except CryptoError as exc:
        log.warning("wecom: cannot decrypt message: %s", exc)
        abort(403 if "signature" in str(exc) else 400)
    message = to_message(fields)
    if message is None:
        log.warning("wecom: message without FromUserName/MsgType")
        abort(400)
    message = dataclasses.replace(message, channel="wecom")
    key = "wecom:" + (fields.get("MsgId") or f"{message.user_id}:{fields.get('CreateTime', '')}")

    api = current_app.extensions.get("rebot.wecom_api")

    def produce(session) -> tuple[str, Reply]:
        reply = attach_image(bot.db, api, bot.answer(message, TEXT_REPLY_BYTES, session=session), session)
        outcome.update(command=reply.command, outcome=reply.outcome)
        if reply.empty:
            return "", reply
        return render_reply(message.user_id, fields.get("ToUserName", ""), reply, int(time.time())), reply

    def send_later(reply: Reply) -> None:
        if reply.media_id:
            api.send_image(message.user_id, reply.media_id)
        else:
            api.send_text(message.user_id, reply.text)

    outcome["outcome"] = "retry"  # unless this attempt is the first
    try:
        xml = answer_within(bot.db, key, produce, bot.config["wechat.reply_budget_seconds"],
                            bot.config["wechat.reply_wait_seconds"], send_later if api else None,
                            on_claim=late_unless_repeat(outcome))
    except Exception:
        outcome["outcome"] = "error"
        log.exception("wecom: could not answer a message (msg_type=%s)", fields.get("MsgType"))
        xml = render_reply(message.user_id, fields.get("ToUserName", ""), bot.apology(message), int(time.time()))
    if outcome["outcome"] == "retry":
        bot.metrics.retry("wecom")
    if not xml:
        return Response("", mimetype="text/plain")  # WeCom: an empty 200 means "no passive reply"
    reply_ts, reply_nonce = str(int(time.time())), secrets.token_hex(8)
    body = crypto.encrypt(xml)
    return Response(render_envelope(body, crypto.sign(body, reply_ts, reply_nonce), reply_ts, reply_nonce),
                    mimetype="application/xml")
