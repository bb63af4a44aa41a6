"""Events: follow, unfollow, QR code scans and menu clicks."""
from __future__ import annotations

from bot.messages import TemplateReply
from bot.router import Context, command, normalise
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


@command("_event", hidden=True)
def event(ctx: Context, name: str):
    """Answer a channel event: welcome a follower, forget an unfollower, run a menu click's command."""
    if name in ("subscribe", "scan"):
        product = scene_product(ctx, name)
        if name == "subscribe":
            ctx.subscriber().status = "active"
        if product is None:
            return TemplateReply("welcome", {}) if name == "subscribe" else None
        # A follow or scan through a parametric QR code: the daily summary with the code's product.
        was_on = start_daily_summary(ctx, [product])
        return TemplateReply("scene_subscribed", {"new_follower": name == "subscribe", "was_on": was_on,
                                                  "product": product, "products": ctx.followed_products()})
    if name == "unsubscribe":
        sub = ctx.subscriber(create=False)
        if sub is not None:
            sub.status = "unreachable"
        return None
    if name == "click":
        text = ctx.config["wechat.menu.commands"].get(ctx.message.event_key)
        if not text:
            return TemplateReply("unknown_menu", {"key": ctx.message.event_key})
        return ctx.router.dispatch(ctx, normalise(text))
    return None
