"""alert / 提醒, alerts / 我的提醒, alert del N / 删除提醒 N: one's own price alerts."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy import select

from bot.alerts import crossed
from bot.market.products import resolve_products
from bot.market.quotes import latest_price
from bot.messages import CommandError, TemplateReply
from bot.models import Alert, Subscriber
from bot.router import Context, answers, command

_OPERATORS = {">": "above", ">=": "above", "above": "above", "over": "above", "高于": "above", "超过": "above",
              "<": "below", "<=": "below", "below": "below", "under": "below", "低于": "below", "跌破": "below"}
_MULTIPLIERS = {"": 1, "万": 10_000, "w": 10_000, "k": 1_000, "m": 1_000_000}
_NUMBER = r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)\s*(?P<mult>万|[wWkKmM])?"
_UNIT_WORDS = r"(?:\s*(?:元/吨|元/公斤|元|yuan/t|yuan/kg|usd/kg|yuan))?"
# The line and the move are searched for after the product (everything before them): linear in the text's
# length, where a leading `.+?` was quadratic on long digit runs.
_LINE = re.compile(r"(?P<op>>=|<=|>|<|above|over|below|under|高于|超过|低于|跌破)\s*" + _NUMBER + _UNIT_WORDS + r"$",
                   re.IGNORECASE)
_MOVE = re.compile(r"(?:[±+]\s*)?(?<![\d.])(?P<pct>\d+(?:\.\d+)?)\s*%$")  # starts where a number starts
_LIST_WORDS = {"", "list", "列表"}
_DELETE = re.compile(r"^(?:del|delete|remove|rm|删除|删)\s*(?P<n>.*)$", re.IGNORECASE)
MAX_MOVE_PCT = Decimal(100)
DELIVERED_ON = ("wechat", "wecom")  # channels an alert message can reach (not `rebot chat`)


def parse_amount(num: str, mult: str | None) -> Decimal:
    """'46' '万' -> 460000; '460k' -> 460000; '1.5M' -> 1500000; '460,000' -> 460000."""
    return Decimal(num.replace(",", "")) * _MULTIPLIERS[(mult or "").lower()]


def _after_product(pattern: re.Pattern, args: str) -> re.Match | None:
    """The first match of `pattern` that ends the text and leaves a product name before it."""
    found = pattern.search(args)
    return found if found and args[:found.start()].strip() else None


def _add_within_limit(ctx: Context, subscriber_id: int, code: str, kind: str, threshold: Decimal,
                      direction: str | None, armed: bool, limit: int) -> Alert | None:
    """Insert the alert unless the subscriber has `limit` already, in one statement the database checks
    (with the subscriber's row locked on PostgreSQL): concurrent `alert` messages never exceed the cap."""
    ctx.session.execute(select(Subscriber.id).where(Subscriber.id == subscriber_id).with_for_update())
    count = select(sa.func.count()).select_from(Alert).where(Alert.subscriber_id == subscriber_id).scalar_subquery()
    values = select(sa.literal(subscriber_id), sa.literal(code), sa.literal(kind),
                    sa.literal(threshold, Alert.threshold.type), sa.literal(direction, Alert.direction.type),
                    sa.literal(armed)).where(count < limit)
    added = ctx.session.execute(sa.insert(Alert).from_select(
        ["subscriber_id", "product_code", "kind", "threshold", "direction", "armed"], values))
    if not added.rowcount:
        return None
    return ctx.session.scalars(select(Alert).where(
        Alert.subscriber_id == subscriber_id, Alert.product_code == code, Alert.kind == kind,
        Alert.threshold == threshold, Alert.direction.is_(None) if direction is None else Alert.direction == direction,
    ).order_by(Alert.id.desc())).first()


def _own_alerts(ctx: Context) -> list[Alert]:
    sub = ctx.subscriber(create=False)
    if sub is None or sub.id is None:
        return []
    return list(ctx.session.scalars(select(Alert).where(Alert.subscriber_id == sub.id).order_by(Alert.id)))


def _listing(ctx: Context, name: str = "alerts", **data):
    rows = [(a, ctx.catalog.by_code.get(a.product_code)) for a in _own_alerts(ctx)]
    return TemplateReply(name, {"rows": rows, **data})


@command("alert", aliases=("提醒", "价格提醒", "预警"),
         usage_en="alert <product> > <price> | < <price> | <N>%", usage_zh="提醒 <产品> > <价格> | < <价格> | <N>%",
         help_en="tell me when a price crosses a line, e.g. alert PrNd > 460000, alert Dy 3%",
         help_zh="价格越线时提醒我，如：提醒 镨钕 > 46万，提醒 镝 3%")
def alert(ctx: Context, args: str):
    """Set an alert; alone, list them; `alert del N` deletes one."""
    if args.lower() in _LIST_WORDS:
        return _listing(ctx)
    deleting = _DELETE.match(args)
    if deleting:
        return delete(ctx, deleting["n"])
    line, move = _after_product(_LINE, args), _after_product(_MOVE, args)
    if line:
        product_text, kind = args[:line.start()], _OPERATORS[line["op"].lower()]
        try:
            threshold = parse_amount(line["num"], line["mult"])
        except InvalidOperation:
            raise CommandError("alert_usage") from None
    elif move:
        product_text, kind, threshold = args[:move.start()], "move", Decimal(move["pct"])
        if not 0 < threshold <= MAX_MOVE_PCT:
            raise CommandError("alert_usage", problem="move")
    else:
        raise CommandError("alert_usage")
    if threshold <= 0 or threshold >= Decimal("1e13"):
        raise CommandError("alert_usage", problem="amount")
    products = resolve_products(ctx.catalog, product_text.strip(), ctx.usage_word("alert"))
    if len(products) != 1:
        raise CommandError("alert_usage", problem="one_product")
    return set_alert(ctx, products[0], kind, threshold)


@answers("alert_set")
def alert_asked(ctx: Context, request):
    """氧化铽涨到720万通知我, 镝铁低于150万提醒我, alert me if PrNd goes above 460k; without a product, a line or
    with several products: how to write one."""
    if request.threshold is None or not request.products:
        raise CommandError("alert_usage")
    if len(request.products) != 1:
        raise CommandError("alert_usage", problem="one_product")
    if request.kind == "move" and not 0 < request.threshold <= MAX_MOVE_PCT:
        raise CommandError("alert_usage", problem="move")
    if request.threshold <= 0 or request.threshold >= Decimal("1e13"):
        raise CommandError("alert_usage", problem="amount")
    return set_alert(ctx, ctx.catalog.by_code[request.products[0]], request.kind, request.threshold,
                     request.understood, request.direction if request.kind == "move" else None)


def set_alert(ctx: Context, product, kind: str, threshold: Decimal, understood: str = "", direction: str | None = None):
    """Add the alert (`kind` above, below or move; a move `direction` up, down or None: either way) unless the
    sender has the same one or their limit."""
    threshold = threshold.quantize(Decimal("0.01"))
    existing = _own_alerts(ctx)
    for number, old in enumerate(existing, 1):
        if (old.product_code, old.kind, old.threshold, old.direction) == (product.code, kind, threshold, direction):
            return TemplateReply("alert_set", {"alert": old, "number": number, "product": product, "view": None,
                                               "past": False, "again": True, "understood": understood})
    limit = ctx.config["alerts.max_per_user"]
    if len(existing) >= limit:
        raise CommandError("alert_limit", limit=limit)
    view = latest_price(ctx.session, product, ctx.today)
    # Already past the line: it fires when the price next crosses it, after moving back by the margin.
    past = kind != "move" and view is not None and crossed(kind, threshold, view.mid, None)
    sub = ctx.subscriber()
    ctx.session.flush()
    row = _add_within_limit(ctx, sub.id, product.code, kind, threshold, direction, not past, limit)
    if row is None:  # concurrent messages of this subscriber took the last places
        raise CommandError("alert_limit", limit=limit)
    number = ctx.session.scalar(select(sa.func.count()).where(Alert.subscriber_id == sub.id, Alert.id <= row.id))
    return TemplateReply("alert_set", {"alert": row, "number": number, "product": product, "view": view,
                                       "past": past, "again": False,
                                       "hysteresis": ctx.config["alerts.hysteresis_pct"],
                                       "delivered": ctx.message.channel in DELIVERED_ON, "understood": understood})


@command("alerts", aliases=("我的提醒", "提醒列表"), usage_en="alerts", usage_zh="我的提醒",
         help_en="your price alerts, numbered", help_zh="我的价格提醒（带编号）")
def alerts(ctx: Context, args: str):
    return _listing(ctx)


@command("alert del", aliases=("alert delete", "alert remove", "删除提醒", "提醒删除", "取消提醒"),
         usage_en="alert del <N>", usage_zh="删除提醒 <编号>",
         help_en="delete alert N (the number from `alerts`)", help_zh="删除第 N 条提醒（编号见“我的提醒”）")
def delete(ctx: Context, args: str):
    own = _own_alerts(ctx)
    try:
        number = int(args.strip().lstrip("#"))
    except ValueError:
        raise CommandError("alert_del_usage", count=len(own)) from None
    if not 1 <= number <= len(own):
        raise CommandError("alert_del_usage", count=len(own), number=number)
    gone = own[number - 1]
    ctx.session.delete(gone)
    ctx.session.flush()
    return _listing(ctx, "alert_deleted", deleted=gone, deleted_number=number,
                    deleted_product=ctx.catalog.by_code.get(gone.product_code))




@answers("alerts_list")
def alerts_asked(ctx: Context, request):
    return _listing(ctx)


@answers("alert_delete")
def delete_asked(ctx: Context, request):
    return delete(ctx, "" if request.count is None else str(request.count))
