"""WeChat callback XML: parse safely (no DTD, no entities), render passive replies."""
from __future__ import annotations

from xml.parsers import expat

from bot.messages import Reply


class XMLError(ValueError):
    """The body is not a WeChat XML message."""


class _Refused(Exception):
    pass


def _refuse(*_args) -> None:
    raise _Refused


def parse(body: bytes) -> dict[str, str]:
    """The top-level fields of a callback body: {tag: text} of the root's children.

    Straight on expat, the parser ElementTree and defusedxml use, without building a tree: this runs on
    every message. A document type declaration is refused where it starts, so no entity can be declared,
    let alone expanded (billion laughs) or fetched (external entities); an undeclared one is an error.
    The body is read as UTF-8 whatever it declares: GBK bytes are malformed, not a traceback."""
    fields: dict[str, str] = {}
    texts: list[str] = []
    depth = 0
    root = ""

    def start(tag: str, _attrs) -> None:
        nonlocal depth, root
        depth += 1
        if depth == 1:
            root = tag
        elif depth == 2:
            texts.clear()

    def end(tag: str) -> None:
        nonlocal depth
        if depth == 2:
            fields[tag] = "".join(texts).strip()
        depth -= 1

    def text(data: str) -> None:
        if depth == 2:
            texts.append(data)

    parser = expat.ParserCreate("utf-8")  # WeChat and WeCom send UTF-8: another declared encoding is not read
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
    parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = parser.ExternalEntityRefHandler = _refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(body, True)
    except _Refused:
        raise XMLError("malformed XML: a document type declaration is not allowed") from None
    except expat.ExpatError as exc:
        raise XMLError(f"malformed XML: {expat.ErrorString(exc.code)}") from None
    if root != "xml":
        raise XMLError(f"root element is <{root}>, not <xml>")
    return fields


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
