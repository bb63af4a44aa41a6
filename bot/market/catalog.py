"""The product catalog: resolve what users type (PrNd, 镨钕, pr-nd …) to one product."""
from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Product

_FOLD = re.compile(r"[\s\-_./·・()（）]+")
_METAL_WORDS = ("metal", "alloy", "金属", "合金")
_OXIDE_WORDS = ("oxide", "氧化物", "氧化")


def fold(text: str) -> str:
    """The matching key of a name: NFKC, lower case, no spaces, hyphens or dots."""
    return _FOLD.sub("", unicodedata.normalize("NFKC", text).lower())


@dataclass(frozen=True)
class ProductInfo:
    code: str
    name_en: str
    name_zh: str
    short_en: str
    unit: str
    group: str

    def name(self, language: str) -> str:
        """The display name: 氧化镨钕 in Chinese, PrNd oxide in English."""
        return self.name_zh if language == "zh" else (self.short_en or self.name_en)


class Catalog:
    """Products and every spelling that names them."""

    def __init__(self, products: list[ProductInfo], aliases: dict[str, str],
                 names: list[tuple[str, str]] | None = None):
        self.products = products
        self.by_code = {p.code: p for p in products}
        self._aliases = aliases
        self.names = names or []  # (spelling as written, code): what the prose extractor looks for

    @classmethod
    def from_session(cls, session: Session) -> "Catalog":
        rows = session.scalars(select(Product).order_by(Product.position, Product.code)).all()
        products = [ProductInfo(r.code, r.name_en, r.name_zh, r.short_en, r.unit, r.group) for r in rows]
        return cls._build(products, [(r.code, [r.code, r.name_en, r.name_zh, *(r.aliases or [])]) for r in rows])

    @classmethod
    def from_entries(cls, entries: list[dict]) -> "Catalog":
        """The catalog from catalog.yaml entries (bot.demo.load_catalog()), without a database."""
        products = [ProductInfo(e["code"], e["en"], e["zh"], e.get("short_en", e["en"]), e["unit"], e["group"])
                    for e in entries]
        return cls._build(products, [(e["code"], [e["code"], e["en"], e["zh"], *e["aliases"]]) for e in entries])

    @classmethod
    def _build(cls, products: list[ProductInfo], spellings: list[tuple[str, list[str]]]) -> "Catalog":
        aliases: dict[str, str] = {}
        names: list[tuple[str, str]] = []
        for code, spelled in spellings:
            for name in spelled:
                aliases.setdefault(fold(name), code)
                names.append((name, code))
        return cls(products, aliases, names)

    def resolve(self, text: str) -> ProductInfo | None:
        """The product `text` names, or None. A bare oxide name with 'metal' names the metal."""
        key = fold(text)
        if not key:
            return None
        code = self._aliases.get(key)
        if code:
            return self.by_code[code]
        for word in _METAL_WORDS:
            for base in (key.removesuffix(word), key.removeprefix(word)):
                if base != key and (found := self._metal_of(base)):
                    return found
        for word in _OXIDE_WORDS:
            for base in (key.removesuffix(word), key.removeprefix(word)):
                if base != key and base in self._aliases:
                    return self.by_code[self._aliases[base]]
        return None

    def _metal_of(self, base: str) -> ProductInfo | None:
        code = self._aliases.get(base)
        if not code:
            return None
        metal = code.replace("-oxide", "-metal")
        return self.by_code.get(metal) if metal != code else self.by_code[code]

    def suggest(self, text: str, limit: int = 1) -> list[ProductInfo]:
        """Products whose names are closest to `text`, best first."""
        key = fold(text)
        if not key:
            return []
        close = difflib.get_close_matches(key, self._aliases, n=limit * 3, cutoff=0.6)
        seen: list[ProductInfo] = []
        for alias in close:
            product = self.by_code[self._aliases[alias]]
            if product not in seen:
                seen.append(product)
        return seen[:limit]
