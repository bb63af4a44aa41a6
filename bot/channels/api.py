"""Clients of the WeChat and WeCom HTTP APIs: one shared access_token, timeouts, classified errors.

Every base URL comes from config (`wechat.api_base_url`, `wecom.api_base_url`, robot webhooks), so a
proxy or the test emulator can stand in for Tencent.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator

import requests
from requests.adapters import HTTPAdapter
from sqlalchemy import update

from bot.push import leases
from bot.config import Config
from bot.db import Database
from bot.models import AccessToken, utcnow

log = logging.getLogger(__name__)

TOKEN_ERRORS = {40001, 40014, 42001}
TRANSIENT_ERRORS = {-1, 45011, 45066}
RECIPIENT_ERRORS = {40003, 43004, 45015, 45047, 81013}
QUOTA_ERRORS = {45009}
REFRESH_AHEAD = timedelta(minutes=5)
INVALIDATED = datetime(1970, 1, 1)  # expires_at of a token the API refused: refresh with force


class ApiError(Exception):
    """An API call that did not succeed. `kind` says what to do about it:

    transient: retry later with backoff (busy, 5xx, connection failures, rate limits)
    ambiguous: the request may have been carried out (a read timeout) — do not repeat blindly
    token:     the token was refused even after one refresh
    recipient: permanent for this recipient (40003, 43004, 45015, 45047, 81013)
    quota:     the account's daily quota is spent (45009): stop sending
    permanent: a request or configuration error (bad template_id, bad secret …)
    """

    def __init__(self, kind: str, errcode: int | None, errmsg: str, data: dict | None = None):
        super().__init__(f"{errcode if errcode is not None else 'http'}: {errmsg}")
        self.kind, self.errcode, self.errmsg, self.data = kind, errcode, errmsg, data or {}


def classify(errcode: int) -> str:
    if errcode in TOKEN_ERRORS:
        return "token"
    if errcode in TRANSIENT_ERRORS:
        return "transient"
    if errcode in RECIPIENT_ERRORS:
        return "recipient"
    if errcode in QUOTA_ERRORS:
        return "quota"
    return "permanent"


def _fetch_errors(errcode: int) -> str:
    """Errors of a token fetch: a wrong secret or a missing IP whitelist entry (40164) is no token error."""
    return "transient" if errcode == -1 else "permanent"


class Http:
    """A pooled keep-alive requests session with a timeout on every call; answers are JSON dicts.

    The proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) and CA bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE)
    settings of the environment are read once per host, not on every call as requests does by default
    (a scan of the environment and a look for ~/.netrc: a tenth of a push's CPU)."""

    def __init__(self, timeout: float, pool_size: int = 16):
        self.timeout = (min(3.0, timeout), timeout)
        self.session = requests.Session()
        self.session.trust_env = False
        self._environment: dict[str, dict] = {}  # "scheme://host" -> proxies and verify for its calls
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def _settings(self, url: str) -> dict:
        scheme, _, rest = url.partition("://")
        origin = f"{scheme}://{rest.split('/', 1)[0]}"
        settings = self._environment.get(origin)
        if settings is None:
            settings = {}  # only what differs from the session's defaults: requests merges each per call
            proxies = requests.utils.get_environ_proxies(origin)
            if proxies:
                settings["proxies"] = proxies
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            if bundle and scheme == "https":
                settings["verify"] = bundle
            self._environment[origin] = settings
        return settings

    def call(self, method: str, url: str, classifier: Callable[[int], str] = classify, **kwargs) -> dict:
        """The JSON answer of a call with errcode 0 (or none); an ApiError otherwise."""
        try:
            response = self.session.request(method, url, timeout=self.timeout, **self._settings(url), **kwargs)
        except requests.ConnectTimeout:
            raise ApiError("transient", None, "connect timeout") from None
        except requests.ConnectionError as exc:
            # Refused or reset: a reset after sending may hide a success, but WeChat answers in
            # milliseconds and we cannot tell; a refused connection certainly sent nothing.
            raise ApiError("transient", None, f"connection failed: {type(exc).__name__}") from None
        except requests.Timeout:
            raise ApiError("ambiguous", None, "read timeout: the request may have been carried out") from None
        if response.status_code >= 500:
            raise ApiError("transient", None, f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise ApiError("permanent", None, f"HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise ApiError("transient", None, "answer is not JSON") from None
        if not isinstance(data, dict):
            raise ApiError("transient", None, "answer is not a JSON object")
        errcode = data.get("errcode", 0)
        if errcode:
            raise ApiError(classifier(errcode), errcode, str(data.get("errmsg", ""))[:200], data)
        return data

    def close(self) -> None:
        self.session.close()


class TokenStore:
    """One access_token per API account for every process, kept in the database (or Redis, see redis_url).

    A process reads the stored token (and caches it in memory); when it is due (5 minutes before
    expiry, or refused by the API) one process takes the lease `token:<name>` and fetches a new
    one while the others keep using the old one or wait for the new one.
    """

    def __init__(self, db: Database, name: str, fetch: Callable[[bool], tuple[str, int]],
                 wait_seconds: float = 15.0):
        self.db, self.name, self.fetch = db, name, fetch
        self.wait_seconds = wait_seconds
        self._cached: tuple[str, datetime] | None = None
        self._mutex = threading.Lock()

    def get(self) -> str:
        cached = self._cached
        if cached and cached[1] - REFRESH_AHEAD > utcnow():
            return cached[0]
        with self._mutex:
            return self._refresh()

    def invalidate(self, token: str) -> None:
        """The API refused `token`: the next get() fetches a new one (once, whoever comes first)."""
        with self._mutex:
            if self._cached and self._cached[0] == token:
                self._cached = None
            self._either("invalidate", lambda: self.db.redis.invalidate_token(self.name, token, INVALIDATED),
                         lambda: self._invalidate_in_db(token))

    def _invalidate_in_db(self, token: str) -> None:
        with self.db.session() as session:
            session.execute(update(AccessToken).where(AccessToken.name == self.name, AccessToken.token == token)
                            .values(expires_at=INVALIDATED))

    def _either(self, what: str, shared, database):
        """Redis's way when `redis_url` is set and Redis answers, else the database's."""
        if self.db.redis is None:
            return database()
        return self.db.redis.try_first(f"access token ({what})", shared, database)

    def _stored(self) -> AccessToken | None:
        def shared():
            found = self.db.redis.token(self.name)
            return AccessToken(name=self.name, token=found[0], expires_at=found[1]) if found else None

        def database():
            with self.db.session() as session:
                return session.get(AccessToken, self.name)

        return self._either("read", shared, database)

    def _save(self, token: str, expires_at: datetime) -> None:
        def database():
            with self.db.session() as session:
                session.merge(AccessToken(name=self.name, token=token, expires_at=expires_at, updated_at=utcnow()))

        keep = int((expires_at - utcnow()).total_seconds()) + 3600
        self._either("save", lambda: self.db.redis.save_token(self.name, token, expires_at, keep), database)

    def _lock(self, owner: str, seconds: float) -> bool:
        return self._either("lock", lambda: self.db.redis.lock(f"token:{self.name}", owner, seconds),
                            lambda: leases.acquire(self.db, f"token:{self.name}", owner, seconds))

    def _unlock(self, owner: str) -> None:
        self._either("unlock", lambda: self.db.redis.unlock(f"token:{self.name}", owner),
                     lambda: leases.release(self.db, f"token:{self.name}", owner))

    def _refresh(self) -> str:
        owner = leases.new_owner()
        deadline = time.monotonic() + self.wait_seconds
        while True:
            row = self._stored()
            now = utcnow()
            if row and row.expires_at - REFRESH_AHEAD > now:
                self._cached = (row.token, row.expires_at)
                return row.token
            if self._lock(owner, self.wait_seconds + 15):
                try:
                    row = self._stored()  # someone may have refreshed while we waited for the lease
                    if row and row.expires_at - REFRESH_AHEAD > utcnow():
                        self._cached = (row.token, row.expires_at)
                        return row.token
                    token, expires_in = self.fetch(bool(row and row.expires_at == INVALIDATED))
                    expires_at = utcnow() + timedelta(seconds=max(int(expires_in), 60))
                    self._save(token, expires_at)
                    log.info("access token %s refreshed (valid %s s)", self.name, expires_in)
                    self._cached = (token, expires_at)
                    return token
                finally:
                    self._unlock(owner)
            if row and row.expires_at > now and row.expires_at != INVALIDATED:
                return row.token  # still valid, another process is renewing it
            if time.monotonic() > deadline:
                raise ApiError("transient", None, f"timed out waiting for another process to refresh {self.name}")
            time.sleep(0.05)


class _TokenClient:
    """Calls with ?access_token=…; a refused token is refreshed once and the call retried once."""

    def __init__(self, http: Http, base_url: str, tokens: TokenStore):
        self.http, self.base_url, self.tokens = http, base_url.rstrip("/"), tokens

    def call(self, path: str, payload: dict | None = None, method: str = "POST", params: dict | None = None,
             **kwargs) -> dict:
        for attempt in (1, 2):
            token = self.tokens.get()
            try:
                return self.http.call(method, self.base_url + path, params={"access_token": token, **(params or {})},
                                      json=payload, **kwargs)
            except ApiError as err:
                if err.kind != "token" or attempt == 2:
                    raise
                log.warning("access token refused (%s) on %s: refreshing once", err.errcode, path)
                self.tokens.invalidate(token)
        raise AssertionError("unreachable")

    def upload_media(self, kind: str, filename: str, content: bytes, mimetype: str = "image/png") -> str:
        """Upload temporary media (3 days; the same endpoint on WeChat and WeCom); its media_id."""
        data = self.call("/cgi-bin/media/upload", params={"type": kind},
                         files={"media": (filename, content, mimetype)})
        if not data.get("media_id"):
            raise ApiError("transient", None, "media upload answered no media_id")
        return str(data["media_id"])


class WeChatClient(_TokenClient):
    """The Official Account API: token, customer-service, template and mass messages."""

    def __init__(self, config: Config, db: Database, http: Http | None = None):
        self.config = config
        http = http or Http(config["http.timeout_seconds"])
        super().__init__(http, config["wechat.api_base_url"],
                         TokenStore(db, f"wechat:{config['wechat.app_id']}", self._fetch_token))

    def _fetch_token(self, force: bool) -> tuple[str, int]:
        app_id, secret = self.config["wechat.app_id"], self.config["wechat.app_secret"]
        if self.config["wechat.token_endpoint"] == "stable":
            data = self.http.call("POST", self.base_url + "/cgi-bin/stable_token", _fetch_errors,
                                  json={"grant_type": "client_credential", "appid": app_id, "secret": secret,
                                        "force_refresh": force})
        else:
            data = self.http.call("GET", self.base_url + "/cgi-bin/token", _fetch_errors,
                                  params={"grant_type": "client_credential", "appid": app_id, "secret": secret})
        return data["access_token"], int(data.get("expires_in", 7200))

    def send_custom_text(self, openid: str, text: str) -> dict:
        return self.call("/cgi-bin/message/custom/send", {"touser": openid, "msgtype": "text", "text": {"content": text}})

    def send_custom_image(self, openid: str, media_id: str) -> dict:
        return self.call("/cgi-bin/message/custom/send",
                         {"touser": openid, "msgtype": "image", "image": {"media_id": media_id}})

    def send_template(self, openid: str, template_id: str, data: dict[str, str], url: str = "") -> dict:
        payload: dict[str, Any] = {"touser": openid, "template_id": template_id,
                                   "data": {k: {"value": v} for k, v in data.items()}}
        if url:
            payload["url"] = url
        return self.call("/cgi-bin/message/template/send", payload)

    def mass_send_text(self, tag_id: int, text: str, clientmsgid: str) -> dict:
        """One mass text message to the followers with `tag_id`; the same clientmsgid is never sent twice
        (WeChat answers 45065, which counts as success here)."""
        payload = {"filter": {"is_to_all": False, "tag_id": tag_id}, "msgtype": "text", "text": {"content": text},
                   "clientmsgid": clientmsgid}
        try:
            return self.call("/cgi-bin/message/mass/sendall", payload)
        except ApiError as err:
            if err.errcode == 45065:
                return {"errcode": 0, "duplicate": True, "msg_id": err.data.get("msg_id")}
            raise


@dataclass
class WeComResult:
    invalid_users: list[str]
    msgid: str = ""


class WeComClient(_TokenClient):
    """The WeCom app API: gettoken and app messages (message/send)."""

    def __init__(self, config: Config, db: Database, http: Http | None = None):
        self.config = config
        http = http or Http(config["http.timeout_seconds"])
        super().__init__(http, config["wecom.api_base_url"],
                         TokenStore(db, f"wecom:{config['wecom.corp_id']}:{config['wecom.agent_id']}",
                                    self._fetch_token))

    def _fetch_token(self, _force: bool) -> tuple[str, int]:
        data = self.http.call("GET", self.base_url + "/cgi-bin/gettoken",
                              _fetch_errors,
                              params={"corpid": self.config["wecom.corp_id"], "corpsecret": self.config["wecom.secret"]})
        return data["access_token"], int(data.get("expires_in", 7200))

    def send(self, users: list[str], msgtype: str, body: dict, duplicate_check_seconds: int = 0) -> WeComResult:
        """An app message to up to 1000 members; members WeCom refused come back in `invalid_users`."""
        if not 1 <= len(users) <= 1000:
            raise ValueError("a WeCom app message goes to 1 to 1000 members")
        payload: dict[str, Any] = {"touser": "|".join(users), "msgtype": msgtype, "agentid": self.config["wecom.agent_id"],
                                   msgtype: body}
        if duplicate_check_seconds:
            payload.update(enable_duplicate_check=1, duplicate_check_interval=duplicate_check_seconds)
        try:
            data = self.call("/cgi-bin/message/send", payload)
        except ApiError as err:
            if err.errcode == 81013:  # every recipient invalid
                err.data.setdefault("invaliduser", "|".join(users))
            raise
        invalid = [u for u in str(data.get("invaliduser", "")).split("|") if u]
        return WeComResult(invalid, str(data.get("msgid", "")))

    def send_text(self, user: str, text: str) -> WeComResult:
        return self.send([user], "text", {"content": text})

    def send_image(self, user: str, media_id: str) -> WeComResult:
        return self.send([user], "image", {"media_id": media_id})


class RateWindow:
    """At most `limit` calls per `window` seconds (sliding), one call at a time.

    A call is counted at its end: the server saw it before then, so the spacing the server measures
    between arrivals is never shorter than ours, whatever the network delay."""

    def __init__(self, limit: int, window: float = 60.0):
        self.limit, self.window = limit, window
        self.times: deque[float] = deque()
        self.lock = threading.Lock()

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self.lock:
            while len(self.times) >= self.limit:
                pause = self.window - (time.monotonic() - self.times[0])
                if pause <= 0:
                    self.times.popleft()
                else:
                    time.sleep(pause)
            try:
                yield
            finally:
                self.times.append(time.monotonic())


class RobotClient:
    """A WeCom group robot (webhook): markdown or text posts, at most `per_minute` a minute."""

    def __init__(self, name: str, webhook: str, http: Http, per_minute: int = 20, window: float = 60.0):
        self.name, self.webhook, self.http = name, webhook, http
        self.limit = RateWindow(per_minute, window)

    def send_markdown(self, content: str) -> dict:
        with self.limit.slot():
            # For a robot 45009 means "more than 20 a minute": back off and retry, not a daily quota.
            return self.http.call("POST", self.webhook, _robot_errors,
                                  json={"msgtype": "markdown", "markdown": {"content": content}})


def _robot_errors(errcode: int) -> str:
    return "transient" if errcode in (-1, 45009) else classify(errcode)
