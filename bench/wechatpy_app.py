"""A Flask + wechatpy bot answering `price PrNd` from rebot's SQLite file (bench/peer_app.py does the job).

Run: gunicorn -w 2 "bench.wechatpy_app:create_app()"  (BENCH_TOKEN, BENCH_AES_KEY, BENCH_APP_ID,
BENCH_DATABASE from the environment)
"""
import os

from flask import Flask, request
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import check_signature

from bench.peer_app import answer


def create_app() -> Flask:
    token = os.environ.get("BENCH_TOKEN", "bench-token")
    aes_key = os.environ.get("BENCH_AES_KEY", "")
    crypto = WeChatCrypto(token, aes_key, os.environ.get("BENCH_APP_ID", "")) if aes_key else None
    app = Flask(__name__)

    @app.route("/wechat", methods=["GET", "POST"])
    def wechat():
        args = request.args
        try:
            check_signature(token, args.get("signature", ""), args.get("timestamp", ""), args.get("nonce", ""))
        except InvalidSignatureException:
            return "", 403
        if request.method == "GET":
            return args.get("echostr", "")
        body = request.get_data()
        if crypto and args.get("encrypt_type") == "aes":
            body = crypto.decrypt_message(body, args.get("msg_signature"), args["timestamp"], args["nonce"])
        message = parse_message(body)
        text = answer(message.content) if message.type == "text" else "success"
        xml = create_reply(text, message).render()
        if crypto and args.get("encrypt_type") == "aes":
            xml = crypto.encrypt_message(xml, args["nonce"], args["timestamp"])
        return xml

    return app
