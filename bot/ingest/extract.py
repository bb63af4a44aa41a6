"""Prices from prose: English and Chinese market reports → quotes (product, low, high, unit).

The extractor never guesses: a price it cannot tie to exactly one product is reported as not
understood (`Extraction.unparsed`), not returned as a quote. Changes ("fell 5,000 yuan/t",
"下滑1万元/吨") and earlier levels ("from 440,000 yuan/t") are recognised and skipped.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from bot.market.catalog import Catalog
from bot.market.names import Mention, ProductNames

UNITS = ("yuan/t", "yuan/kg", "usd/kg")

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_MULT = r"million|mln|mn|thousand|万"
_MULTIPLIERS = {"million": 1_000_000, "mln": 1_000_000, "mn": 1_000_000, "thousand": 1000, "万": 10_000}
_UNIT = r"""
    (?P<cny>(?:元|yuan|rmb|cny)\s*(?:/|per\s+|a\s+)\s*(?:metric\s+)?
        (?P<per>吨|公斤|千克|kilograms?|kg|tonnes?|tons?|mt|t)(?![a-z]))
  | (?P<usd>(?:usd|us\$|dollars?|美元)\s*(?:/|per\s+|a\s+)\s*(?:kilograms?|kg|公斤|千克)(?![a-z]))
  | (?P<perkg>(?:/|per\s+|a\s+)\s*(?:kilograms?|kg)(?![a-z]))
  | (?P<pert>(?:/|per\s+|a\s+)\s*(?:metric\s+)?(?:tonnes?|tons?|mt|t)(?![a-z]))
"""
_AMOUNT = re.compile(rf"""
    (?:(?P<cur>us\$|\$)|(?P<cny_cur>\b(?:rmb|cny)\b|¥))?\s*(?<![\d.,])(?P<a>{_NUM})(?:\s*(?P<ma>{_MULT}))?
    (?:\s*(?P<sep>-|–|—|~|to|至|到)\s*(?:us\$|\$)?\s*(?P<b>{_NUM})(?:\s*(?P<mb>{_MULT}))?)?
    (?:\s*(?P<unit>{_UNIT}))?
