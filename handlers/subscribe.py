"""subscribe / 订阅, unsubscribe / 退订, my / 我的订阅: one's own daily summary and followed products."""
from __future__ import annotations

from bot.market.products import resolve_products
from bot.messages import TemplateReply
from bot.router import Context, answers, command


@command("subscribe", aliases=("订阅", "sub", "follow", "关注"),
         usage_en="subscribe [product…]", usage_zh="订阅 [产品…]",
         help_en="get the daily summary; add products to follow, e.g. subscribe PrNd Dy",
         help_zh="订阅每日行情，并关注产品，如：订阅 镨钕 镝")
def subscribe(ctx: Context, args: str):
    """Turn the daily summary on and add the named products to the followed ones."""
    return _subscribe(ctx, resolve_products(ctx.catalog, args, ctx.usage_word("subscribe")) if args else [])


@answers("subscribe")
def subscribe_asked(ctx: Context, request):
    """我想订阅镨钕, subscribe me to Dy."""
    return _subscribe(ctx, _named(ctx, request), request.understood)


def _named(ctx: Context, request):
    return [ctx.catalog.by_code[c] for c in request.products if c in ctx.catalog.by_code]


def _subscribe(ctx: Context, added, understood: str = ""):
    was_on = start_daily_summary(ctx, added)
    return TemplateReply("subscribed", {"was_on": was_on, "added": added, "products": ctx.followed_products(),
                                        "own": bool(ctx.subscriber().products), "understood": understood})


def start_daily_summary(ctx: Context, products) -> bool:
    """Turn the sender's daily summary on and follow `products` too; True if it was on already."""
    sub = ctx.subscriber()
    was_on = sub.daily_summary
    sub.daily_summary = True
    if sub.status == "unreachable":
        sub.status = "active"
    codes = list(sub.products or [])
    codes += [p.code for p in products if p.code not in codes]
    sub.products = codes
    return was_on


@command("unsubscribe", aliases=("退订", "取消订阅", "unsub", "stop", "unfollow", "取消关注"),
         usage_en="unsubscribe [product…]", usage_zh="退订 [产品…]",
         help_en="stop the daily summary; with products: stop following them",
         help_zh="退订每日行情；带产品：取消关注这些产品")
def unsubscribe(ctx: Context, args: str):
    """Stop the daily summary, or with products stop following just those."""
    return _unsubscribe(ctx, resolve_products(ctx.catalog, args, ctx.usage_word("unsubscribe")) if args else [])


@answers("unsubscribe")
def unsubscribe_asked(ctx: Context, request):
    """不要再推送了, stop following Dy."""
    return _unsubscribe(ctx, _named(ctx, request))


def _unsubscribe(ctx: Context, named):
    sub = ctx.subscriber()
    if named:
        # Someone on the default set who drops one product keeps the rest of the set as their own.
        current = [p.code for p in ctx.followed_products()]
        removed = [p for p in named if p.code in current]
        gone = {p.code for p in removed}
        sub.products = [c for c in current if c not in gone]
        return TemplateReply("unfollowed", {"removed": removed, "not_followed": [p for p in named if p not in removed],
                                            "products": ctx.followed_products(), "own": bool(sub.products)})
    was_on = sub.daily_summary
    sub.daily_summary = False
    return TemplateReply("unsubscribed", {"was_on": was_on})


@command("my", aliases=("我的订阅", "我的", "mine", "my subscription", "status", "订阅状态"),
         usage_en="my", usage_zh="我的订阅",
         help_en="your subscription and followed products",
         help_zh="查看我的订阅和关注的产品")
def my(ctx: Context, args: str):
    """The sender's subscription state and followed products."""
    sub = ctx.subscriber(create=False)
    return TemplateReply("my", {"daily": bool(sub and sub.daily_summary), "status": sub.status if sub else "active",
                                "own": bool(sub and sub.products), "products": ctx.followed_products()})


@answers("my")
def my_asked(ctx: Context, request):
    return my(ctx, "")
