"""Finding 3: a captured signed query authorised any message for the clock-skew window, and the
de-duplication key ignored the sender (whoever sent a MsgId first got the victim's reply)."""
from __future__ import annotations

import requests
from sqlalchemy import select

from bot.models import Subscriber
from served import serving
from test_webhook import _ids, reply_fields, signed_params, text_xml


def test_a_signed_query_carries_one_message_only(make_app):
    app = make_app(admins=["oAdmin"])
    with serving(app) as (host, port):
        url = f"http://{host}:{port}/wechat"
        captured = signed_params()  # e.g. from an access log
        body = text_xml("price PrNd", user="oAdmin").encode()
        first = requests.post(url, params=captured, data=body, timeout=10)
        assert first.status_code == 200 and "449,000" in reply_fields(first.text)["Content"]
        # WeChat's own retry of that delivery (same query, same body) gets the first reply.
        again = requests.post(url, params=captured, data=body, timeout=10)
        assert again.status_code == 200 and again.text == first.text
        forged = requests.post(url, params=captured, data=text_xml("subscribe Dy", user="oAdmin").encode(),
                               timeout=10)
        assert forged.status_code == 403
    with app.extensions["rebot"].db.session() as session:
        assert session.scalars(select(Subscriber).where(Subscriber.external_id == "oAdmin")).first() is None


def test_whoever_sends_a_msg_id_first_never_gets_another_senders_reply(make_app):
    app = make_app()
    with serving(app) as (host, port):
        url = f"http://{host}:{port}/wechat"
        msg_id = next(_ids)
        taken = requests.post(url, params=signed_params(), timeout=10,
                              data=text_xml("help", user="oMallory", msg_id=msg_id).encode())
        assert reply_fields(taken.text)["ToUserName"] == "oMallory"
        victim = requests.post(url, params=signed_params(), timeout=10,
                               data=text_xml("subscribe Tb", user="oVictim", msg_id=msg_id).encode())
        reply = reply_fields(victim.text)
        assert reply["ToUserName"] == "oVictim" and "Tb" in reply["Content"]
        retry = requests.post(url, params=signed_params(), timeout=10,
                              data=text_xml("subscribe Tb", user="oMallory", msg_id=msg_id).encode())
        assert "Tb" not in reply_fields(retry.text)["Content"]  # Mallory's own first reply, not the victim's
