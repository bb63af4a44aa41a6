"""The Official Account callback, `GET/POST /wechat`: verify, decrypt, parse, de-duplicate, answer."""
from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime, timezone

from bot.channels.budget import answer_within
from bot.channels.callback import TEXT, XML, Answer, Rejected, Request, check_fresh, counted, late_unless_repeat
from bot.channels.crypto import CryptoError, MessageCrypto, signature_matches
from bot.channels.wechat_xml import XMLError, parse, render_envelope, render_reply
from bot.charts import attach_image
from bot.messages import Message, Reply
from bot.service import Bot

log = logging.getLogger(__name__)

EVENTS = {"subscribe": "subscribe", "unsubscribe": "unsubscribe", "CLICK": "click", "SCAN": "scan", "VIEW": "view"}
TEXT_REPLY_BYTES = 2048


class WeChatCallback:
    """`verify` answers WeChat's URL check (GET), `receive` one message or event (POST)."""

    def __init__(self, bot: Bot, crypto: MessageCrypto | None, api=None):
        self.bot, self.crypto, self.api = bot, crypto, api
        config = bot.config
        self.token = config["wechat.token"]
        self.max_skew = config["wechat.max_clock_skew"]
        self.wait = config["wechat.reply_wait_seconds"]
        self.budget = config["wechat.reply_budget_seconds"]

    def routes(self) -> dict:
        return {"GET": self.verify, "POST": counted(self.bot.metrics, "wechat", self.receive)}

    def check(self, request: Request) -> tuple[str, str]:
        """The request's timestamp and nonce once its plain signature and age are checked."""
        args = request.args
        timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
        if not self.token:  # with no token anyone can compute the signature
            log.error("wechat: wechat.token is not set; refusing callbacks")
            raise Rejected(403)
        if not signature_matches((self.token, timestamp, nonce), args.get("signature")):
            log.warning("wechat: bad signature from %s", request.remote_addr)
            raise Rejected(403)
        check_fresh(timestamp, self.max_skew, "wechat")
        return timestamp, nonce

    def verify(self, request: Request) -> Answer:
        """WeChat's URL check: echo `echostr` when the signature is ours."""
        self.check(request)
        return 200, TEXT, request.args.get("echostr", "")

    def receive(self, request: Request, outcome: dict[str, str]) -> Answer:
        """A passive reply or `success`; `outcome` is filled in for the metrics."""
        timestamp, nonce = self.check(request)
        bot, crypto, api = self.bot, self.crypto, self.api
        encrypted = request.args.get("encrypt_type") == "aes"
        try:
            fields = parse(request.body())
            if encrypted:
                if crypto is None:
                    log.warning("wechat: encrypted message but wechat.encoding_aes_key is not set")
                    raise Rejected(400)
                fields = parse(crypto.decrypt(fields.get("Encrypt", ""), request.args.get("msg_signature"),
                                              timestamp, nonce).encode("utf-8"))
        except XMLError as exc:
            log.warning("wechat: rejected body: %s", exc)
            raise Rejected(400) from None
        except CryptoError as exc:
            log.warning("wechat: cannot decrypt message: %s", exc)
            raise Rejected(400) from None

        message = to_message(fields)
        if message is None:
            log.warning("wechat: message without FromUserName/MsgType")
            raise Rejected(400)
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

        def produce(session) -> tuple[str, Reply]:
            reply = attach_image(bot.db, api, noted(bot.answer(message, TEXT_REPLY_BYTES, session=session)), session)
            return xml_of(reply), reply

        def send_later(reply: Reply) -> None:
            if reply.media_id:
                api.send_custom_image(message.user_id, reply.media_id)
            else:
                api.send_custom_text(message.user_id, reply.text)

        outcome["outcome"] = "retry"  # unless this attempt is the first
        try:
            main = bot.db.own()[0]  # the quick path: this thread's own connections, one insert
            try:
                cached = bot.cached_reply(message, TEXT_REPLY_BYTES, main)
            finally:
                main.rollback()  # ends the read's transaction where the driver opened one (PostgreSQL)
            if cached is not None:  # ready at once: no need for the reply budget's thread
                reply, language = cached

                def first_attempt(cursor) -> None:  # runs only when this attempt's key is new
                    bot.sightings.note(cursor, message, language)
                    noted(reply)

                xml = bot.records.keep(key, xml_of(reply), self.wait, also=first_attempt)
            else:
                xml = answer_within(bot.db, key, produce, self.budget, self.wait, send_later if api else None,
                                    on_claim=late_unless_repeat(outcome))
        except Exception:  # e.g. the database failed outside the handler: an error page would read "无法提供服务"
            bot.db.forget_own()
            log.exception("wechat: could not answer a message (msg_type=%s)", fields.get("MsgType"))
            outcome["outcome"] = "error"
            xml = render_reply(message.user_id, fields.get("ToUserName", ""), bot.apology(message), int(time.time()))
        if outcome["outcome"] == "retry":
            bot.metrics.retry("wechat")
        if not xml:  # nothing to say, or the first attempt is still running: WeChat shows nothing
            return 200, TEXT, "success"
        if encrypted:
            reply_ts, reply_nonce = str(int(time.time())), secrets.token_hex(8)
            body = crypto.encrypt(xml)
            xml = render_envelope(body, crypto.sign(body, reply_ts, reply_nonce), reply_ts, reply_nonce)
        return 200, XML, xml


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
