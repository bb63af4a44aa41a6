"""The WeCom app callback, `GET/POST /wecom`: always encrypted, CorpID as the receive id.

The same router, handlers, templates and de-duplication as `/wechat`; passive replies are encrypted;
an answer not ready within `wechat.reply_budget_seconds` goes out as a WeCom app message.
"""
from __future__ import annotations

import dataclasses
import logging
import secrets
import time

from bot.channels.budget import answer_within
from bot.channels.callback import TEXT, XML, Answer, Rejected, Request, check_fresh, counted, late_unless_repeat
from bot.channels.crypto import CryptoError, MessageCrypto
from bot.channels.wechat import TEXT_REPLY_BYTES, to_message
from bot.channels.wechat_xml import XMLError, parse, render_envelope, render_reply
from bot.charts import attach_image
from bot.messages import Reply
from bot.service import Bot

log = logging.getLogger(__name__)


class WeComCallback:
    """`verify` answers WeCom's URL check (GET), `receive` one message or event from a member (POST)."""

    def __init__(self, bot: Bot, crypto: MessageCrypto | None, api=None):
        self.bot, self.crypto, self.api = bot, crypto, api
        self.max_skew = bot.config["wechat.max_clock_skew"]

    def routes(self) -> dict:
        return {"GET": self.verify, "POST": counted(self.bot.metrics, "wecom", self.receive)}

    def _crypto(self) -> MessageCrypto:
        if self.crypto is None:
            log.error("wecom: wecom.encoding_aes_key (with wecom.token and wecom.corp_id) is not set; refusing callbacks")
            raise Rejected(403)
        return self.crypto

    def verify(self, request: Request) -> Answer:
        """WeCom's URL check: decrypt `echostr` and answer its plaintext, nothing around it."""
        args = request.args
        crypto = self._crypto()
        check_fresh(args.get("timestamp", ""), self.max_skew, "wecom")
        try:
            plain = crypto.decrypt(args.get("echostr", ""), args.get("msg_signature"), args.get("timestamp", ""),
                                   args.get("nonce", ""))
        except CryptoError as exc:
            log.warning("wecom: URL verification failed: %s", exc)
            raise Rejected(403 if "signature" in str(exc) else 400) from None
        return 200, TEXT, plain

    def receive(self, request: Request, outcome: dict[str, str]) -> Answer:
        """An encrypted passive reply or an empty 200; `outcome` is filled in for the metrics."""
        args = request.args
        crypto = self._crypto()
        timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
        check_fresh(timestamp, self.max_skew, "wecom")
        bot, api = self.bot, self.api
        try:
            envelope = parse(request.body())
            fields = parse(crypto.decrypt(envelope.get("Encrypt", ""), args.get("msg_signature"), timestamp,
                                          nonce).encode("utf-8"))
        except XMLError as exc:
            log.warning("wecom: rejected body: %s", exc)
            raise Rejected(400) from None
        except CryptoError as exc:
            log.warning("wecom: cannot decrypt message: %s", exc)
            raise Rejected(403 if "signature" in str(exc) else 400) from None
        message = to_message(fields)
        if message is None:
            log.warning("wecom: message without FromUserName/MsgType")
            raise Rejected(400)
        message = dataclasses.replace(message, channel="wecom")
        key = "wecom:" + (fields.get("MsgId") or f"{message.user_id}:{fields.get('CreateTime', '')}")

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
            return 200, TEXT, ""  # WeCom: an empty 200 means "no passive reply"
        reply_ts, reply_nonce = str(int(time.time())), secrets.token_hex(8)
        body = crypto.encrypt(xml)
        return 200, XML, render_envelope(body, crypto.sign(body, reply_ts, reply_nonce), reply_ts, reply_nonce)
