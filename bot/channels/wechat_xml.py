"""WeChat callback XML: parse safely (no DTD, no entities), render passive replies."""
from __future__ import annotations

from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from bot.messages import Reply


class XMLError(ValueError):
    """The body is not a WeChat XML message."""


def parse(body: bytes) -> dict[str, str]:
    """The top-level fields of a callback body. DTDs and entities are refused before they expand."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException) as exc:
        raise XMLError(f"malformed XML: {type(exc).__name__}") from None
    if root.tag != "xml":
        raise XMLError(f"root element is <{root.tag}>, not <xml>")
    return {child.tag: (child.text or "").strip() for child in root}


def cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_reply(to_user: str, from_user: str, reply: Reply, create_time: int) -> str:
    """A passive reply in WeChat's XML: image when the reply has a media id, news when it has articles, else text."""
    head = (f"<xml><ToUserName>{cdata(to_user)}</ToUserName><FromUserName>{cdata(from_user)}</FromUserName>"
            f"<CreateTime>{create_time}</CreateTime>")
    if reply.media_id:
        return f"{head}<MsgType><![CDATA[image]]></MsgType><Image><MediaId>{cdata(reply.media_id)}</MediaId></Image></xml>"
    if reply.articles:
        items = "".join(
            f"<item><Title>{cdata(a.title)}</Title><Description>{cdata(a.description)}</Description>"
            f"<PicUrl>{cdata(a.picurl)}</PicUrl><Url>{cdata(a.url)}</Url></item>"
            for a in reply.articles
        )
        return (f"{head}<MsgType><![CDATA[news]]></MsgType><ArticleCount>{len(reply.articles)}</ArticleCount>"
                f"<Articles>{items}</Articles></xml>")
    return f"{head}<MsgType><![CDATA[text]]></MsgType><Content>{cdata(reply.text)}</Content></xml>"


def render_envelope(encrypted: str, msg_signature: str, timestamp: str, nonce: str) -> str:
    """The XML envelope of an encrypted reply."""
    return (f"<xml><Encrypt>{cdata(encrypted)}</Encrypt><MsgSignature>{cdata(msg_signature)}</MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>")
