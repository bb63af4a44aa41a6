"""The Official Account callback, `GET/POST /wechat`: verify, decrypt, parse, de-duplicate, answer."""
from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime, timezone

from flask import Blueprint, Response, abort, current_app, request

from bot.channels.crypto import CryptoError, MessageCrypto, signature_matches
from bot.channels.wechat_xml import XMLError, parse, render_envelope, render_reply
from bot.channels.budget import answer_within
from bot.charts import attach_image
from bot.dedup import record_once
from bot.messages import Message, Reply
from bot.metrics import counted_callback, late_unless_repeat
from bot.router import touch_subscriber
from bot.service import Bot

log = logging.getLogger(__name__)
blueprint = Blueprint("wechat", __name__)

EVENTS = {"subscribe": "subscribe", "unsubscribe": "unsubscribe", "CLICK": "click", "SCAN": "scan", "VIEW": "view"}
TEXT_REPLY_BYTES = 2048


def _bot() -> Bot:
    return current_app.extensions["rebot"]


def _crypto() -> MessageCrypto | None:
    return current_app.extensions.get("rebot.wechat_crypto")


def _plain(body: str) -> Response:
    return Response(body, mimetype="text/plain")


def _check_request() -> tuple[str, str]:
    """Check the plain signature and the timestamp's age; abort 403/400 otherwise."""
    config = _bot().config
    args = request.args
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    if not config["wechat.token"]:  # with no token anyone can compute the signature
        log.error("wechat: wechat.token is not set; refusing callbacks")
        abort(403)
    if not signature_matches((config["wechat.token"], timestamp, nonce), args.get("signature")):
        log.warning("wechat: bad signature from %s", request.remote_addr)
        abort(403)
    try:
        skew = abs(time.time() - int(timestamp))
    except (ValueError, OverflowError):
        abort(400)
    if skew > config["wechat.max_clock_skew"]:
        log.warning("wechat: stale timestamp (%.0f s off)", skew)
        abort(403)
    return timestamp, nonce


@blueprint.get("/wechat")
def verify():
    """WeChat's URL check: echo `echostr` when the signature is ours."""
    _check_request()
    return _plain(request.args.get("echostr", ""))


@blueprint.post("/wechat")
@counted_callback("wechat")
def receive(outcome: dict[str, str]) -> Response:
    """One message or event from WeChat: a passive reply or `success`; `outcome` is filled in for the metrics."""
    timestamp, nonce = _check_request()
    bot = _bot()
    crypto = _crypto()
    encrypted = request.args.get("encrypt_type") == "aes"
    try:
        fields = parse(request.get_data(cache=False))
        if encrypted:
            if crypto is None:
                log.warning("wechat: encrypted message but wechat.encoding_aes_key is not set")
                abort(400)
            fields = parse(crypto.decrypt(fields.get("Encrypt", ""), request.args.get("msg_signature"),
                                          timestamp, nonce).encode("utf-8"))
    except XMLError as exc:
        log.warning("wechat: rejected body: %s", exc)
        abort(400)
    except CryptoError as exc:
        log.warning("wechat: cannot decrypt message: %s", exc)
        abort(400)

    message = to_message(fields)
    if message is None:
        log.warning("wechat: message without FromUserName/MsgType")
        abort(400)
    key = "wechat:" + (fields.get("MsgId") or f"{message.user_id}:{fields.get('CreateTime', '')}")

    def noted(reply: Reply) -> Reply:
        """The first attempt's reply, counted in the metrics (a retry never gets here)."""
        outcome.update(command=reply.command, outcome=reply.outcome)
        return reply

    def xml_of(reply: Reply) -> str:
        if reply.empty:
            return ""
        if len(reply.articles) > 1 and message.event is None:
            # WeChat shows one article in a passive reply to a user's message (up to 8 only for events
            # such as menu clicks): send the text version, which lists them all with links.
            reply = Reply(text=reply.text)
        return render_reply(message.user_id, fields.get("ToUserName", ""), reply, int(time.time()))

    api = current_app.extensions.get("rebot.wechat_api")

    def produce(session) -> tuple[str, Reply]:
        reply = attach_image(bot.db, api, noted(bot.answer(message, TEXT_REPLY_BYTES, session=session)), session)
        return xml_of(reply), reply

    def send_later(reply: Reply) -> None:
        if reply.media_id:
            api.send_custom_image(message.user_id, reply.media_id)
        else:
            api.send_custom_text(message.user_id, reply.text)

    wait = bot.config["wechat.reply_wait_seconds"]
    outcome["outcome"] = "retry"  # unless this attempt is the first

    try:
        with bot.db.raw() as conn:  # the quick path: one connection, one commit
            cached = bot.cached_reply(message, TEXT_REPLY_BYTES, conn)
            if cached is not None:  # ready at once: no need for the reply budget's thread
                reply, language = cached

                def first_attempt(cursor) -> None:  # runs only when this attempt's key is new
                    touch_subscriber(bot.db, cursor, message, language)
                    noted(reply)

                xml = record_once(bot.db, key, xml_of(reply), wait, also=first_attempt, conn=conn)
        if cached is None:
            xml = answer_within(bot.db, key, produce, bot.config["wechat.reply_budget_seconds"], wait,
                                send_later if api else None, on_claim=late_unless_repeat(outcome))
    except Exception:  # e.g. the database failed outside the handler: an error page would read "无法提供服务"
        log.exception("wechat: could not answer a message (msg_type=%s)", fields.get("MsgType"))
        outcome["outcome"] = "error"
        xml = render_reply(message.user_id, fields.get("ToUserName", ""), bot.apology(message), int(time.time()))
    if outcome["outcome"] == "retry":
        bot.metrics.retry("wechat")
    if not xml:  # nothing to say, or the first attempt is still running: WeChat shows nothing
        return _plain("success")
    if encrypted:
        reply_ts, reply_nonce = str(int(time.time())), secrets.token_hex(8)
        body = crypto.encrypt(xml)
        xml = render_envelope(body, crypto.sign(body, reply_ts, reply_nonce), reply_ts, reply_nonce)
    return Response(xml, mimetype="application/xml")


def to_message(fields: dict[str, str]) -> Message | None:
    """The normalised Message of a callback's fields; media other than text and voice get an empty text."""
    user, kind = fields.get("FromUserName"), fields.get("MsgType")
    if not user or not kind:
        return None
    try:
        received = datetime.fromtimestamp(int(fields.get("CreateTime", "")), timezone.utc)
    except (ValueError, OverflowError, OSError):  # missing or absurd: the time is informational only
        received = None
    if kind == "event":
        name = fields.get("Event", "")
        return Message("wechat", user, event=EVENTS.get(name, name.lower()), event_key=fields.get("EventKey", ""),
                       received_at=received)
    text = fields.get("Content", "") if kind == "text" else fields.get("Recognition", "") if kind == "voice" else ""
    return Message("wechat", user, text=text, msg_id=fields.get("MsgId"), received_at=received)
