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
from typing import Any, Callable, TypeVar

from bot.channels.crypto import CryptoError, MessageCrypto, signature_matches
from bot.channels.request import Rejected, Request
from bot.channels.wechat_xml import XMLError, parse, render_envelope, render_reply
from bot.charts import attach_image
from bot.dedup import Replayed, Seal, message_key, wait_for_reply
from bot.messages import Message, Reply

log = logging.getLogger(__name__)
T = TypeVar("T")
EVENTS = {"subscribe": "subscribe", "unsubscribe": "unsubscribe", "CLICK": "click", "SCAN": "scan", "VIEW": "view"}
TEXT_REPLY_BYTES = 2048
TEXT = "text/plain; charset=utf-8"
# The share of the reply budget a database statement (or a wait for a lock) may take on the callback path.
STATEMENT_SHARE = 0.75
# The answer threads of a channel, and how many more answers may wait for one; past that, the apology at once.
ANSWER_THREADS, ANSWER_QUEUE = 16, 64
CROWDED_WAIT_SECONDS = 0.1  # how long a request waits for its answer while the other server threads wait
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
    setup_hint: str = ""  # what to configure when an encrypted callback cannot be read


class Inbound:
    """One channel's callback: `verify` (GET, the URL check) and `receive` (POST, a message or event)."""

    def __init__(self, bot, channel: Channel):
        self.bot, self.channel = bot, channel
        config = bot.config
        self.max_skew = config["wechat.max_clock_skew"]
        self.wait = config["wechat.reply_wait_seconds"]
        self.budget = config["wechat.reply_budget_seconds"]
        self.statement_seconds = STATEMENT_SHARE * self.budget
        # Answers that may outlive the request (late answers): a bounded pool, not a thread per message.
        self._answers = ThreadPoolExecutor(ANSWER_THREADS, thread_name_prefix=f"{channel.name}-answer") \
            if channel.api else None
        if self._answers is not None:
            bot.db.on_dispose(lambda: self._answers.shutdown(wait=True, cancel_futures=True))
        self._slots = threading.BoundedSemaphore(ANSWER_THREADS + ANSWER_QUEUE)
        self._waiting, self._waiting_lock = 0, threading.Lock()
        self._max_waiters = max(1, config["server.threads"] - 1)
        self.late = bot.late_answers

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
        key = message_key(channel.name, fields)
        # While plaintext callbacks are answered, a plain signature (which does not cover the body) is kept with
        # the body it came with: an encrypted callback's too, so its captured query cannot carry a plaintext one.
        plain_signature = args.get("signature", "")
        seal = Seal.of(timestamp, nonce, plain_signature, body) if channel.plaintext and plain_signature else None
        try:
            xml, command, outcome = self._settle(message, fields, key, seal)
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
    def _settle(self, message: Message, fields: dict[str, str], key: str, seal: Seal | None) -> tuple[str, str, str]:
        """(passive reply XML, command, outcome). With an API for late answers, the work (the stores included)
        runs on the answer threads and the request waits for it up to the budget: past it, or when the
        answer cannot start in time, it answers `nothing` and the answer goes out through the API."""
        if self._answers is None:
            now = _Handoff()
            with self.bot.db.short(self.statement_seconds):
                self._handle(message, fields, key, seal, now)
            return now.take(0)
        if not self._slots.acquire(blocking=False):
            log.error("%s: %d answers running or queued; answering with the apology", self.channel.name,
                      ANSWER_THREADS + ANSWER_QUEUE)
            return self._xml(self.bot.apology(message), message, fields), "-", "error"
        handoff = _Handoff()
        self._answers.submit(self._job, message, fields, key, seal, handoff)
        with self._waiting_lock:
            # A request waiting here holds a server thread: while all but one are waiting, the others do
            # not wait (their answers go through the API), so no callback queues behind slow ones.
            crowded = self._waiting >= self._max_waiters
            self._waiting += 1
        try:
            result = handoff.take(CROWDED_WAIT_SECONDS if crowded else self.budget)
        finally:
            with self._waiting_lock:
                self._waiting -= 1
        return result if result is not None else ("", "-", "late")

    def _job(self, message: Message, fields: dict[str, str], key: str, seal: Seal | None, handoff: "_Handoff") -> None:
        try:
            with self.bot.db.short(self.statement_seconds):
                self._handle(message, fields, key, seal, handoff)
        except Exception as exc:  # the waiting request answers it (logged there); late, the apology goes out
            if handoff.give(exc) and not isinstance(exc, Replayed):
                log.exception("%s: a late answer failed", self.channel.name)
                self._send_late(message, self.bot.apology(message))
        finally:
            self._slots.release()

    def _handle(self, message: Message, fields: dict[str, str], key: str, seal: Seal | None, handoff: "_Handoff") -> None:
        """Claim the message, answer it, hand the result to the request (or, late, send it through the API)
        and store it for WeChat's retries. A retry gets the first attempt's reply."""
        bot, store = self.bot, self.bot.dedup
        cached = bot.cached_reply(message, TEXT_REPLY_BYTES)
        if cached is not None and cached.reply.chart is None:
            # Made without effects: the market version confirmed, the message claimed and its reply stored with
            # one commit (one per message, not two).
            xml = self._xml(cached.reply, message, fields)
            recorded = self._patient(lambda: store.record(key, seal, xml, lambda cursor: bot.still_current(
                cursor, message, cached)))
            if recorded is not None:
                first, stored = recorded
                if not first:
                    stored = stored if stored is not None else wait_for_reply(store, key, self.wait)
                    handoff.give((stored or "", "-", "retry"))
                elif handoff.give((xml, cached.reply.command, cached.reply.outcome)):
                    self._send_late(message, cached.reply)
                return
        if not self._patient(lambda: store.begin(key, seal)):
            handoff.give((wait_for_reply(store, key, self.wait) or "", "-", "retry"))
            return
        try:
            reply = self._patient(lambda: bot.answer(message, TEXT_REPLY_BYTES))
            reply = attach_image(bot.db, self.channel.api, reply)
        except BaseException:
            store.give_up(key)
            raise
        xml = self._xml(reply, message, fields)
        late = handoff.give((xml, reply.command, reply.outcome))
        if late:
            self._send_late(message, reply)
        try:
            if reply.outcome == "error":
                store.give_up(key)  # WeChat's retry may find the fault gone
            else:
                store.finish(key, "" if late else xml)
        except Exception:  # the answer is out: a retry that finds the claim waits for it and answers `nothing`
            log.exception("%s: could not store a reply for WeChat's retries", self.channel.name)

    def _patient(self, work: Callable[[], T]) -> T:
        """`work()`, its statements limited below the budget (`_handle` runs in `db.short`). When one ran out of
        time (a locked row, a busy database) and answers can go late, `work()` again without the limit: the
        request answers `nothing` meanwhile and the answer goes through the API."""
        db = self.bot.db
        try:
            with db.short(self.statement_seconds) as limit:
                result = work()
        except Exception as exc:
            if self._answers is None or not db.timed_out(exc):
                raise
        else:
            if self._answers is None or not limit.hit:
                return result
        log.warning("%s: the database did not answer within %.1f s; waiting longer, the answer goes through the API",
                    self.channel.name, self.statement_seconds)
        with db.short(None):
            return work()

    def _send_late(self, message: Message, reply: Reply) -> None:
        if not reply.empty:
            with self.bot.db.short(None):  # past the budget: kept and sent however long the database takes
                self.late.send(self.channel.name, message.user_id, reply, message.received_at)

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


class _Handoff:
    """An answer thread's result for the request waiting on it: (xml, command, outcome) or an exception.
    `give` after the request stopped waiting returns True: the answer is late."""

    def __init__(self):
        self._lock, self._ready = threading.Lock(), threading.Event()
        self._result: Any = None
        self._gone = False

    def give(self, result) -> bool:
        with self._lock:
            if self._gone:
                return True
            self._result = result
            self._ready.set()
            return False

    def take(self, seconds: float) -> tuple[str, str, str] | None:
        self._ready.wait(seconds)
        with self._lock:
            if self._result is None:
                self._gone = True
                return None
        if isinstance(self._result, BaseException):
            raise self._result
        return self._result


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
