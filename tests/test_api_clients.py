"""The WeChat / WeCom / robot clients against the emulator over real HTTP: tokens, faults, idempotency."""
from __future__ import annotations

import datetime
import http.client
import ipaddress
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from bot.channels.api import ApiError, Http, RobotClient, WeChatClient, WeComClient
from bot.config import build_config
from bot.db import Database
from emulator import AGENT_ID, APP_ID, APP_SECRET, CORP_ID, CORP_SECRET

CUSTOM = "/cgi-bin/message/custom/send"


@pytest.fixture
def api_config(emulator, db_url):
    def make(**settings):
        return build_config({"database_url": db_url, "wechat.app_id": APP_ID, "wechat.app_secret": APP_SECRET,
                             "wechat.api_base_url": emulator.url, "wecom.api_base_url": emulator.url,
                             "wecom.corp_id": CORP_ID, "wecom.secret": CORP_SECRET, "wecom.agent_id": AGENT_ID,
                             "http.timeout_seconds": 5.0, **settings}, environ={})
    return make


@pytest.fixture
def process_db(db_url):
    """Database objects of their own, as separate processes have."""
    made = []

    def make():
        made.append(Database(db_url))
        return made[-1]

    yield make
    for db in made:
        db.dispose()


def test_processes_share_one_token_fetched_once(emulator, api_config, process_db):
    config = api_config()
    first, second = WeChatClient(config, process_db()), WeChatClient(config, process_db())
    first.send_custom_text("o-ann", "hello")
    second.send_custom_text("o-bob", "hello")
    assert emulator.token_fetches == {"/cgi-bin/token": 1}
    assert [m["text"]["content"] for m in emulator.inbox("o-ann")] == ["hello"]
    assert len(emulator.inbox("o-bob")) == 1


def test_concurrent_refresh_fetches_once(emulator, api_config, process_db):
    config = api_config()
    clients = [WeChatClient(config, process_db()) for _ in range(6)]
    errors = []

    def send(client, i):
        try:
            client.send_custom_text(f"o-{i}", "hi")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(c, i)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert emulator.token_fetches["/cgi-bin/token"] == 1
    assert len(emulator.delivered) == 6


def test_stable_token_endpoint(emulator, api_config, process_db):
    client = WeChatClient(api_config(**{"wechat.token_endpoint": "stable"}), process_db())
    client.send_custom_text("o-ann", "hello")
    assert emulator.token_fetches == {"/cgi-bin/stable_token": 1}
    emulator.expire_tokens()
    client.send_custom_text("o-ann", "again")
    # the refused token is renewed with force_refresh, then the message goes out
    assert emulator.calls("/cgi-bin/stable_token")[-1]["json"]["force_refresh"] is True
    assert len(emulator.inbox("o-ann")) == 2


def test_expired_token_is_refreshed_once_and_the_call_retried_once(emulator, api_config, process_db):
    client = WeChatClient(api_config(), process_db())
    client.send_custom_text("o-ann", "one")
    emulator.expire_tokens()
    client.send_custom_text("o-ann", "two")
    assert emulator.token_fetches["/cgi-bin/token"] == 2
    assert [m["text"]["content"] for m in emulator.inbox("o-ann")] == ["one", "two"]


@pytest.mark.parametrize("code", [40001, 40014, 42001])
def test_a_token_refused_twice_is_an_error_not_a_loop(emulator, api_config, process_db, code):
    client = WeChatClient(api_config(), process_db())
    emulator.fault(CUSTOM, errcode=code, times=10)
    with pytest.raises(ApiError) as info:
        client.send_custom_text("o-ann", "hello")
    assert info.value.kind == "token" and info.value.errcode == code
    assert len(emulator.calls(CUSTOM)) == 2  # the call and one retry
    assert emulator.token_fetches["/cgi-bin/token"] == 2  # the first token and one refresh
    assert emulator.inbox("o-ann") == []


