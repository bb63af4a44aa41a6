"""Configuration: YAML file + environment, validated, with errors that name the key."""
from __future__ import annotations

import base64
import binascii
import difflib
import os
from datetime import date
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

DEFAULT_DATABASE_URL = "sqlite:///instance/rebot.db"


class ConfigError(Exception):
    """The configuration is wrong; `errors` lists one line per wrong key."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {e}" for e in errors))


def _timezone(value: Any) -> str | None:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)"
    return None


def _language(value: Any) -> str | None:
    return None if value in ("zh", "en") else f"must be zh or en, not {value!r}"


def _aes_key(value: Any) -> str | None:
    if not value:
        return None
    if len(value) != 43:
        return f"must be 43 characters (the EncodingAESKey from the console), got {len(value)}"
    try:
        if len(base64.b64decode(value + "=", validate=True)) != 32:
            raise ValueError
    except (binascii.Error, ValueError):
        return "is not valid base64 for a 32-byte key"
    return None


def _database_url(value: Any) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(value)
    except ArgumentError:  # the value is not shown: it may hold the password
        return "is not a database URL (e.g. sqlite:///instance/rebot.db, postgresql+psycopg://user:…@host/db)"
    return None


def _http_url(value: Any) -> str | None:
    if not str(value).startswith(("http://", "https://")):
        return f"must start with http:// or https://, not {value!r}"
    return None


def _base_url(value: Any) -> str | None:
    if not value:
        return None
    if not str(value).startswith(("http://", "https://")):
        return f"must be empty or start with https:// (the address users open), not {value!r}"
    if "?" in value or "#" in value:
        return f"must be a plain base address without ? or #, not {value!r}"
    return None


def _redis_url(value: Any) -> str | None:
    if value and not str(value).startswith(("redis://", "rediss://", "unix://")):  # not shown: it may hold the password
        return "must be empty or a Redis URL (redis://host:6379/0, rediss://…, unix://…)"
    return None


def _positive(value: Any) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _product_codes(value: Any) -> str | None:
    """Every entry must be a catalog code (PrNd-oxide), not an alias (PrNd) that would be silently ignored."""
    from bot.demo import load_catalog
    from bot.market.catalog import fold

    codes = {entry["code"] for entry in load_catalog()}
    by_alias = {fold(name): entry["code"] for entry in load_catalog()
                for name in (entry["code"], entry["en"], entry["zh"], *entry["aliases"])}
    wrong = []
    for item in value:
        if item in codes:
            continue
        code = by_alias.get(fold(str(item)))
        wrong.append(f"{item!r}" + (f" (did you mean {code}?)" if code else ""))
    return f"unknown product code {', '.join(wrong)}" if wrong else None


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}, not {value!r}"

    return check


def _cron(value: Any) -> str | None:
    from bot.cron import trigger

    try:
        trigger(value, "UTC")
    except ValueError as exc:
        return f"is not a crontab line (minute hour day month day-of-week, e.g. '30 17 * * mon-fri'): {exc}"
    return None


def _template_fields(value: Any) -> str | None:
    import jinja2
    import jinja2.meta

    for field, source in value.items():
        if not isinstance(source, str):
            return f"{field}: must be a Jinja2 text such as '{{{{ title }}}}'"
        try:
            names = jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(source))
        except jinja2.TemplateSyntaxError as exc:
            return f"{field}: not a valid Jinja2 text: {exc.message}"
        from bot.push.content import TEMPLATE_NAMES

        unknown = names - set(TEMPLATE_NAMES)
        if unknown:
            return f"{field}: unknown name {', '.join(sorted(unknown))} (use {', '.join(TEMPLATE_NAMES)})"
    return None


def _display_units(value: Any) -> str | None:
    from bot.market.units import setting_problem

    return setting_problem(value)


def _dates(value: Any) -> str | None:
    for i, item in enumerate(value):
        try:
            as_date(item)
        except ValueError:
            return f"[{i}]: {item!r} is not a date (YYYY-MM-DD)"
    return None


def as_date(item: Any) -> date:
    """A YAML date or a 'YYYY-MM-DD' text as a date (ValueError otherwise)."""
    if isinstance(item, date):
        return item
    return date.fromisoformat(str(item).strip())


def _robots(value: Any) -> str | None:
    names = set()
    for i, robot in enumerate(value):
        if not isinstance(robot, dict) or set(robot) != {"name", "webhook"}:
            return f"[{i}] must be a mapping with exactly the keys name and webhook"
        if not isinstance(robot["name"], str) or not robot["name"]:
            return f"[{i}].name must be a non-empty text"
        if robot["name"] in names:
            return f"[{i}].name {robot['name']!r} is used twice"
        names.add(robot["name"])
        if not str(robot["webhook"]).startswith(("http://", "https://")):  # not shown: the URL holds the key
            return f"[{i}].webhook must start with http:// or https:// (the robot's webhook address)"
    return None
def _trusted_proxies(value: Any) -> str | None:
    from bot.proxies import address_problem

    return address_problem(value)


def _not_negative(value: Any) -> str | None:
    return None if value >= 0 else "must not be negative"


def _log_level(value: Any) -> str | None:
    levels = ("DEBUG", "INFO", "WARNING", "ERROR")
    return None if str(value).upper() in levels else f"must be one of {', '.join(levels)}"


def _log_format(value: Any) -> str | None:
    return None if value in ("text", "json") else f"must be text or json, not {value!r}"


# key path -> (type, default, extra check). Every key the bot reads is listed here.
SCHEMA: dict[str, tuple[type | tuple[type, ...], Any, Callable[[Any], str | None] | None]] = {
    "database_url": (str, DEFAULT_DATABASE_URL, _database_url),
    "timezone": (str, "Asia/Shanghai", _timezone),
    "language": (str, "zh", _language),
    "admins": (list, [], None),
    "default_products": (list, ["PrNd-oxide", "PrNd-metal", "Dy-oxide", "DyFe", "Tb-oxide", "Tb-metal",
                                "Er-oxide", "Ho-oxide", "Gd-oxide"], _product_codes),
    "public_base_url": (str, "", _base_url),
    "redis_url": (str, "", _redis_url),  # optional: tokens, de-duplication and rate counters shared in Redis
    "redis_prefix": (str, "rebot:", None),
    "server.host": (str, "127.0.0.1", None),
    "server.port": (int, 8000, _positive),
    "server.max_body_bytes": (int, 64 * 1024, _positive),
    "server.trusted_proxies": (list, [], _trusted_proxies),
    "server.body_timeout_seconds": ((int, float), 10.0, _positive),
    "server.threads": (int, 4, _positive),  # gunicorn's --threads: callbacks keep one free (bot.channels.inbound)
    "dedup.retention_hours": ((int, float), 48, _positive),
    "logging.level": (str, "INFO", _log_level),
    "logging.format": (str, "text", _log_format),
    "wechat.token": (str, "", None),
    "wechat.app_id": (str, "", None),
    "wechat.app_secret": (str, "", None),
    "wechat.encoding_aes_key": (str, "", _aes_key),
    "wechat.api_base_url": (str, "https://api.weixin.qq.com", _http_url),
    "wechat.max_clock_skew": (int, 300, _positive),
    "wechat.accept_plaintext": (bool, False, None),
    "wechat.reply_wait_seconds": ((int, float), 4.0, _positive),
    "wechat.reply_budget_seconds": ((int, float), 4.0, _positive),
    "wechat.menu.commands": (dict, {}, None),
    "wechat.menu.button": (list, [], None),
    "wechat.qrcode_image_url": (str, "https://mp.weixin.qq.com/cgi-bin/showqrcode", _http_url),  # checked in full by `rebot menu check` (bot/account/menu.py)
    "wechat.token_endpoint": (str, "token", _one_of("token", "stable")),
    "wecom.corp_id": (str, "", None),
    "wecom.agent_id": (int, 0, None),
    "wecom.secret": (str, "", None),
    "wecom.token": (str, "", None),
    "wecom.encoding_aes_key": (str, "", _aes_key),
    "wecom.api_base_url": (str, "https://qyapi.weixin.qq.com", _http_url),
    "robots": (list, [], _robots),
    "http.timeout_seconds": ((int, float), 5.0, _positive),
    "push.daily.cron": (str, "30 17 * * *", _cron),  # non-trading days are skipped (bot/market/calendar.py)
    "push.daily.misfire_grace_seconds": (int, 3600, _positive),
    "push.news_count": (int, 3, _positive),
    "push.workers": (int, 8, _positive),
    "push.batch_size": (int, 500, _positive),
    "push.max_attempts": (int, 4, _positive),
    "push.backoff_seconds": ((int, float), 1.0, _positive),
    "push.lease_seconds": (int, 60, _positive),
    "push.outage_seconds": ((int, float), 600, _positive),
    "push.resume_within_hours": ((int, float), 12, _positive),
    "push.wechat.mode": (str, "template", _one_of("template", "custom", "mass")),
    "push.wechat.template_id": (str, "", None),
    "push.wechat.template_fields": (dict, {}, _template_fields),
    "push.wechat.template_url": (str, "", None),
    "push.wechat.mass_tag_id": (int, 0, None),
    "push.wechat.rate_per_second": ((int, float), 200.0, _positive),
    "push.wecom.rate_per_second": ((int, float), 50.0, _positive),
    "push.wecom.duplicate_check_seconds": (int, 14400, _positive),
    "push.wecom.avoid_peak": (bool, True, None),
    "push.robot.per_minute": (int, 20, _positive),
    "push.delivery": (str, "inline", _one_of("inline", "workers")),
    "worker.claim_seconds": (int, 60, _positive),
    "worker.idle_seconds": ((int, float), 2.0, _positive),
    "scheduler.leader_seconds": (int, 30, _positive),
    "sources": (list, [], None),  # entries checked one by one in _cross_checks (bot.ingest.sources)
    "ingest.max_jump_pct": ((int, float), 15, _positive),
    "ingest.timeout": ((int, float), 10.0, _positive),
    "ingest.retries": (int, 2, _not_negative),
    "ingest.backoff": ((int, float), 1.0, _not_negative),
    "ingest.max_bytes": (int, 5 * 1024 * 1024, _positive),
    "ingest.concurrency": (int, 4, _positive),
    "ingest.user_agent": (str, "rebot/0.1 (rare-earth market data fetcher)", None),
    "admin.secure_cookies": (bool, False, None),
    "admin.session_hours": (int, 12, _positive),
    "admin.lockout_attempts": (int, 5, _positive),
    "admin.lockout_minutes": (int, 15, _positive),
    "admin.page_size": (int, 50, _positive),
    "admin.max_password_checks": (int, 2, _positive),
    "alerts.max_per_user": (int, 20, _positive),
    "alerts.hysteresis_pct": ((int, float), 1, _not_negative),
    "alerts.cooldown_minutes": (int, 0, _not_negative),
    "charts.default_days": (int, 30, _positive),
    "display.units": (dict, {}, _display_units),
    "calendar.extra_holidays": (list, [], _dates),
    "calendar.extra_workdays": (list, [], _dates),
    "chat.max_chars": (int, 500, _positive),
}
SECRETS = {"wechat.token", "wechat.app_secret", "wechat.encoding_aes_key", "database_url",
           "wecom.secret", "wecom.token", "wecom.encoding_aes_key", "robots", "redis_url"}
_KIND_NAMES = {str: "text (quote it in YAML if it looks like a number)", int: "a whole number", bool: "true or false",
               list: "a list", dict: "a mapping of keys to values", (int, float): "a number"}


_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def env_name(key: str) -> str:
    """The environment variable that overrides `key`, e.g. REBOT_WECHAT_TOKEN."""
    return "REBOT_" + key.replace(".", "_").upper()


class Config:
    """Validated settings; read them as `config["wechat.token"]`."""

    def __init__(self, values: dict[str, Any], source: str = "defaults"):
        self._values = values
        self.source = source
        self._admins = frozenset(admin_entry(a) for a in values.get("admins", []))

    def is_admin(self, channel: str, user_id: str) -> bool:
        """Whether `user_id` on `channel` is in `admins` (a bare id there means the Official Account)."""
        return (channel, user_id) in self._admins

    def admin_ids(self, channel: str) -> list[str]:
        return sorted(user for on, user in self._admins if on == channel)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self["timezone"])

    def redacted(self) -> dict[str, Any]:
        """The settings with secrets masked, for printing."""
        from sqlalchemy.engine import make_url

        shown = {k: ("***" if k in SECRETS and v else v) for k, v in self._values.items()}
        shown["database_url"] = make_url(self["database_url"]).render_as_string(hide_password=True)
        return shown


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and path not in SCHEMA:
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def _from_env(key: str, kind, raw: str) -> Any:
    if kind is list and raw.lstrip().startswith("["):  # a YAML list, e.g. REBOT_ROBOTS='[{name: a, webhook: …}]'
        return yaml.safe_load(raw)
    if kind is list:
        return [item.strip() for item in raw.split(",") if item.strip()]
    if kind is dict:
        return yaml.safe_load(raw) or {}
    if kind is bool:
        if raw.strip().lower() not in _BOOLEANS:
            raise ValueError(raw)
        return _BOOLEANS[raw.strip().lower()]
    if kind is int:
        return int(raw)
    if kind == (int, float):
        return float(raw)
    return raw


def build_config(data: dict | None = None, environ: dict[str, str] | None = None, source: str = "defaults") -> Config:
    """Merge defaults, `data` (nested or dotted keys) and REBOT_* variables; raise ConfigError naming bad keys."""
    environ = os.environ if environ is None else environ
    errors: list[str] = []
    flat = _flatten(data or {})
    values = {key: default for key, (_kind, default, _check) in SCHEMA.items()}
    for key, value in flat.items():
        if key not in SCHEMA and any(k.startswith(key + ".") for k in SCHEMA):
            inner = sorted({k[len(key) + 1:].split(".")[0] for k in SCHEMA if k.startswith(key + ".")})
            errors.append(f"{key}: must be a section with the keys {', '.join(inner)}, not {type(value).__name__}")
            continue
        if key not in SCHEMA:
            # A key put in the wrong section (api_base_url) matches the ends of the right ones.
            hint = [k for k in SCHEMA if k.endswith("." + key)] or difflib.get_close_matches(key, SCHEMA, n=1)
            errors.append(f"{key}: unknown key" + (f" (did you mean {' or '.join(hint)}?)" if hint else ""))
            continue
        values[key] = value
    known = {env_name(key) for key in SCHEMA} | {"REBOT_CONFIG"}
    # REBOT_TEST_* variables belong to the test suite, not to the bot.
    for name in sorted(n for n in environ if n.startswith("REBOT_") and n not in known
                       and not n.startswith("REBOT_TEST_")):
        hint = difflib.get_close_matches(name, known, n=1)
        errors.append(f"{name}: unknown environment variable" + (f" (did you mean {hint[0]}?)" if hint else ""))
    for key, (kind, _default, _check) in SCHEMA.items():
        raw = environ.get(env_name(key))
        if raw is not None:
            try:
                values[key] = _from_env(key, kind, raw)
            except (ValueError, yaml.YAMLError):
                shown = env_name(key) if key in SECRETS else f"{env_name(key)}={raw!r}"  # never print a secret
                errors.append(f"{key}: {shown} is not {_KIND_NAMES.get(kind, 'a number')}")
    for key, (kind, _default, check) in SCHEMA.items():
        value = values[key]
        if key in flat and value is None:
            errors.append(f"{key}: must not be empty")
            continue
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            shown = "" if key in SECRETS else f" {value!r}"  # never print a secret
            errors.append(f"{key}: must be {_KIND_NAMES.get(kind, 'a number')}, not {type(value).__name__}{shown}")
            continue
        problem = check(value) if check else None
        if problem:
            errors.append(f"{key}: {problem}")
    errors.extend(_cross_checks(values))
    if errors:
        raise ConfigError(errors)
    return Config(values, source)


def _cross_checks(values: dict[str, Any]) -> list[str]:
    errors = []
    if values["wechat.encoding_aes_key"] and not values["wechat.app_id"]:
        errors.append("wechat.app_id: required when wechat.encoding_aes_key is set (encrypted mode checks it)")
    if values["wechat.encoding_aes_key"] and not values["wechat.token"]:
        errors.append("wechat.token: required when wechat.encoding_aes_key is set")
    for i, admin in enumerate(values["admins"] if isinstance(values["admins"], list) else []):
        if not isinstance(admin, str) or not admin:
            errors.append(f"admins[{i}]: must be a user id with its channel, e.g. wechat:oXXXX or wecom:zhangsan")
        elif ":" in admin and (admin.partition(":")[0] not in ADMIN_CHANNELS or not admin.partition(":")[2]):
            errors.append(f"admins[{i}]: {admin!r} must be CHANNEL:ID with CHANNEL one of "
                          f"{', '.join(ADMIN_CHANNELS)} (wechat:oXXXX, wecom:zhangsan)")
    if values["wecom.encoding_aes_key"] and not (values["wecom.corp_id"] and values["wecom.token"]):
        errors.append("wecom.corp_id: wecom.corp_id and wecom.token are required when wecom.encoding_aes_key is set")
    if values["wecom.corp_id"] and not values["wecom.agent_id"]:
        errors.append("wecom.agent_id: required when wecom.corp_id is set (the app's AgentId)")
    if values["push.wecom.duplicate_check_seconds"] > 14400:
        errors.append("push.wecom.duplicate_check_seconds: WeCom allows at most 14400 (4 hours)")
    from bot.ingest.sources import source_errors

    errors.extend(source_errors(values["sources"]))
    commands = values["wechat.menu.commands"]
    if isinstance(commands, dict):
        for key, command in commands.items():
            if not isinstance(command, str) or not command.strip():
                errors.append(f"wechat.menu.commands.{key}: must be the command text to run")
    return errors


def push_problems(config: Config) -> list[str]:
    """What `rebot push daily` would refuse or get wrong with this configuration, one line per key."""
    problems = []
    wechat = config["wechat.app_id"] and config["wechat.app_secret"]
    if wechat and config["push.wechat.mode"] == "template":
        if not config["push.wechat.template_id"]:
            problems.append("push.wechat.template_id: required when push.wechat.mode is template "
                            "(the template applied for in the console, see docs/operations.md)")
        if not (config["public_base_url"] or config["push.wechat.template_url"]):
            problems.append("public_base_url: required when push.wechat.mode is template: the message opens "
                            "/m/summary/<date> for the full table (or set push.wechat.template_url)")
    if wechat and config["push.wechat.mode"] == "mass" and not config["push.wechat.mass_tag_id"]:
        problems.append("push.wechat.mass_tag_id: required when push.wechat.mode is mass (the tag to send to)")
    if config["wecom.corp_id"] and not config["wecom.secret"]:
        problems.append("wecom.secret: required to push to WeCom members when wecom.corp_id is set")
    return problems


def config_warnings(config: Config, today: date) -> list[str]:
    """Things that work but probably not as meant (shown by `rebot check-config`)."""
    from bot.market.calendar import coverage_warning

    warnings = [f"admins[{i}]: {admin!r} names no channel: read as wechat:{admin} (the Official Account); "
                f"write wechat:{admin} or wecom:{admin}" for i, admin in enumerate(config["admins"]) if ":" not in admin]
    extra = [as_date(d) for d in config["calendar.extra_holidays"] + config["calendar.extra_workdays"]]
    warning = coverage_warning(today, extra)
    if warning:
        warnings.append(warning)
    return warnings


ADMIN_CHANNELS = ("wechat", "wecom", "console")  # console: `rebot chat --user NAME`


def admin_entry(entry: str) -> tuple[str, str]:
    """('wecom', 'zhangsan') for 'wecom:zhangsan'; a bare id is the Official Account's: ('wechat', id)."""
    channel, _, user = str(entry).partition(":")
    return (channel, user) if user else ("wechat", channel)


def config_path(explicit: str | None = None, environ: dict[str, str] | None = None) -> Path | None:
    """--config, else REBOT_CONFIG, else ./config.yaml if present, else None (built-in defaults)."""
    environ = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if environ.get("REBOT_CONFIG"):
        return Path(environ["REBOT_CONFIG"])
    local = Path("config.yaml")
    return local if local.exists() else None


def load_config(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Config:
    """Load and validate the configuration from `path` (or the default places)."""
    found = config_path(str(path) if path else None, environ)
    if found is None:
        return build_config({}, environ)
    try:
        data = yaml.safe_load(found.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError([f"config file {found} does not exist"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"config file {found} cannot be read: {exc}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{found}: not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{found}: the top level must be a mapping of keys"])
    return build_config(data, environ, source=str(found))
