"""Events: follow, unfollow, QR code scans and menu clicks (event handlers, not typed commands)."""
from __future__ import annotations

from bot.messages import TemplateReply
from bot.router import Context, normalise, on_event
from handlers.subscribe import start_daily_summary

SCENE_PREFIX = "qrscene_"  # a follow through a QR code: EventKey qrscene_<scene>; a scan by a follower: <scene>


def scene_product(ctx: Context, name: str):
    """The product a QR code's scene names (`rebot qrcode create --scene prnd`), or None."""
    key = ctx.message.event_key or ""
    if name == "subscribe":
        if not key.startswith(SCENE_PREFIX):
            return None
        key = key[len(SCENE_PREFIX):]
    return ctx.catalog.resolve(key) if key else None


@on_event("subscribe")
def follow(ctx: Context):
    """A new follower: welcome them (through a QR code naming a product: its daily summary at once)."""
    ctx.subscriber().status = "active"
    return _scene(ctx, "subscribe") or TemplateReply("welcome", {})


@on_event("scan")
def scan(ctx: Context):
    """A follower scanned a parametric QR code: the daily summary with the code's product."""
    return _scene(ctx, "scan")


def _scene(ctx: Context, name: str):
    product = scene_product(ctx, name)
    if product is None:
        return None
    was_on = start_daily_summary(ctx, [product])
    return TemplateReply("scene_subscribed", {"new_follower": name == "subscribe", "was_on": was_on,
                                              "product": product, "products": ctx.followed_products()})


@on_event("unsubscribe")
def unfollow(ctx: Context):
    """The user unfollowed: no more pushes (WeChat would refuse them anyway)."""
    sub = ctx.subscriber(create=False)
    if sub is not None:
        sub.status = "unreachable"


@on_event("click")
def menu_click(ctx: Context):
    """A menu button: run the command its key is mapped to (`wechat.menu.commands`)."""
    text = ctx.config["wechat.menu.commands"].get(ctx.message.event_key)
    if not text:
        return TemplateReply("unknown_menu", {"key": ctx.message.event_key})
    return ctx.router.dispatch(ctx, normalise(text))
