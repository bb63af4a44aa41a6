"""price / 价格: the latest quote of one product, or a table of several."""
from __future__ import annotations

import re

from bot.links import price_page
from bot.market.quotes import last_trading_day, latest_price
from bot.messages import CommandError, TemplateReply
from bot.router import Context, command
from handlers.trend import chart_reply, split_period

_SPLIT = re.compile(r"[,，、;；/]+")
_LONGEST_NAME = 5  # words: "mixed rare earth carbonate"


def resolve_products(ctx: Context, args: str, command: str = "price"):
    """The products named in `args` (one name, or several separated by spaces or commas).

    An unknown name raises `unknown_product`, whose suggestion repeats `command` in the reply's language."""
    whole = _one_product(ctx, args.split())
    if whole:
        return [whole]
    products, unknown = [], []
    for part in _SPLIT.split(args):
        # Within a part, the longest run of words that names a product: "Dy metal Tb" is Dy-metal and Tb-oxide.
        words, i = part.split(), 0
        while i < len(words):
            for j in range(min(len(words), i + _LONGEST_NAME), i, -1):
                product = _one_product(ctx, words[i:j])
                if product:
                    products.append(product)
                    i = j
                    break
            else:
                unknown.append(words[i])
                i += 1
    if unknown or not products:
        query = unknown[0] if unknown else args
        guess = next(iter(ctx.catalog.suggest(query)), None)
        word = ctx.router.get(command).usage[ctx.language].split()[0]
        raise CommandError("unknown_product", query=query, suggestion=guess.code if guess else None, command=word)
    return list(dict.fromkeys(products))


def _one_product(ctx: Context, words: list[str]):
    """The product these words name together; words that each name a product ("Nd Pr") are a list, not one."""
    if len(words) > 1 and all(ctx.catalog.resolve(w) for w in words):
        return None
    return ctx.catalog.resolve(" ".join(words))


@command("price", aliases=("价格", "报价", "价钱", "prices", "quote"),
         usage_en="price [product…]", usage_zh="价格 [产品…]",
         help_en="latest price of a product, e.g. price PrNd; alone: your products",
         help_zh="产品最新价格，如：价格 镨钕；不带产品：关注产品一览")
def price(ctx: Context, args: str):
    """The latest quote of the named product(s), or a table of the followed ones; `price PrNd 30d`: a chart."""
    product_text, days = split_period(args)
    if days is not None:
        return chart_reply(ctx, product_text, days)
    products = resolve_products(ctx, args) if args else ctx.followed_products()
    if len(products) == 1 and args:
        view = latest_price(ctx.session, products[0], ctx.today)
        if view is None:
            raise CommandError("no_quote", product=products[0])
        return TemplateReply("price", {"view": view, "last_trading_day": last_trading_day(ctx.today),
                                       "page": price_page(ctx.config, view.product.code, ctx.language)})
    rows = [(p, latest_price(ctx.session, p, ctx.today)) for p in products]
    return TemplateReply("price_table", {"rows": rows, "last_trading_day": last_trading_day(ctx.today)})
