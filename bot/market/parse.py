"""What a chat message asks for: a pure function from text, the catalog and today's date to a Request.

No database, network or language model. The words live in bot/data/nlu.<language>.yaml; products are found
by the catalog matcher (bot/market/names.py); traditional Chinese is read through OpenCC, typos of English
names through RapidFuzz (never towards another element), Chinese numerals through cn2an. The command
grammar (`price PrNd`, `alert PrNd > 460000`, `news 5` …) is one of the forms understood. Every pattern that
sees the text is a set of literal alternatives or a simple character-class run: linear in the text's length.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from importlib import resources

import cn2an
import opencc
import yaml
from rapidfuzz import fuzz, process

from bot.market.catalog import Catalog
from bot.market.names import ProductNames, element, spellings

LANGUAGES = ("zh", "en")
MAX_CHARS = 500  # the caller caps at chat.max_chars; this only keeps a stray call cheap
_CJK = re.compile(r"[\u3400-\u9fff]")
_EDGE = " \t\r\n:;,.!?。！？，；：、\"'“”‘’~～"
_ARABIC = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_HANZI_NUM = "零〇一二两三四五六七八九十百千万亿点"
_NUMBER = re.compile(rf"(?<![0-9A-Za-z.])(?:(?P<a>{_ARABIC})\s*(?P<mult>million|mln|mn|万|千|[kKmMwW](?![a-zA-Z]))?"
                     rf"|(?P<h>[{_HANZI_NUM}]+))(?P<pct>\s*%)?")
_MULT = {"million": 1_000_000, "mln": 1_000_000, "mn": 1_000_000, "m": 1_000_000, "万": 10_000, "w": 10_000,
         "千": 1000, "k": 1000}
_ISO = re.compile(r"(?<!\d)(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?(?!\d)")
_MONTH_DAY = re.compile(r"(?<![\d.])(\d{1,2})\s*(?:月\s*(\d{1,2})\s*[日号]?|/(\d{1,2}))(?![\d/])")
_MONTHS = {m: i for i, names in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
     ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
     ("dec", "december")], start=1) for m in names}
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
_EN_DATE = re.compile(rf"\b(?:(?P<m1>{_MONTH_NAMES})\.?\s+(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?|(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+"
                      rf"(?:of\s+)?(?P<m2>{_MONTH_NAMES}))\b(?:,?\s*(?P<y>\d{{4}})\b)?", re.I)
_PERIOD_NUM = rf"(?P<n>\d+|[{_HANZI_NUM}]+)\s*"
_ENGLISH = re.compile(r"[A-Za-z]{2,}")
_METAL_AFTER = re.compile(r"\s?(金属|metal)(?![a-z])", re.I)
_SEPARATORS = re.compile(r"[\s,，、;；/&+]+")


@dataclass(frozen=True)
class Request:
    """What a message asks for. `products` are catalog codes; `since` is the reference date of a period (the
    change is from the quote on or before it), `days` its length; `kind` of an alert: above, below or move
    (`direction` up/down for a move in one direction); `count`: news items or the alert number."""

    intent: str
    language: str
    products: tuple[str, ...] = ()
    date: date | None = None
    since: date | None = None
    days: int | None = None
    kind: str | None = None
    direction: str | None = None
    threshold: Decimal | None = None
    count: int | None = None
    keyword: str = ""
    keywords: tuple[str, ...] = ()  # the keyword and its glossary translations
    args: str = ""  # admin / help: the raw argument text
    guessed: bool = False
    understood: str = ""  # "按 氧化镨钕 价格回答" when guessed
    suggestions: tuple[str, ...] = ()  # product codes: the closest quoted ones, or what a typo may have meant
    term: str = ""  # the out-of-scope thing named
    corrected: bool = False  # a word was read as another (pirce → price, terbuim → terbium, 镨女 → 镨钕)


@dataclass
class _Lexicon:
    """The words of both languages, from the YAML files."""

    intents: dict[str, str] = field(default_factory=dict)  # phrase -> intent
    fillers: set[str] = field(default_factory=set)
    directions: dict[str, str] = field(default_factory=dict)
    periods: dict[str, object] = field(default_factory=dict)
    period_units: dict[str, int] = field(default_factory=dict)
    days_ago: dict[str, int] = field(default_factory=dict)
    weekdays: dict[str, int] = field(default_factory=dict)
    last_week: list[str] = field(default_factory=list)
    out_of_scope: dict[str, tuple[str, ...]] = field(default_factory=dict)
    slips: dict[str, str] = field(default_factory=dict)
    glossary: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ambiguous: set[str] = field(default_factory=set)


INTENTS = ("admin", "alert_delete", "alerts_list", "alert", "unsubscribe", "subscribe", "my", "help", "news", "change",
           "trend", "compare", "summary", "price", "greeting", "thanks")
DIRECTIONS = ("above", "below", "up", "down")


class LexiconError(ValueError):
    """A data file an analyst edited says something the parser cannot use; the message names file and key."""


@functools.cache
def lexicon() -> _Lexicon:
    lex = _Lexicon()
    for language in LANGUAGES:
        name = f"nlu.{language}.yaml"
        data = yaml.safe_load(resources.files("bot").joinpath(f"data/{name}").read_text("utf-8"))
        _check(name, data)
        for intent, phrases in data["intents"].items():
            for phrase in phrases:
                lex.intents.setdefault(str(phrase).lower(), intent)
        lex.fillers.update(str(w).lower() for w in data["fillers"])
        for kind, phrases in data["directions"].items():
            lex.directions.update({str(p).lower(): kind for p in phrases})
        lex.periods.update({k.lower(): v for k, v in data["periods"].items()})
        lex.period_units.update({k.lower(): v for k, v in data["period_units"].items()})
        lex.days_ago.update(data["days_ago"])
        lex.weekdays.update(data["weekdays"])
        lex.last_week.extend(data["last_week"])
        lex.out_of_scope.update({k.lower(): tuple(v) for k, v in data["out_of_scope"].items()})
        lex.slips.update(data.get("slips", {}))
        lex.ambiguous.update(data.get("ambiguous_symbols", []))
        for term, translations in data["glossary"].items():
            lex.glossary.setdefault(term.lower(), ())
            lex.glossary[term.lower()] += tuple(translations)
            for other in translations:  # both ways
                lex.glossary[other.lower()] = (*lex.glossary.get(other.lower(), ()), term)
    return lex


def _check(name: str, data) -> None:
    """Every list holds words (YAML reads a bare yes/no/on/off as true/false), every key is one the parser knows."""
    def fail(where: str, problem: str):
        raise LexiconError(f"bot/data/{name}: {where}: {problem}")

    if not isinstance(data, dict):
        fail("top level", "expected a mapping of sections")
    for section in ("intents", "fillers", "directions", "periods", "period_units", "days_ago", "weekdays",
                    "last_week", "out_of_scope", "glossary"):
        if section not in data:
            fail(section, "section missing")
    for intent in data["intents"]:
        if intent not in INTENTS:
            fail(f"intents.{intent}", f"unknown intent (one of: {', '.join(INTENTS)})")
    for direction in data["directions"]:
        if direction not in DIRECTIONS:
            fail(f"directions.{direction}", f"unknown direction (one of: {', '.join(DIRECTIONS)})")
    lists = [(f"intents.{k}", v) for k, v in data["intents"].items()] + \
        [(f"directions.{k}", v) for k, v in data["directions"].items()] + [("fillers", data["fillers"])] + \
        [(f"glossary.{k}", v) for k, v in data["glossary"].items()] + \
        [(f"out_of_scope.{k}", v) for k, v in data["out_of_scope"].items()]
    for where, words in lists:
        if not isinstance(words, list):
            fail(where, "expected a list [a, b]")
        for word in words:
            if not isinstance(word, (str, int)) or isinstance(word, bool):
                fail(where, f"{word!r} is not a word: put it in quotes (\"on\", \"no\")")
    for key, value in data["periods"].items():
        if value not in ("week", "month", "year") and not (isinstance(value, int) and value > 0):
            fail(f"periods.{key}", "expected week, month, year or a number of days")


def _alternation(phrases, *, words: bool) -> re.Pattern:
    """Literal phrases, longest first; English ones whole words only."""
    ordered = sorted({p for p in phrases if p}, key=len, reverse=True)
    parts = []
    for p in ordered:
        body = r"\s*".join(re.escape(w) for w in p.split())
        parts.append(rf"(?<![a-z0-9]){body}(?![a-z0-9])" if words and p[0].isascii() and p[0].isalnum() else body)
    return re.compile("|".join(parts) or "(?!)", re.I)


@functools.cache
def _patterns():
    lex = lexicon()
    units = sorted(lex.period_units, key=len, reverse=True)
    return {
        "intents": _alternation(lex.intents, words=True),
        "directions": _alternation(lex.directions, words=True),
        "periods": _alternation(lex.periods, words=True),
        "period_n": re.compile(rf"(?<![0-9A-Za-z.]){_PERIOD_NUM}(?P<unit>{'|'.join(map(re.escape, units))})(?![a-z])",
                               re.I),
        "days_ago": _alternation(lex.days_ago, words=True),
        "weekday": re.compile(rf"(?<![a-z])(?P<last>{'|'.join(map(re.escape, lex.last_week))})?\s*"
                              rf"(?P<day>{'|'.join(sorted(map(re.escape, lex.weekdays), key=len, reverse=True))})"
                              r"(?:day)?(?![a-z])", re.I),
        "out_of_scope": _alternation(lex.out_of_scope, words=True),
        "fillers": _alternation(lex.fillers, words=True),
    }


_t2s = opencc.OpenCC("t2s")


def normalise(text: str) -> str:
    """NFKC (full-width to half-width), traditional to simplified Chinese, one space, no edge punctuation."""
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS])
    if _CJK.search(text):
        text = _t2s.convert(text)
    text = " ".join(text.split())
    return "?" if text.strip() == "?" else text.strip(_EDGE)


class Parser:
    """parse(text, today) for one catalog version, memoised: a text is parsed once per catalog and day."""

    CACHED = 4096

    def __init__(self, catalog: Catalog, version: object = None):
        self.catalog = catalog
        self.version = version
        self.names = ProductNames(catalog, strict=False)
        self._aliases = {}  # folded English spelling (typo candidates) -> code
        for name, code in spellings(catalog):
            key = name.lower()
            if key.isascii() and len(key) >= 5:
                self._aliases.setdefault(key, code)
        self.parse = functools.lru_cache(maxsize=self.CACHED)(self._parse)

    def _parse(self, text: str, today: date) -> Request:
        return parse(text, self, today)


def parse(raw: str, parser: Parser, today: date) -> Request:
    """The Request `raw` makes, read against `parser`'s catalog, with relative dates from `today`.

    The parts are taken from the text in turn (products, date, alert line, period, intent words, count,
    out-of-scope term); each part covers its characters so the next cannot read them again."""
    lex, pat = lexicon(), _patterns()
    text = normalise(raw)
    language = "zh" if _CJK.search(text) else ("en" if re.search(r"[A-Za-z]", text) else "")
    if not text:
        return Request("empty", language)
    head = _head(text.lower())
    if head in ("admin", "管理", "help", "帮助", "菜单", "命令", "menu", "commands", "?"):
        return Request("admin" if head in ("admin", "管理") else "help", language,
                       args=text[len(head):].strip(_EDGE))

    work = _fix_typos(_slips(text, parser, lex), parser, lex)
    guessed = work != text
    reading = _Reading(work)
    products, spelled = _products(reading, parser, lex)
    if language == "en" and not _ENGLISH.search(reading.rest()):
        language = ""  # product names alone ("PrNd", "Dy metal") tell no language: the sender's is used
    day = _find_date(reading, today, pat, lex)
    kind, direction, threshold = _alert_line(reading, pat, lex)
    since = _period(reading, today, pat, lex)
    said = {lex.intents[_phrase(m)] for m in reading.take(pat["intents"])}
    numbers = list(reading.take(_NUMBER))
    count = next((int(m["a"]) for m in numbers if m["a"] and m["a"].isdigit()), None)
    term = next((m.group(0) for m in reading.take(pat["out_of_scope"])), "")
    list(reading.take(pat["fillers"]))
    leftover = reading.rest()

    intent = _intent(said, head, products, threshold if threshold is not None else (numbers or None), day, since,
                     term, leftover)
    if intent == "news":
        keyword = _news_keyword(work, pat)
        return Request("news", language, tuple(products), count=None if keyword else count, keyword=keyword,
                       keywords=_glossary(keyword, lex))
    if intent == "alert_delete":
        return Request("alert_delete", language, count=count)
    if intent == "out_of_scope":
        closest = tuple(c for c in lex.out_of_scope.get(term.lower(), ()) if c in parser.catalog.by_code)
        return Request("out_of_scope", language, term=term, suggestions=closest)
    if intent == "unknown":
        return Request("unknown", language, suggestions=_suggest(leftover or text, parser))
    if intent in _ABOUT_PRODUCTS:
        guessed |= bool(leftover) and bool(products)  # words it could not place were left out
    elif intent not in ("alert_set", "subscribe", "unsubscribe"):
        guessed = False
    return Request(intent, language, tuple(products), date=day, since=since,
                   days=(today - since).days if since else None, kind=kind, direction=direction,
                   threshold=threshold, guessed=guessed, corrected=work != text,
                   understood=_understood(intent, products, parser, language) if guessed else "")


_ABOUT_PRODUCTS = ("price", "compare", "price_on_date", "change", "trend")
_ALERT_HEADS = ("alert", "提醒", "预警", "价格提醒")


class _Reading:
    """The text being read, and which of its characters a part has already taken."""

    def __init__(self, text: str):
        self.text = text
        self.taken = bytearray(len(text))

    def free(self, start: int, end: int) -> bool:
        return not any(self.taken[start:end])

    def take_span(self, start: int, end: int) -> None:
        self.taken[start:end] = b"\x01" * (end - start)

    def take(self, pattern: re.Pattern):
        """The matches of `pattern` on characters not yet taken, each taken as it is handed out."""
        at = 0
        while (m := pattern.search(self.text, at)) is not None:
            if self.free(m.start(), m.end()):
                self.take_span(m.start(), m.end())
                yield m
                at = max(m.end(), m.start() + 1)
            else:  # overlaps a taken part ("much is" after "how much"): look again from the next character
                at = m.start() + 1

    def rest(self) -> str:
        """The words nobody took."""
        left = "".join(" " if t else ch for ch, t in zip(self.text, self.taken))
        return " ".join(w for w in _SEPARATORS.split(left.strip(_EDGE + "?")) if w.strip(_EDGE + "?"))


def _phrase(match: re.Match) -> str:
    return " ".join(match.group(0).lower().split())


def _products(reading: _Reading, parser: Parser, lex: _Lexicon) -> tuple[list[str], list[str]]:
    """The product codes named (in order, once each) and their spellings as written."""
    codes: list[str] = []
    spelled: list[str] = []
    text = reading.text
    for m in parser.names.mentions(text):
        name = text[m.start:m.end]
        if name.lower() in lex.ambiguous and name.islower():
            continue  # "la", "er", "y": words before they are symbols
        code, end = m.code, m.end
        metal = _METAL_AFTER.match(text, end)
        if metal and (product := parser.catalog.resolve(name + metal.group(1))):
            code, end = product.code, metal.end()  # Tb金属, Dy metal: the metal
        reading.take_span(m.start, end)
        spelled.append(name)
        if code not in codes:
            codes.append(code)
    return codes, spelled


def _alert_line(reading: _Reading, pat, lex: _Lexicon) -> tuple[str | None, str | None, Decimal | None]:
    """(kind, direction, threshold): a direction word followed by a number (涨到720万, below 1.5M, > 460k,
    跌 3%), or a bare percentage with an up/down word anywhere."""
    text = reading.text
    for m in pat["directions"].finditer(text):
        number = _NUMBER.match(text, _skip_space(text, m.end()))
        if not reading.free(m.start(), m.end()) or number is None or (value := _number(number)) is None:
            continue
        word = lex.directions[_phrase(m)]
        reading.take_span(m.start(), number.end())
        if number["pct"]:
            return "move", {"above": "up", "below": "down"}.get(word, word), value
        return {"up": "above", "down": "below"}.get(word, word), None, value
    for number in reading.take(_NUMBER):
        if number["pct"] and (value := _number(number)) is not None:
            ways = (lex.directions[_phrase(m)] for m in reading.take(pat["directions"]))
            return "move", next((w for w in ways if w in ("up", "down")), None), value
        reading.taken[number.start():number.end()] = bytes(number.end() - number.start())  # not ours: give back
    return None, None, None


def _period(reading: _Reading, today: date, pat, lex: _Lexicon) -> date | None:
    """The reference date of a period in words (这周, this month, 今年) or numbers (90天, 三个月, 6m)."""
    for m in reading.take(pat["periods"]):
        return _period_start(lex.periods[_phrase(m)], today)
    for m in pat["period_n"].finditer(reading.text):
        n = _count(m["n"])
        if n and reading.free(m.start(), m.end()):
            reading.take_span(m.start(), m.end())
            return today - timedelta(days=n * lex.period_units[m["unit"].lower()])
    return None


def _intent(said: set[str], head: str, products, line, day, since, term, leftover: str) -> str:
    """`line`: the alert line read, or a number that may be one (氧化铽45.2万提醒我: no direction)."""
    if "alert_delete" in said:
        return "alert_delete"
    if "alerts_list" in said or (head in _ALERT_HEADS and not products and line is None and not leftover):
        return "alerts_list"  # `alert` alone lists them
    if head in _ALERT_HEADS or (products and line is not None and "alert" in said):
        return "alert_set"  # without a direction or a line the handler explains the form
    for intent in ("unsubscribe", "subscribe"):
        if intent in said:
            return intent
    if "my" in said and not products:
        return "my"
    if "news" in said:
        return "news"
    if products:
        if "change" in said:
            return "change"
        if "trend" in said or (since is not None and "compare" not in said):
            return "trend"
        if day is not None:
            return "price_on_date"
        return "compare" if len(products) > 1 else "price"
    if term:
        return "out_of_scope"
    for intent in ("help", "summary"):
        if intent in said:
            return intent
    if "price" in said and (head or not leftover):
        return "price"  # `price` alone: the followed products
    for intent in ("greeting", "thanks"):
        if intent in said:
            return intent
    return "unknown"


def _head(lowered: str) -> str:
    """The first word (English) or known command word (Chinese) the text starts with."""
    for word in ("admin", "管理", "帮助", "菜单", "命令", "help", "menu", "commands", "alert", "提醒", "预警",
                 "价格提醒", "price", "prices", "价格", "报价", "价钱", "quote", "?"):
        if lowered.startswith(word):
            rest = lowered[len(word):]
            if not rest or not (word.isascii() and word.isalpha() and rest[0].isascii() and rest[0].isalnum()):
                return word
    return ""


def _slips(text: str, parser: Parser, lex: _Lexicon) -> str:
    """镨女 → 镨钕: an input-method slip right after (or before) a Chinese product name, when the corrected
    text names a product there."""
    if not _CJK.search(text):
        return text
    chars = list(text)
    for m in parser.names.mentions(text):
        for at in (m.end, m.start - 1):
            if 0 <= at < len(chars) and chars[at] in lex.slips:
                lo, hi = min(m.start, at), max(m.end, at + 1)
                window = "".join(chars[lo:hi]).replace(chars[at], lex.slips[chars[at]])
                if any(n.start == 0 and n.end == len(window) for n in parser.names.mentions(window)):
                    chars[at] = lex.slips[chars[at]]
    return "".join(chars)


def _fix_typos(text: str, parser: Parser, lex: _Lexicon) -> str:
    """terbuim → terbium, pirce → price: an English word that is no known word, close to exactly one
    element's names (or to one command word), is read as that name."""
    if not re.search(r"[a-z]{4,}", text, re.I):
        return text
    known = lex.intents.keys() | lex.fillers | lex.directions.keys() | lex.out_of_scope.keys() \
        | lex.period_units.keys() | {k.lower() for k in lex.weekdays} | set(_MONTHS) | lex.glossary.keys() \
        | lex.days_ago.keys() | set(lex.last_week) | lex.periods.keys()
    commands = [w for w in lex.intents if w.isascii() and w.isalpha() and len(w) >= 4]
    aliases = list(parser._aliases)
    out = text
    # Hyphenated runs whole ("praseodymium-eodymium"), so that a slip in one half of a pair is not read as
    # the other half alone.
    for token in {m.group(0).lower() for m in re.finditer(r"[a-z]+(?:-[a-z]+)*", text, re.I)}:
        if len(token) < 4 or token in known or parser.names.code_of(token) or token in parser._aliases:
            continue
        if "-" not in token and any(token in alias.split() for alias in aliases):
            continue
        best = process.extract(token, aliases, scorer=fuzz.ratio, limit=5, score_cutoff=75)
        if best and _same_start(token, best[0][0]):
            elements = {element(parser._aliases[alias]) for alias, score, _i in best if score >= best[0][1] - 8}
            if len(elements) == 1:
                out = re.sub(rf"(?i)(?<![a-z-]){re.escape(token)}(?![a-z-])", best[0][0], out, count=1)
                continue
        if "-" in token:
            continue
        near = process.extractOne(token, commands, scorer=fuzz.ratio, score_cutoff=80)
        if near and _same_start(token, near[0]):
            out = re.sub(rf"(?i)(?<![a-z-]){re.escape(token)}(?![a-z-])", near[0], out, count=1)
    return out


