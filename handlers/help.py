"""help / 帮助 / ?: the command list, generated from the registry; and the small talk: greetings, thanks, things
not quoted here, words not understood."""
from __future__ import annotations

from bot.messages import TemplateReply
from bot.router import Context, answers, command


@command("help", aliases=("帮助", "?", "菜单", "menu", "commands", "命令"),
         usage_en="help [command]", usage_zh="帮助 [命令]",
         help_en="this list; help price explains one command",
         help_zh="命令列表；帮助 价格 说明一个命令")
def help_(ctx: Context, args: str):
    """Every command the sender may use, or the details of one."""
    commands = ctx.router.visible_commands(ctx.is_admin)
    if args:
        found = ctx.router.match(args, ctx.is_admin)
        if found:
            return TemplateReply("help_command", {"cmd": found[0]})
    return TemplateReply("help", {"commands": commands})


@answers("help")
def help_asked(ctx: Context, request):
    return help_(ctx, request.args)


@answers("greeting")
def greeting(ctx: Context, request):
    """你好, 在吗, hi: the short welcome with the three most useful questions."""
    return TemplateReply("greeting")


@answers("thanks")
def thanks(ctx: Context, request):
    return TemplateReply("thanks")


@answers("out_of_scope")
def not_quoted(ctx: Context, request):
    """钕铁硼, NdFeB, 磁材: not quoted here, and the closest products that are."""
    closest = [ctx.catalog.by_code[c] for c in request.suggestions if c in ctx.catalog.by_code]
    return TemplateReply("not_quoted", {"term": request.term, "closest": closest})


@answers("unknown")
def not_understood(ctx: Context, request):
    """Words nobody could place; the one element a typo may have meant (never another one)."""
    products = [ctx.catalog.by_code[c] for c in request.suggestions if c in ctx.catalog.by_code]
    return TemplateReply("did_you_mean", {"products": products}) if products else \
        TemplateReply("unknown", {"suggestion": None})


@answers("empty")
def empty(ctx: Context, request):
    return TemplateReply("empty")
