"""admin / 管理: the service at a glance and subscriber fixes, for the openids in `admins` only.

Anyone else who types these is answered as for any unknown command (the registry's admin_only flag)."""
from __future__ import annotations

from datetime import date, timedelta, timezone
from typing import Callable

from bot import subscribers as subs
from bot.messages import TemplateReply
from bot.models import PendingAction
from bot.router import Context, answers, command

CONFIRM_MINUTES = 5
# action name -> what `admin confirm` runs: fn(ctx, payload) -> reply. Filled by the commands that ask.
CONFIRMABLE: dict[str, Callable[[Context, dict], TemplateReply]] = {}

MAX_BROADCAST_BYTES = 2000
SUB_ACTIONS = {"pause": "paused", "resume": "active", "remove": None,
               "暂停": "paused", "恢复": "active", "删除": None}


@command("admin", aliases=("管理",), admin_only=True,
         usage_en="admin stats | push status | push now | broadcast <text> | sub <id> pause|resume|remove",
         usage_zh="管理 stats | push status | push now | broadcast <内容> | sub <编号> pause|resume|remove",
         help_en="service figures, the push, a broadcast, fix a subscriber (then: admin confirm)",
         help_zh="服务概况、推送、群发、处理订阅用户（之后：管理 确认）")
def admin(ctx: Context, args: str):
    words = args.split()
    head = words[0].lower() if words else ""
    if head in ("stats", "统计"):
        return stats(ctx)
    if head in ("sub", "订阅用户") and len(words) == 3 and words[2].lower() in SUB_ACTIONS:
        return change_subscriber(ctx, words[1], words[2].lower())
    if head in ("confirm", "确认") and len(words) == 1:
        return confirm(ctx)
    if head in ("push", "推送") and len(words) == 2 and words[1].lower() in ("status", "状态"):
        return push_status(ctx)
    if head in ("push", "推送") and len(words) == 2 and words[1].lower() in ("now", "立即"):
        return ask_to_confirm(ctx, "push_now", {"day": ctx.today.isoformat()}, "admin_push_ask",
                              day=ctx.today, recipients=subs.daily_count(ctx.session))
    if head in ("broadcast", "广播"):
        text = args.split(maxsplit=1)[1].strip() if len(words) > 1 else ""
        if not text:
            return TemplateReply("admin_usage")
        if len(text.encode("utf-8")) > MAX_BROADCAST_BYTES:
            return TemplateReply("admin_broadcast_long", {"limit": MAX_BROADCAST_BYTES})
        return ask_to_confirm(ctx, "broadcast", {"day": ctx.today.isoformat(), "text": text}, "admin_broadcast_ask",
                              text=text, recipients=subs.daily_count(ctx.session))
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


def push_status(ctx: Context):
    from bot.admin import pushes

    runs = pushes.recent_runs(ctx.session, limit=1)
    upcoming = pushes.next_runs(ctx.config, ctx.now, count=1)
    return TemplateReply("admin_push_status", {"last": runs[0] if runs else None,
                                               "next": upcoming[0][1] if upcoming else None,
                                               "running": pushes.BACKGROUND.running()})


def _start(ctx: Context, payload: dict, broadcast: str | None = None):
    """Start the push on the running bot's delivery path (in the background), and say so."""
    from bot.admin import pushes
    from bot.audit import audit

    day = date.fromisoformat(payload["day"])
    if not pushes.BACKGROUND.start(ctx.bot, day, broadcast=broadcast):
        return TemplateReply("admin_push_busy")
    audit(ctx.session, f"chat:{ctx.message.user_id}", "push.broadcast" if broadcast else "push.send_now",
          f"push:{'broadcast' if broadcast else 'daily'}:{day}", **({"text": broadcast[:200]} if broadcast else {}))
    return TemplateReply("admin_push_started", {"day": day, "broadcast": bool(broadcast)})


CONFIRMABLE["push_now"] = lambda ctx, payload: _start(ctx, payload)
CONFIRMABLE["broadcast"] = lambda ctx, payload: _start(ctx, payload, broadcast=payload["text"])


@answers("admin")
def admin_asked(ctx: Context, request):
    return admin(ctx, request.args)
