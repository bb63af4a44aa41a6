"""help / 帮助 / ?: the command list, generated from the registry."""
from __future__ import annotations

from bot.messages import TemplateReply
from bot.router import Context, command


@command("help", aliases=("帮助", "?", "菜单", "menu", "commands", "命令"),
         usage_en="help [command]", usage_zh="帮助 [命令]",
         help_en="this list; help price explains one command",
         help_zh="命令列表；帮助 价格 说明一个命令", pure=True)
def help_(ctx: Context, args: str):
    """Every command the sender may use, or the details of one."""
    commands = ctx.router.visible_commands(ctx.is_admin)
    if args:
        found = ctx.router.match(args, ctx.is_admin)
        if found:
            return TemplateReply("help_command", {"cmd": found[0]})
    return TemplateReply("help", {"commands": commands})