def _same_start(word: str, name: str) -> bool:
    return word[:1] == name[:1]


def _find_date(reading: _Reading, today: date, pat, lex) -> date | None:
    """The first date written: 2025-06-04, 6月4日, 6/4, June 3, 昨天, 上周五, last Friday."""
    work = reading.text
    candidates = []
    for m in _ISO.finditer(work):
        candidates.append((m, _date(int(m[1]), int(m[2]), int(m[3]))))
    for m in _MONTH_DAY.finditer(work):
        candidates.append((m, _recent(today, int(m[1]), int(m[2] or m[3]))))
    for m in _EN_DATE.finditer(work):
        month = _MONTHS.get((m["m1"] or m["m2"]).lower())
        if month:
            found = _date(int(m["y"]), month, int(m["d1"] or m["d2"])) if m["y"] else \
                _recent(today, month, int(m["d1"] or m["d2"]))
            candidates.append((m, found))
    for m in pat["days_ago"].finditer(work):
        candidates.append((m, today - timedelta(days=lex.days_ago[m.group(0).lower()])))
    for m in pat["weekday"].finditer(work):
        weekday = lex.weekdays[m["day"].lower()]
        if m["last"] and m["last"] != "last":  # 上周五: Friday of last calendar week
            found = today - timedelta(days=today.weekday() + 7 - weekday)
        else:  # last Friday, 周五: the latest Friday before today
            found = today - timedelta(days=(today.weekday() - weekday - 1) % 7 + 1)
        candidates.append((m, found))
    for m, found in sorted(candidates, key=lambda c: c[0].start()):
        if found is not None and reading.free(m.start(), m.end()):
            reading.take_span(m.start(), m.end())
            return found
    return None


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _recent(today: date, month: int, day: int) -> date | None:
    """The date of this month and day on or before today (last year's when it is still to come)."""
    found = _date(today.year, month, day)
    if found and found > today:
        found = _date(today.year - 1, month, day)
    return found


