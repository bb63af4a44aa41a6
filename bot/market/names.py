"""Product mentions in free text: the longest catalog spelling that starts at each word.

One matcher for the prose extractor (bot/ingest/extract.py) and the chat parser (bot/market/parse.py), so a
name is read the same way in a report and in a message. Spellings are tried only where a word (or a Chinese
character) starts, longest first, so "neodymium-praseodymium oxide" is one name, never "neodymium" followed
by "praseodymium oxide". Every pattern is a set of literal alternatives: linear in the text's length.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.market.catalog import Catalog

_CJK = re.compile(r"[\u4e00-\u9fff]")
_NAME_START = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]|[\u4e00-\u9fff]")
_MAGNET = re.compile(r"\s*(?:铁硼|FeB)", re.I)  # 钕铁硼 / NdFeB are magnets, not the metal
_PAIR = re.compile(r"^([A-Za-z]{4,})([\s\-]+)([A-Za-z]{4,})(.*)$")
_NOT_ELEMENTS = {"iron", "rare", "earth"}


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    code: str


def element(code: str) -> str:
    """The element (or pair) a product is made of: Dy for Dy-oxide, Dy-metal and DyFe; PrNd for PrNd-oxide."""
    return code.split("-")[0].removesuffix("Fe")


def spellings(catalog: Catalog) -> list[tuple[str, str]]:
    """(spelling, code) for every name of the catalog, plus the pairs written the other way round
    ("neodymium-praseodymium oxide" for "praseodymium-neodymium oxide"): publishers write both."""
    found: dict[str, str] = {}
    for name, code in catalog.names:
        name = unicodedata.normalize("NFKC", name).strip()
        if not name:
            continue
        found.setdefault(name, code)
        pair = _PAIR.match(name)
        if pair and "-" in pair[2] and not {pair[1].lower(), pair[3].lower()} & _NOT_ELEMENTS:
            found.setdefault(f"{pair[3]}-{pair[1]}{pair[4]}", code)
    return list(found.items())


class ProductNames:
    """Finds product mentions in a text. `strict` (reports): element symbols only as written (Pr, Nd, Y);
    otherwise (chat) in any case, as people type `TB PRICE` or `prnd`."""

    def __init__(self, catalog: Catalog, strict: bool = True):
        self.catalog = catalog
        groups: dict[str, list[str]] = {}
        for name, _code in sorted(spellings(catalog), key=lambda nc: len(nc[0]), reverse=True):
            groups.setdefault(name[0].lower(), []).append(_name_pattern(name, strict))
        self._names = {first: re.compile("|".join(patterns)) for first, patterns in groups.items()}
        self._codes: dict[str, str] = {}
        for name, code in spellings(catalog):
            self._codes.setdefault(_key(name), code)

    def code_of(self, spelled: str) -> str | None:
        """The product a matched spelling names."""
        code = self._codes.get(_key(spelled))
        if code:
            return code
        product = self.catalog.resolve(spelled)
        return product.code if product else None

    def mentions(self, text: str) -> list[Mention]:
        """Every product named in `text`, in order; a name is the longest spelling starting at a word."""
        found: list[Mention] = []
        done = 0
        for start in _NAME_START.finditer(text):
            at = start.start()
            pattern = self._names.get(text[at].lower()) if at >= done else None
            match = pattern.match(text, at) if pattern else None
            if match is None or _MAGNET.match(text, match.end()):
                continue
            done = match.end()
            code = self.code_of(match.group(0))
            if code:
                found.append(Mention(match.start(), match.end(), code))
        return found


def _key(name: str) -> str:
    return re.sub(r"[\s\-‐–_/·]+", "", unicodedata.normalize("NFKC", name).lower())


def _name_pattern(name: str, strict: bool) -> str:
    """A regex for one (NFKC) spelling: Chinese as written; English with any hyphen/space between its
    parts, element symbols (Pr, Nd, Y) whole words (case-sensitive when `strict`), longer words in any case."""
    if _CJK.search(name):
        return re.escape(name)
    parts = [p for p in re.split(r"[\s\-_/·]+", name) if p]
    body = r"[\s\-‐–]*".join(re.escape(p) if len(p) <= 2 and strict else f"(?i:{re.escape(p)})" for p in parts)
    return rf"{body}(?![A-Za-z0-9])"  # tried only where a word starts
