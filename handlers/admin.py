"""admin / 管理: the service at a glance and subscriber fixes, for the openids in `admins` only.

Anyone else who types these is answered as for any unknown command (the registry's admin_only flag)."""
from __future__ import annotations

from datetime import timedelta, timezone
from typing import Callable

from bot import subscribers as subs
from bot.messages import TemplateReply
from bot.models import PendingAction
from bot.router import Context, command

CONFIRM_MINUTES = 5
# action name -> what `admin confirm` runs: fn(ctx, payload) -> reply. Filled by the commands that ask.
CONFIRMABLE: dict[str, Callable[[Context, dict], TemplateReply]] = {}

SUB_ACTIONS = {"pause": "paused", "resume": "active", "remove": None,
               "暂停": "paused", "恢复": "active", "删除": None}


@command("admin", aliases=("管理",), admin_only=True,
         usage_en="admin stats | admin sub <id> pause|resume|remove",
         usage_zh="管理 stats | 管理 sub <编号> pause|resume|remove",
         help_en="service figures; pause, resume or remove a subscriber",
         help_zh="服务概况；暂停、恢复或删除订阅用户")
def admin(ctx: Context, args: str):
    words = args.split()
    head = words[0].lower() if words else ""
    if head in ("stats", "统计"):
        return stats(ctx)
    if head in ("sub", "订阅用户") and len(words) == 3 and words[2].lower() in SUB_ACTIONS:
        return change_subscriber(ctx, words[1], words[2].lower())
    if head in ("confirm", "确认") and len(words) == 1:
        return confirm(ctx)
    return TemplateReply("admin_usage")


def stats(ctx: Context):
    by_channel = subs.counts(ctx.session)
    daily = subs.daily_count(ctx.session)
    total = sum(sum(row.values()) for row in by_channel.values())
    return TemplateReply("admin_stats", {"by_channel": sorted(by_channel.items()), "total": total, "daily": daily})


def change_subscriber(ctx: Context, ref: str, action: str):
    try:
        sub = subs.find(ctx.session, ref)
    except subs.SubscriberError:
        return TemplateReply("admin_sub_unknown", {"ref": ref})
    actor = f"chat:{ctx.message.user_id}"
    label = sub.display_name or f"{sub.channel}:{sub.external_id}"
    status = SUB_ACTIONS[action]
    if status is None:
        subs.remove(ctx.session, actor, sub)
        return TemplateReply("admin_sub", {"id": sub.id, "label": label, "done": "removed", "changed": True})
    changed = subs.set_status(ctx.session, actor, sub, status)
    return TemplateReply("admin_sub", {"id": sub.id, "label": label, "changed": changed,
                                       "done": "paused" if status == "paused" else "resumed"})


def _now_utc(ctx: Context):
    return ctx.now.astimezone(timezone.utc).replace(tzinfo=None)


def _user_key(ctx: Context) -> str:
    return f"{ctx.message.channel}:{ctx.message.user_id}"


def ask_to_confirm(ctx: Context, action: str, payload: dict, reply: str, **data) -> TemplateReply:
    """Keep `action` until this admin sends `admin confirm` (within CONFIRM_MINUTES); reply with `reply`."""
    pending = ctx.session.get(PendingAction, _user_key(ctx))
    if pending is None:
        pending = PendingAction(user_key=_user_key(ctx))
        ctx.session.add(pending)
    pending.action, pending.payload = action, payload
    pending.expires_at = _now_utc(ctx) + timedelta(minutes=CONFIRM_MINUTES)
    return TemplateReply(reply, {"minutes": CONFIRM_MINUTES, **data})


def confirm(ctx: Context):
    """Run the action this admin was asked to confirm, once."""
    pending = ctx.session.get(PendingAction, _user_key(ctx))
    if pending is None:
        return TemplateReply("admin_confirm_none", {"expired": False})
    ctx.session.delete(pending)
    if pending.expires_at <= _now_utc(ctx) or pending.action not in CONFIRMABLE:
        return TemplateReply("admin_confirm_none", {"expired": True, "minutes": CONFIRM_MINUTES})
    return CONFIRMABLE[pending.action](ctx, pending.payload)