def _period_start(value, today: date) -> date:
    """The reference date of a period: the day before the week/month/year started, or N days ago."""
    if value == "week":
        return today - timedelta(days=today.weekday() + 1)
    if value == "month":
        return today.replace(day=1) - timedelta(days=1)
    if value == "year":
        return date(today.year - 1, 12, 31)
    return today - timedelta(days=int(value))


def _count(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    try:
        return int(cn2an.cn2an(text, "smart"))
    except (ValueError, KeyError, TypeError):
        return None


def _number(match: re.Match) -> Decimal | None:
    try:
        if match.group("a"):
            value = Decimal(match.group("a").replace(",", ""))
            return value * _MULT.get((match.group("mult") or "").lower(), 1)
        return Decimal(str(cn2an.cn2an(match.group("h"), "smart")))
    except (InvalidOperation, ValueError, KeyError, TypeError):
        return None


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] == " ":
        at += 1
    return at


def _news_keyword(work: str, pat) -> str:
    """What is left of a news request without the news words, fillers and a count: `news PrNd` → PrNd."""
    rest = pat["intents"].sub(" ", work)
    rest = pat["fillers"].sub(" ", rest)
    rest = re.sub(r"(?<![0-9A-Za-z])\d+(?![0-9A-Za-z])", " ", rest)
    return " ".join(w for w in _SEPARATORS.split(rest.strip(_EDGE + "?")) if w.strip(_EDGE + "?"))