""", re.I | re.X)
_LIST_GAP = re.compile(r"\s*(?:[,、]\s*(?:and\s+)?|\s+and\s+|(?:和|及|与|以及))\s*", re.I)
_CHANGE_BEFORE = re.compile(r"""(?:
    \b(?:rose|rise|rises|rising|risen|increased?|increases|increasing|gained?|gains|up|fell|fall|falls|falling|fallen
       |dropped|drops?|declined?|declines|decreased?|decreases|down|lost|slipped|slid|climbed|added|shed|jumped
       |surged|plunged|plummeted|edged\s+(?:up|down)|by|(?:increase|decrease|rise|drop|decline|gain|fall|change|jump|cut)\s+of)
    \s*(?:approximately|about|around|roughly|some|nearly|a\s+further)?\s*
  | (?:上涨|下跌|下滑|下降|下调|上调|上升|回落|回升|反弹|走高|走低|增加|减少|涨幅|跌幅|涨|跌|降|增|减|升)了?(?:约|近)?\s*
)$""", re.I | re.X)
_FROM_BEFORE = re.compile(r"(?:\bfrom\s*(?:approximately|about|around)?|从|由)\s*$", re.I)
_THEN_LEVEL = re.compile(r"\s*,?\s*(?:to|至|到|达到|达)\s*$", re.I)
_RESPECTIVELY = re.compile(r"respectively|分别", re.I)
_SENTENCE_END = re.compile(r"(?<=[。!?;])\s*|(?<=\.)\s+(?=[A-Z\u4e00-\u9fff\"“(])")
_TABLE_SPLIT = re.compile(r"\s*(?:\||\t)\s*")
_HEADER_PRICE = re.compile(r"价格|报价|price|range|区间", re.I)
_HEADER_SKIP = re.compile(r"均价|平均|average|avg|mid|涨跌|change|chg", re.I)
_HEADER_UNIT = re.compile(r"(?P<wan>万)?(?:元|yuan|rmb)\s*/\s*(?P<per>吨|公斤|千克|kg|tonnes?|tons?|mt|t)(?![a-z])|(?P<usd>usd|\$)\s*/\s*kg",
                          re.I)
_MONTHS = {m: i for i, names in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
     ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
     ("dec", "december")], start=1) for m in names}
_DATES = [
    (re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)"), ("y", "m", "d")),
    (re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日"), ("y", "m", "d")),
    (re.compile(r"\b(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b",
                re.I), ("mon", "d", "y")),
    (re.compile(r"\b(\d{1,2})\s+(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?,?\s+(\d{4})\b", re.I),
     ("d", "mon", "y")),
]


@dataclass(frozen=True)
class Quote:
    """A price read from a text: `low`..`high` in `unit` (yuan/t, yuan/kg or usd/kg)."""

    product: str
    low: Decimal
    high: Decimal
    unit: str
    sentence: str
    date: date | None = None

    def as_json(self) -> dict:
        data = {"product": self.product, "low": _number(self.low), "high": _number(self.high),
                "unit": self.unit, "sentence": self.sentence}
        if self.date:
            data["date"] = self.date.isoformat()
        return data


@dataclass(frozen=True)
class Unparsed:
    """A price mention that was not understood, and why."""

    sentence: str
    mention: str
    reason: str

    def as_json(self) -> dict:
        return {"mention": self.mention, "reason": self.reason, "sentence": self.sentence}


@dataclass
class Extraction:
    quotes: list[Quote] = field(default_factory=list)
    unparsed: list[Unparsed] = field(default_factory=list)
    date: date | None = None
    sentences: int = 0


@dataclass
class _Amount:
    start: int
    end: int
    text: str
    a: Decimal
    b: Decimal | None
    mult_a: int | None
    mult_b: int | None
    sep: str | None
    unit: str | None
    grouped: bool  # written with thousands separators (449,000): never scaled by a list's multiplier

    def bounds(self) -> tuple[Decimal, Decimal]:
        mult_a = self.mult_a or self.mult_b or 1
        low = self.a * mult_a
        high = self.b * (self.mult_b or mult_a) if self.b is not None else low
        return low, high


def find_date(text: str) -> date | None:
    """The first calendar date written in `text` (2025-06-11, June 11, 2025, 2025年6月11日), or None."""
    best: tuple[int, date] | None = None
    for pattern, order in _DATES:
        for match in pattern.finditer(text):
            parts = dict(zip(order, match.groups()))
            try:
                month = _MONTHS[parts["mon"].lower()] if "mon" in parts else int(parts["m"])
                found = date(int(parts["y"]), month, int(parts["d"]))
            except (ValueError, KeyError):
                continue
            if best is None or match.start() < best[0]:
                best = (match.start(), found)
            break
    return best[1] if best else None


class Extractor:
    """Reads quotes out of report text, naming products by any spelling in `catalog`."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self._names = ProductNames(catalog)

    def extract(self, text: str, default_date: date | None = None) -> Extraction:
        """Every quote in `text`; the date is the first one written in the text, else `default_date`."""
        text = unicodedata.normalize("NFKC", text)
        result = Extraction(date=find_date(text) or default_date)
        table: tuple[int, str, int] | None = None  # (price column, unit, multiplier) of the table being read
        for line in text.splitlines():
            cells = _TABLE_SPLIT.split(line.strip().strip("|")) if ("|" in line or "\t" in line) else None
            if cells and len(cells) >= 2:
                header = _table_header(cells)
                if header:
                    table = header
                elif table:
                    result.sentences += 1
                    self._table_row(cells, table, line.strip(), result)
                continue
            table = None
            for sentence in _SENTENCE_END.split(line):
                sentence = sentence.strip()
                if sentence:
                    result.sentences += 1
                    self._sentence(sentence, result)
        return result

    def table(self, header: list[str], rows: list[list[str]], day: date | None = None) -> Extraction:
        """Quotes from a price table (产品 | 价格区间(元/吨) | 均价 | 涨跌): the first cell names the product."""
        result = Extraction(date=day)
        spec = _table_header(header)
        if spec is None:
            result.unparsed.append(Unparsed(" | ".join(header), " | ".join(header),
                                            "no price column with a unit in the table header"))
            return result
        for row in rows:
            result.sentences += 1
            self._table_row([unicodedata.normalize("NFKC", c).strip() for c in row], spec, " | ".join(row), result)
        return result

    def _table_row(self, cells: list[str], spec: tuple[int, str, int], line: str, result: Extraction) -> None:
        column, unit, mult = spec
        product = self.catalog.resolve(cells[0])
        if len(cells) <= column:
            return
        match = _AMOUNT.fullmatch(cells[column].strip())
        if product is None or match is None:
            if match is not None or product is not None:
                result.unparsed.append(Unparsed(line, cells[column] if product else cells[0],
                                                "no price in the price column" if product else "unknown product"))
            return
        amount = _amount(match, 0)
        if amount.mult_a is None and amount.mult_b is None:
            amount.mult_a = mult
        low, high = amount.bounds()
        self._add(result, product.code, low, high, unit, line, match.group(0))

    def _sentence(self, sentence: str, result: Extraction) -> None:
        amounts = [_amount(m, m.start()) for m in _AMOUNT.finditer(sentence)]
        if not any(a.unit for a in amounts):
            return
        _inherit_list_units(sentence, amounts)
        levels: list[_Amount] = []
        for i, amount in enumerate(amounts):
            if not amount.unit:
                continue
            before = sentence[amounts[i - 1].end if i else 0:amount.start]
            if _FROM_BEFORE.search(before):
                continue
            if _CHANGE_BEFORE.search(sentence[:amount.start]):
                if amount.sep and amount.sep.lower() in ("to", "至", "到"):
                    amount.a, amount.mult_a, amount.sep = amount.b, amount.mult_b, None  # "fell 5,000 to 443,000"
                    amount.b = None
                    levels.append(amount)
                continue
            following = amounts[i + 1] if i + 1 < len(amounts) else None
            if following and following.unit and _THEN_LEVEL.match(sentence[amount.end:following.start] + " "):
                continue  # "5,000 yuan/t to 443,000 yuan/t": the first is the change
            levels.append(amount)
        mentions = self._mentions(sentence)
        if _RESPECTIVELY.search(sentence) and len(levels) > 1:
            self._respectively(sentence, mentions, levels, result)
            return
        start = 0
        quoted: set[tuple[str, str]] = set()
        for amount in levels:
            segment = [m for m in mentions if start <= m.start and m.end <= amount.start]
            earlier = list(dict.fromkeys(m.code for m in mentions if m.end <= amount.start))
            if segment:
                last = segment[-1]
                if (len(segment) > 1 and segment[-2].code != last.code
                        and _LIST_GAP.fullmatch(sentence[segment[-2].end:last.start])):
                    names = ", ".join(dict.fromkeys(m.code for m in segment))
                    result.unparsed.append(Unparsed(sentence, amount.text, f"one price for several products ({names})"))
                    continue
                code = last.code
            elif len(earlier) == 1 and (earlier[0], amount.unit) not in quoted:
                code = earlier[0]  # "PrNd oxide 449,000 yuan/t, export $62-63/kg": its other series
            else:
                reason = "no product named before the price" if not earlier else "cannot tell which product"
                result.unparsed.append(Unparsed(sentence, amount.text, reason))
                continue
            low, high = amount.bounds()
            if self._add(result, code, low, high, amount.unit, sentence, amount.text):
                quoted.add((code, amount.unit))
                start = amount.end

    def _respectively(self, sentence: str, mentions: list[Mention], levels: list[_Amount],
                      result: Extraction) -> None:
        codes = list(dict.fromkeys(m.code for m in mentions if m.end <= levels[0].start))
        if len(codes) != len(levels):
            result.unparsed.append(Unparsed(sentence, ", ".join(a.text for a in levels),
                                            f"{len(codes)} products but {len(levels)} prices 'respectively'"))
            return
        for code, amount in zip(codes, levels):
            low, high = amount.bounds()
            self._add(result, code, low, high, amount.unit, sentence, amount.text)

    def _add(self, result: Extraction, code: str, low: Decimal, high: Decimal, unit: str, sentence: str,
             mention: str) -> bool:
        if low > high:
            result.unparsed.append(Unparsed(sentence, mention, "the range's low is above its high"))
            return False
        if high > low * Decimal("1.5"):
            result.unparsed.append(Unparsed(sentence, mention, "the range is too wide to be one quote"))
            return False
        result.quotes.append(Quote(code, low, high, unit, sentence, result.date))
        return True

    def _mentions(self, sentence: str) -> list[Mention]:
        return self._names.mentions(sentence)


