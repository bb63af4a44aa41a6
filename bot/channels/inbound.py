"""The one inbound pipeline of `/wechat` and `/wecom`: verify → decrypt → parse → answer within the budget → encrypt.

The channels differ only in small parts (`Channel`): whether plaintext callbacks exist, the receive id
(inside the crypto), the body that means "no passive reply", and the API that sends an answer not ready
within `wechat.reply_budget_seconds` (WeChat and WeCom drop a callback after 5 s and retry it; a passive
reply that comes later is lost, so the request answers "nothing" at once and the answer goes out through
the API when ready). Each message is answered once (bot.dedup): a retry gets the first reply.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from bot.channels.crypto import CryptoError, MessageCrypto, signature_matches
from bot.channels.request import Rejected, Request
from bot.channels.wechat_xml import XMLError, parse, render_envelope, render_reply
from bot.charts import attach_image
from bot.dedup import Replayed, Seal, message_key, wait_for_reply
from bot.messages import Message, Reply

log = logging.getLogger(__name__)
EVENTS = {"subscribe": "subscribe", "unsubscribe": "unsubscribe", "CLICK": "click", "SCAN": "scan", "VIEW": "view"}
TEXT_REPLY_BYTES = 2048
TEXT = "text/plain; charset=utf-8"
XML = "application/xml; charset=utf-8"


@dataclass(frozen=True)
class Answer:
    """What a callback answers, and how the metrics count it (outcome: ok, error, retry, late, rejected)."""

    status: int
    content_type: str
    body: str
    command: str = "-"
    outcome: str = "rejected"


@dataclass(frozen=True)
class Channel:
    """What differs between the callbacks."""

    name: str  # wechat | wecom
    token: str  # the callback token (the plain signature's, and inside `crypto`)
    crypto: MessageCrypto | None  # with the receive id: the AppId or the CorpID
    plaintext: bool  # plaintext callbacks are answered (WeChat without a key, or `wechat.accept_plaintext`)
    encrypted_only: bool  # WeCom: even the URL check is encrypted
    nothing: str  # the body of "no passive reply": `success` (WeChat), empty (WeCom)
    api: Any = None  # the API client for late answers, None when not configured
    send_text: str = ""  # its method names: (user, text), (user, media_id)
    send_image: str = ""
    setup_hint: str = ""  # what to configure when an encrypted callback cannot be read


class Inbound:
    """One channel's callback: `verify` (GET, the URL check) and `receive` (POST, a message or event)."""

    def __init__(self, bot, channel: Channel):
        self.bot, self.channel = bot, channel
        config = bot.config
        self.max_skew = config["wechat.max_clock_skew"]
        self.wait = config["wechat.reply_wait_seconds"]
        self.budget = config["wechat.reply_budget_seconds"]
        # Answers that may outlive the request (late answers): a pool, not a thread per message.
        self._late = ThreadPoolExecutor(16, thread_name_prefix=f"{channel.name}-answer") if channel.api else None

    def verify(self, request: Request) -> Answer:
        """The URL check: `echostr` back (WeCom: decrypted) when the signature is ours."""
        args, channel = request.args, self.channel
        if not channel.encrypted_only:
            self._check_plain(request)
            self._check_fresh(args.get("timestamp", ""))
            return Answer(200, TEXT, args.get("echostr", ""), outcome="ok")
        crypto = self._crypto()
        self._check_fresh(args.get("timestamp", ""))
        try:
            plain = crypto.decrypt(args.get("echostr", ""), args.get("msg_signature"),
                                           args.get("timestamp", ""), args.get("nonce", ""))
        except CryptoError as exc:
            raise self._refuse_crypto(exc) from None
        return Answer(200, TEXT, plain, outcome="ok")

    def receive(self, request: Request) -> Answer:
        """A passive reply, or `nothing` when there is none (or it will come through the API)."""
        args, channel = request.args, self.channel
        timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
        encrypted = channel.encrypted_only or args.get("encrypt_type") == "aes"
        if encrypted:
            crypto, signature = self._crypto(), args.get("msg_signature", "")
        else:
            if not channel.plaintext:
                log.warning("%s: plaintext callback refused: encoding_aes_key is set (wechat.accept_plaintext: true "
                            "accepts both while switching modes)", channel.name)
                raise Rejected(403)
            self._check_plain(request)
            signature = args.get("signature", "")
        self._check_fresh(timestamp)
        body = request.body()
        try:
            fields = parse(body)
            if encrypted:
                fields = parse(crypto.decrypt(fields.get("Encrypt", ""), signature, timestamp, nonce).encode("utf-8"))
        except XMLError as exc:
            log.warning("%s: rejected body: %s", channel.name, exc)
            raise Rejected(400) from None
        except CryptoError as exc:
            raise self._refuse_crypto(exc) from None
        message = to_message(channel.name, fields)
        if message is None:
            log.warning("%s: message without FromUserName/MsgType", channel.name)
            raise Rejected(400)
        key, seal, store = message_key(channel.name, fields), Seal.of(timestamp, nonce, signature, body), self.bot.dedup
        try:
            cached = self.bot.cached_reply(message, TEXT_REPLY_BYTES)
            if cached is not None and cached.chart is None:
                # Made without effects: claimed and stored in one step (a commit less per message, +N % req/s).
                xml = self._xml(cached, message, fields)
                first, stored = store.record(key, seal, xml)
                command, outcome = (cached.command, cached.outcome) if first else ("-", "retry")
                xml = stored if stored is not None else wait_for_reply(store, key, self.wait) or ""
            elif store.begin(key, seal):
                xml, command, outcome = self._answer(message, fields, key)
            else:
                xml, command, outcome = wait_for_reply(store, key, self.wait) or "", "-", "retry"
        except Replayed:
            log.warning("%s: a signed query used again with another body, from %s", channel.name, request.remote_addr)
            raise Rejected(403) from None
        except Exception:  # e.g. the database failed outside the handler: an error page would read "无法提供服务"
            log.exception("%s: could not answer a message (msg_type=%s)", channel.name, fields.get("MsgType"))
            xml, command, outcome = self._xml(self.bot.apology(message), message, fields), "-", "error"
        if not xml:
            return Answer(200, TEXT, channel.nothing, command, outcome)
        if encrypted:
            reply_ts, reply_nonce = str(int(time.time())), secrets.token_hex(8)
            sealed = crypto.encrypt(xml)
            xml = render_envelope(sealed, crypto.sign(sealed, reply_ts, reply_nonce), reply_ts, reply_nonce)
        return Answer(200, XML, xml, command, outcome)

    # ----- the parts -------------------------------------------------------------------------------------
    def _answer(self, message: Message, fields: dict[str, str], key: str) -> tuple[str, str, str]:
        """(passive reply XML, command, outcome) of the first attempt; the reply is stored for the retries.

        Without an API for late answers the work runs in the request; with one, the request waits up to
        the budget and, past it, answers `nothing` while the work goes on and sends the answer when ready."""
        bot, store = self.bot, self.bot.dedup

        def work() -> Reply:
            return attach_image(bot.db, self.channel.api, bot.answer(message, TEXT_REPLY_BYTES))

        def settle(reply: Reply, xml: str) -> None:
            if reply.outcome == "error":
                store.give_up(key)  # WeChat's retry may find the fault gone
            else:
                store.finish(key, xml)

        if self._late is None:
            reply = work()
            xml = self._xml(reply, message, fields)
            settle(reply, xml)
            return xml, reply.command, reply.outcome
        lock, ready = threading.Lock(), threading.Event()
        state: dict[str, Any] = {"late": False}

        def run() -> None:
            try:
                reply = work()
            except Exception:  # work() answers its own errors; this is the upload or the apology failing
                log.exception("%s: a message's answer failed", self.channel.name)
                reply = bot.apology(message)
            with lock:
                state["reply"], late = reply, state["late"]
                ready.set()
            if late:
                settle(reply, "")
                self._send_late(message.user_id, reply)

        self._late.submit(run)
        ready.wait(self.budget)
        with lock:
            if "reply" not in state:
                state["late"] = True
                return "", "-", "late"
        reply = state["reply"]
        xml = self._xml(reply, message, fields)
        settle(reply, xml)
        return xml, reply.command, reply.outcome

    def _send_late(self, user: str, reply: Reply) -> None:
        if reply.empty:
            return
        channel = self.channel
        try:
            if reply.media_id:
                getattr(channel.api, channel.send_image)(user, reply.media_id)
            else:
                getattr(channel.api, channel.send_text)(user, reply.text)
        except Exception:
            log.exception("%s: could not send a late answer through the API", channel.name)

    @staticmethod
    def _xml(reply: Reply, message: Message, fields: dict[str, str]) -> str:
        if reply.empty:
            return ""
        if len(reply.articles) > 1 and message.event is None:
            # A passive reply to a user's message shows one article (up to 8 only for events such as menu
            # clicks): send the text version, which lists them all with links.
            reply = Reply(text=reply.text)
        return render_reply(message.user_id, fields.get("ToUserName", ""), reply, int(time.time()))

    def _crypto(self) -> MessageCrypto:
        if self.channel.crypto is None:
            log.warning("%s: encrypted callback but %s", self.channel.name, self.channel.setup_hint)
            raise Rejected(400 if not self.channel.encrypted_only else 403)
        return self.channel.crypto

    def _check_plain(self, request: Request) -> None:
        args, channel = request.args, self.channel
        if not channel.token:  # with no token anyone can compute the signature
            log.error("%s: %s.token is not set; refusing callbacks", channel.name, channel.name)
            raise Rejected(403)
        if not signature_matches((channel.token, args.get("timestamp", ""), args.get("nonce", "")),
                                 args.get("signature")):
            log.warning("%s: bad signature from %s", channel.name, request.remote_addr)
            raise Rejected(403)

    def _check_fresh(self, timestamp: str) -> None:
        """Rejected unless `timestamp` (Unix seconds) is within the clock skew of now: a replayed old message."""
        try:
            skew = abs(time.time() - int(timestamp))
        except (ValueError, OverflowError):
            raise Rejected(400) from None
        if skew > self.max_skew:
            log.warning("%s: stale timestamp (%.0f s off)", self.channel.name, skew)
            raise Rejected(403)

    def _refuse_crypto(self, exc: CryptoError) -> Rejected:
        log.warning("%s: cannot decrypt: %s", self.channel.name, exc)
        return Rejected(403 if "signature" in str(exc) else 400)


def to_message(channel: str, fields: dict[str, str]) -> Message | None:
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
        return Message(channel, user, event=EVENTS.get(name, name.lower()), event_key=fields.get("EventKey", ""),
                       received_at=received)
    text = fields.get("Content", "") if kind == "text" else fields.get("Recognition", "") if kind == "voice" else ""
    return Message(channel, user, text=text, msg_id=fields.get("MsgId"), received_at=received)