@pytest.mark.parametrize("fault, kind", [
    ({"errcode": -1}, "transient"),
    ({"errcode": 45011}, "transient"),
    ({"status": 502}, "transient"),
    ({"errcode": 45009}, "quota"),
    ({"errcode": 45047}, "recipient"),
    ({"delay": 1.5}, "ambiguous"),
])
def test_errors_are_classified(emulator, api_config, process_db, fault, kind):
    client = WeChatClient(api_config(**{"http.timeout_seconds": 1.0}), process_db())
    emulator.fault(CUSTOM, **fault)
    with pytest.raises(ApiError) as info:
        client.send_custom_text("o-ann", "hello")
    assert info.value.kind == kind


def test_recipient_errors(emulator, api_config, process_db):
    client = WeChatClient(api_config(), process_db())
    emulator.recipient_error("o-gone", 43004)
    with pytest.raises(ApiError) as info:
        client.send_custom_text("o-gone", "hello")
    assert (info.value.kind, info.value.errcode) == ("recipient", 43004)


def test_a_wrong_secret_is_a_permanent_error(emulator, api_config, process_db):
    client = WeChatClient(api_config(**{"wechat.app_secret": "wrong"}), process_db())
    with pytest.raises(ApiError) as info:
        client.send_custom_text("o-ann", "hello")
    assert (info.value.kind, info.value.errcode) == ("permanent", 40125)
    assert emulator.calls(CUSTOM) == []


def test_template_send(emulator, api_config, process_db):
    client = WeChatClient(api_config(), process_db())
    client.send_template("o-ann", "TPL1", {"first": "Summary", "keyword1": "2025-06-11"}, url="https://x.test/")
    (got,) = emulator.inbox("o-ann")
    assert got["template_id"] == "TPL1" and got["data"]["keyword1"] == {"value": "2025-06-11"}
    assert got["url"] == "https://x.test/"


def test_mass_send_is_idempotent_by_clientmsgid(emulator, api_config, process_db):
    client = WeChatClient(api_config(), process_db())
    first = client.mass_send_text(7, "daily summary", "rebot-daily-2025-06-11")
    again = client.mass_send_text(7, "daily summary", "rebot-daily-2025-06-11")
    assert again["duplicate"] and again["msg_id"] == first["msg_id"]
    assert len(emulator.inbox("tag:7")) == 1


def test_wecom_app_message_batches_invaliduser_and_duplicate_check(emulator, api_config, process_db):
    client = WeComClient(api_config(), process_db())
    emulator.wecom_users = {"alice", "bob"}
    result = client.send(["alice", "bob", "carol"], "text", {"content": "hi"}, duplicate_check_seconds=600)
    assert result.invalid_users == ["carol"]
    client.send(["alice", "bob"], "text", {"content": "hi"}, duplicate_check_seconds=600)  # a retry
    assert len(emulator.inbox("alice")) == 1 and len(emulator.inbox("bob")) == 1
    with pytest.raises(ApiError) as info:
        client.send(["carol", "dave"], "text", {"content": "hi"})
    assert (info.value.kind, info.value.errcode) == ("recipient", 81013)
    assert info.value.data["invaliduser"] == "carol|dave"
    assert emulator.token_fetches == {"/cgi-bin/gettoken": 1}


def test_wecom_expired_token(emulator, api_config, process_db):
    client = WeComClient(api_config(), process_db())
    client.send_text("alice", "one")
    emulator.expire_tokens()
    client.send_text("alice", "two")
    assert [m["text"]["content"] for m in emulator.inbox("alice")] == ["one", "two"]
    assert emulator.token_fetches["/cgi-bin/gettoken"] == 2


def test_robot_keeps_under_its_rate_limit(emulator):
    emulator.robot_limit, emulator.robot_window = 3, 0.4
    robot = RobotClient("ops", f"{emulator.url}/cgi-bin/webhook/send?key=robot-key-1", Http(2.0),
                        per_minute=3, window=0.4)
    start = time.monotonic()
    for i in range(7):
        robot.send_markdown(f"**{i}**")
    assert time.monotonic() - start >= 0.8  # 7 posts at 3 per 0.4 s need two waits
    assert [m["markdown"]["content"] for m in emulator.inbox("robot:robot-key-1")] == [f"**{i}**" for i in range(7)]