def _glossary(keyword: str, lex: _Lexicon) -> tuple[str, ...]:
    if not keyword:
        return ()
    found = [keyword]
    lowered = keyword.lower()
    for term, translations in lex.glossary.items():
        if (term in lowered.split() if term.isascii() else term in lowered):
            found.extend(t for t in translations if t not in found)
    return tuple(found)


def _suggest(text: str, parser: Parser) -> tuple[str, ...]:
    """Products a word that names none may have meant: only when all close names are of one element."""
    words = [w for w in re.findall(r"[a-z]+(?:-[a-z]+)*", text.lower()) if len(w) >= 3]  # a pair whole, as _fix_typos
    for word in words:
        best = process.extract(word, list(parser._aliases), scorer=fuzz.ratio, limit=5, score_cutoff=60)
        if best and len({element(parser._aliases[a]) for a, s, _i in best if s >= best[0][1] - 8}) == 1:
            return (parser._aliases[best[0][0]],)
    return ()


def _understood(intent: str, products, parser: Parser, language: str) -> str:
    names = [parser.catalog.by_code[c].name(language) for c in products if c in parser.catalog.by_code]
    if language == "zh":
        what = {"trend": "走势", "change": "涨跌", "alert_set": "提醒", "subscribe": "订阅",
                "unsubscribe": "退订"}.get(intent, "价格")
        return f"按 {'、'.join(names)} {what}回答"
    what = {"trend": "trend", "change": "change", "alert_set": "alert", "subscribe": "subscription",
            "unsubscribe": "unsubscription"}.get(intent, "price")
    return f"Showing: {', '.join(names)} {what}"
