"""Managing subscribers: find, add, pause/resume, remove, CSV export and import.

One set of functions for the admin console, `rebot subscribers …` and the chat `admin sub` command.
Each raises SubscriberError with a message meant for the person who typed the request.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import Session

from bot.audit import audit
from bot.models import Subscriber

CHANNELS = ("wechat", "wecom", "wecom_robot", "console")  # as in the push ledger
STATUSES = ("active", "paused", "unreachable")
LANGUAGES = ("zh", "en")
CSV_FIELDS = ("channel", "external_id", "display_name", "products", "daily_summary", "status", "language")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs such a cell as a formula
_YES = {"1", "true", "yes", "y", "on", "是"}
_NO = {"0", "false", "no", "n", "off", "", "否"}


class SubscriberError(Exception):
    """A request about subscribers that cannot be done; the message says why."""


@dataclass(frozen=True)
class Page:
    rows: list[Subscriber]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def search(session: Session, text: str = "", channel: str = "", status: str = "", product: str = "",
           page: int = 1, per_page: int = 50) -> Page:
    """Subscribers whose name or id contains `text`, filtered, newest first, one page of them."""
    query = select(Subscriber)
    if text:
        conditions = [Subscriber.display_name.ilike(_like(text), escape="\\"),
                      Subscriber.external_id.ilike(_like(text), escape="\\")]
        if _row_id(text) is not None:
            conditions.append(Subscriber.id == _row_id(text))
        query = query.where(or_(*conditions))
    if channel:
        query = query.where(Subscriber.channel == channel)
    if status:
        query = query.where(Subscriber.status == status)
    if product:
        # products is a JSON list stored as text ["A", "B"] on SQLite and PostgreSQL alike: match the quoted code.
        query = query.where(cast(Subscriber.products, String).like(_like(f'"{product}"'), escape="\\"))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page, pages = max(1, page), max(1, -(-total // per_page))
    if page > pages:
        raise SubscriberError(f"there is no page {page:,} (the list has {pages:,})")
    rows = list(session.scalars(query.order_by(Subscriber.id.desc()).offset((page - 1) * per_page).limit(per_page)))
    return Page(rows, total, page, per_page)


def _row_id(text: str) -> int | None:
    """`text` as a row id (1 to 2**31 - 1, what the databases store), else None."""
    return int(text) if text.isascii() and text.isdecimal() and len(text) <= 10 and int(text) < 2 ** 31 else None


def _like(text: str) -> str:
    """A LIKE pattern for "contains `text`", its wildcards escaped with a backslash."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def find(session: Session, ref: str | int) -> Subscriber:
    """The subscriber with id `ref`, or external id `ref` ("channel:external_id" when it is on several)."""
    ref = str(ref).strip()
    if _row_id(ref) is not None:
        found = session.get(Subscriber, _row_id(ref))
        if found is not None:
            return found
    channel, _, external = ref.partition(":")
    if external and channel in CHANNELS:
        matches = list(session.scalars(select(Subscriber).where(Subscriber.channel == channel,
                                                                Subscriber.external_id == external)))
    else:
        matches = list(session.scalars(select(Subscriber).where(Subscriber.external_id == ref)))
    if len(matches) > 1:
        options = ", ".join(f"{s.channel}:{s.external_id}" for s in matches)
        raise SubscriberError(f"{ref!r} is on several channels; say which: {options}")
    if not matches:
        raise SubscriberError(f"no subscriber {ref!r} (give the number from the list or the user id)")
    return matches[0]


def check_products(codes: Iterable[str], known: Iterable[str]) -> list[str]:
    """The codes, de-duplicated, or SubscriberError naming the unknown ones."""
    known = set(known)
    codes = list(dict.fromkeys(c.strip() for c in codes if c.strip()))
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise SubscriberError(f"unknown product code {', '.join(unknown)} (codes look like PrNd-oxide)")
    return codes


def add(session: Session, actor: str, channel: str, external_id: str, known_products: Iterable[str],
        display_name: str = "", products: Iterable[str] = (), language: str = "zh",
        daily_summary: bool = True) -> Subscriber:
    """A new active subscriber; SubscriberError when the fields are wrong or it exists already."""
    external_id = external_id.strip()
    if channel not in CHANNELS:
        raise SubscriberError(f"unknown channel {channel!r} (one of {', '.join(CHANNELS)})")
    if not external_id:
        raise SubscriberError("the user id must not be empty")
    if language not in LANGUAGES:
        raise SubscriberError(f"language must be zh or en, not {language!r}")
    codes = check_products(products, known_products)
    exists = session.scalar(select(Subscriber).where(Subscriber.channel == channel,
                                                     Subscriber.external_id == external_id))
    if exists is not None:
        raise SubscriberError(f"{channel}:{external_id} is already subscriber {exists.id}")
    sub = Subscriber(channel=channel, external_id=external_id, display_name=display_name.strip(), products=codes,
                     daily_summary=daily_summary, status="active", language=language)
    session.add(sub)
    session.flush()
    audit(session, actor, "subscriber.add", f"subscriber:{sub.id}", channel=channel, external_id=external_id,
          products=codes)
    return sub


def set_status(session: Session, actor: str, sub: Subscriber, status: str) -> bool:
    """Pause or resume (status active/paused); False when it already had that status."""
    if status not in STATUSES:
        raise SubscriberError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    if sub.status == status:
        return False
    action = {"paused": "pause", "active": "resume"}.get(status, "status")
    audit(session, actor, f"subscriber.{action}", f"subscriber:{sub.id}", before=sub.status, after=status)
    sub.status = status
    return True