def test_robot_rate_error_is_transient(emulator):
    emulator.robot_limit = 1
    robot = RobotClient("ops", f"{emulator.url}/cgi-bin/webhook/send?key=robot-key-1", Http(2.0), per_minute=5)
    robot.send_markdown("one")
    with pytest.raises(ApiError) as info:
        robot.send_markdown("two")
    assert (info.value.kind, info.value.errcode) == ("transient", 45009)


class ForwardProxy(BaseHTTPRequestHandler):
    """A plain-HTTP forward proxy that notes each request's target (absolute form) and passes it on."""

    seen: list[str] = []

    def _forward(self):
        self.seen.append(f"{self.command} {self.path}")
        target = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        upstream = http.client.HTTPConnection(target.netloc, timeout=5)
        upstream.request(self.command, target.path + (f"?{target.query}" if target.query else ""), body,
                         {"Content-Type": self.headers.get("Content-Type", "application/json")})
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.getheader("Content-Type"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _forward

    def log_message(self, *args):
        pass


@pytest.fixture
def forward_proxy(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), ForwardProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ForwardProxy.seen = []
    yield f"http://127.0.0.1:{server.server_port}", ForwardProxy.seen
    server.shutdown()
    server.server_close()


def test_the_api_is_reached_through_the_proxy_of_the_environment(emulator, api_config, process_db, forward_proxy,
                                                                   monkeypatch):
    proxy, seen = forward_proxy
    monkeypatch.setenv("HTTP_PROXY", proxy)
    WeChatClient(api_config(), process_db()).send_custom_text("o-ann", "through the proxy")
    assert [m["text"]["content"] for m in emulator.inbox("o-ann")] == ["through the proxy"]
    assert [line.split("?")[0] for line in seen] == [f"GET {emulator.url}/cgi-bin/token",
                                                     f"POST {emulator.url}{CUSTOM}"]

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a host named in NO_PROXY is called directly
    WeChatClient(api_config(), process_db()).send_custom_text("o-bob", "directly")
    assert len(seen) == 2 and len(emulator.inbox("o-bob")) == 1


def _self_signed(tmp_path):
    """A certificate and key for 127.0.0.1, signed by themselves (a company's own CA stands in)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rebot test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "ca.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Answers(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "25")
        self.end_headers()
        self.wfile.write(b'{"errcode":0,"ok":"tls!"}')

    def log_message(self, *args):
        pass


def test_a_ca_bundle_named_in_the_environment_is_trusted(tmp_path, monkeypatch):
    cert, key = _self_signed(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{server.server_port}/cgi-bin/anything"
    try:
        for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
        with pytest.raises(ApiError) as info:  # the system's CAs do not know this one
            Http(2.0).call("GET", url)
        assert "SSLError" in str(info.value)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        assert Http(2.0).call("GET", url)["ok"] == "tls!"
    finally:
        server.shutdown()
        server.server_close()


def test_emulator_is_extensible(emulator, api_config, process_db):
    from flask import request

    @emulator.route("/cgi-bin/tags/create", methods=["POST"])
    def tags_create():
        emulator.require_token("wechat")
        emulator.state["tag"] = request.get_json()
        return emulator.ok()

    client = WeChatClient(api_config(), process_db())
    client.call("/cgi-bin/tags/create", {"tag": {"name": "rare-earth"}})
    assert emulator.state["tag"] == {"tag": {"name": "rare-earth"}}
    emulator.fault("/cgi-bin/tags/create", errcode=-1)
    with pytest.raises(ApiError):
        client.call("/cgi-bin/tags/create", {"tag": {"name": "rare-earth"}})