def _amount(match: re.Match, offset: int) -> _Amount:
    unit = None
    if match.group("cny"):
        unit = "yuan/kg" if match.group("per").lower() in ("公斤", "千克", "kg", "kilogram", "kilograms") else "yuan/t"
    elif match.group("usd") or (match.group("perkg") and match.group("cur")):
        unit = "usd/kg"
    elif match.group("cny_cur") and (match.group("perkg") or match.group("pert")):
        unit = "yuan/kg" if match.group("perkg") else "yuan/t"  # "RMB 7,050 per kg", "¥449,000/t"
    text = match.group(0).strip()
    return _Amount(
        start=offset + (len(match.group(0)) - len(match.group(0).lstrip())),
        end=offset + len(match.group(0).rstrip()),
        text=text,
        a=_decimal(match.group("a")),
        b=_decimal(match.group("b")) if match.group("b") else None,
        mult_a=_MULTIPLIERS[match.group("ma").lower()] if match.group("ma") else None,
        mult_b=_MULTIPLIERS[match.group("mb").lower()] if match.group("mb") else None,
        sep=match.group("sep"),
        unit=unit,
        grouped="," in match.group("a"),
    )


def _inherit_list_units(sentence: str, amounts: list[_Amount]) -> None:
    """"449,000, 305,000 and 1,610,000 yuan/t": the bare figures of a list take the last one's unit."""
    for i in range(len(amounts) - 2, -1, -1):
        amount, following = amounts[i], amounts[i + 1]
        if amount.unit or not following.unit or not _LIST_GAP.fullmatch(sentence[amount.end:following.start]):
            continue
        amount.unit = following.unit
        scale = following.mult_b or following.mult_a
        if scale and amount.mult_a is None and amount.mult_b is None and not amount.grouped and amount.a < 1000:
            amount.mult_a = scale


def _table_header(cells: list[str]) -> tuple[int, str, int] | None:
    for i, cell in enumerate(cells):
        cell = unicodedata.normalize("NFKC", cell)
        if i == 0 or not _HEADER_PRICE.search(cell) or _HEADER_SKIP.search(cell):
            continue
        unit = _HEADER_UNIT.search(cell)
        if unit:
            if unit.group("usd"):
                return i, "usd/kg", 1
            per = unit.group("per").lower()
            return i, ("yuan/kg" if per in ("公斤", "千克", "kg") else "yuan/t"), (10_000 if unit.group("wan") else 1)
    return None


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the regex only lets digits through
        raise ValueError(text) from None


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