def set_products(session: Session, actor: str, sub: Subscriber, codes: Iterable[str],
                 known_products: Iterable[str]) -> None:
    codes = check_products(codes, known_products)
    audit(session, actor, "subscriber.products", f"subscriber:{sub.id}", before=list(sub.products or []),
          after=codes)
    sub.products = codes


def remove(session: Session, actor: str, sub: Subscriber) -> None:
    audit(session, actor, "subscriber.remove", f"subscriber:{sub.id}", channel=sub.channel,
          external_id=sub.external_id)
    session.delete(sub)


def counts(session: Session) -> dict[str, dict[str, int]]:
    """{channel: {status: n}} over all subscribers."""
    table: dict[str, dict[str, int]] = {}
    for channel, status, n in session.execute(
            select(Subscriber.channel, Subscriber.status, func.count()).group_by(Subscriber.channel,
                                                                                  Subscriber.status)):
        table.setdefault(channel, {})[status] = n
    return table


def daily_count(session: Session) -> int:
    """Subscribers who get the daily summary: active, with it turned on."""
    return session.scalar(select(func.count()).select_from(Subscriber).where(
        Subscriber.daily_summary.is_(True), Subscriber.status == "active")) or 0


def export_csv(session: Session) -> str:
    """Every subscriber as CSV (products space-separated), oldest first. A cell that a spreadsheet would run
    as a formula (=HYPERLINK(…), +, -, @, tab, CR first) is written as text, behind a ' (import removes it)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180; a CR inside a cell is then quoted too
    writer.writerow(CSV_FIELDS)
    for s in session.scalars(select(Subscriber).order_by(Subscriber.id)):
        writer.writerow([_as_text(v) for v in (s.channel, s.external_id, s.display_name, " ".join(s.products or []),
                                               "yes" if s.daily_summary else "no", s.status, s.language)])
    return out.getvalue()


def _as_text(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _from_text(cell: str) -> str:
    """The value `_as_text` exported."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_START) else cell


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int


def import_csv(session: Session, actor: str, text: str, known_products: Iterable[str]) -> ImportResult:
    """Add or update subscribers from CSV (the export's columns). Every bad row is reported in one
    SubscriberError and then nothing is changed."""
    known = set(known_products)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = reader.fieldnames or []
    missing = [f for f in ("channel", "external_id") if f not in header]
    if missing:
        raise SubscriberError(f"the file has no {', '.join(missing)} column (the first line must name the "
                              f"columns: {','.join(CSV_FIELDS)})")
    unknown_columns = [f for f in header if f not in CSV_FIELDS]
    if unknown_columns:
        raise SubscriberError(f"unknown column {', '.join(unknown_columns)} (known: {','.join(CSV_FIELDS)})")
    errors: list[str] = []
    rows: list[dict] = []
    seen: dict[tuple[str, str], int] = {}
    try:
        records = [{k: _from_text(v) if isinstance(v, str) else v for k, v in r.items()} for r in reader]
    except csv.Error as exc:
        raise SubscriberError(f"not a readable CSV file: {exc}") from None
    for number, record in enumerate(records, start=2):  # line 1 is the header
        problems, row = _check_row(record, known)
        key = (row.get("channel", ""), row.get("external_id", ""))
        if not problems and key in seen:
            problems.append(f"the same subscriber as line {seen[key]}")
        seen.setdefault(key, number)
        errors.extend(f"line {number}: {p}" for p in problems)
        rows.append(row)
    if errors:
        raise SubscriberError("nothing imported; fix these lines:\n" + "\n".join(errors))
    added = updated = 0
    for row in rows:
        sub = session.scalar(select(Subscriber).where(Subscriber.channel == row["channel"],
                                                      Subscriber.external_id == row["external_id"]))
        if sub is None:
            session.add(Subscriber(**{"language": "zh", "daily_summary": True, "status": "active",
                                      "display_name": "", "products": [], **row}))
            added += 1
        else:
            for field, value in row.items():
                setattr(sub, field, value)
            updated += 1
    audit(session, actor, "subscriber.import", "subscribers", added=added, updated=updated)
    return ImportResult(added, updated)


def _check_row(record: dict, known: set[str]) -> tuple[list[str], dict]:
    problems: list[str] = []
    if None in record:
        problems.append("more fields than columns")
    row: dict = {}
    channel = (record.get("channel") or "").strip()
    if channel not in CHANNELS:
        problems.append(f"unknown channel {channel!r} (one of {', '.join(CHANNELS)})")
    row["channel"] = channel
    row["external_id"] = (record.get("external_id") or "").strip()
    if not row["external_id"]:
        problems.append("empty external_id")
    if record.get("display_name") is not None:
        row["display_name"] = record["display_name"].strip()
    if record.get("products") is not None:
        codes = record["products"].replace(",", " ").split()
        unknown = [c for c in codes if c not in known]
        if unknown:
            problems.append(f"unknown product code {', '.join(unknown)}")
        row["products"] = list(dict.fromkeys(codes))
    if record.get("daily_summary") is not None:
        flag = record["daily_summary"].strip().lower()
        if flag in _YES:
            row["daily_summary"] = True
        elif flag in _NO:
            row["daily_summary"] = False
        else:
            problems.append(f"daily_summary must be yes or no, not {record['daily_summary']!r}")
    if record.get("status"):
        if record["status"].strip() not in STATUSES:
            problems.append(f"status must be one of {', '.join(STATUSES)}, not {record['status']!r}")
        row["status"] = record["status"].strip()
    if record.get("language"):
        if record["language"].strip() not in LANGUAGES:
            problems.append(f"language must be zh or en, not {record['language']!r}")
        row["language"] = record["language"].strip()
    return problems, row
