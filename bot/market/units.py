"""Display units as traders speak: 万元/吨 in Chinese (44.9万, 705–709万), yuan/t with separators in English.

Quotes are stored in the product's unit (yuan/t); only what is shown changes. `display.units` sets the unit
per language, optionally per product: `{zh: {default: 万元/吨, Tb-oxide: 元/公斤}, en: yuan/t}`.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# Display unit -> (factor over yuan/t, suffix after a short figure: 44.9万).
DISPLAY = {"万元/吨": (10000, "万"), "元/吨": (1, ""), "元/公斤": (1000, ""),
           "yuan/t": (1, ""), "yuan/kg": (1000, ""), "10k yuan/t": (10000, "")}
DEFAULTS = {"zh": "万元/吨", "en": "yuan/t"}
STORED_LABELS = {"zh": {"yuan/t": "元/吨", "yuan/kg": "元/公斤", "usd/kg": "美元/公斤"}}
MAX_DECIMALS = 4  # 万元/吨 to the yuan: 0.4075万


@dataclass(frozen=True)
class Shown:
    """How one product's prices are shown in one language."""

    label: str  # 万元/吨
    factor: int  # stored value / factor = shown value
    suffix: str  # 万: "44.9万" where the unit is implied

    def figure(self, value: Decimal | int | float | None, signed: bool = False) -> str:
        """449000 -> '44.9' (万元/吨) or '449,000' (yuan/t); exact, never more than 4 decimals."""
        if value is None:
            return "–"
        shown = Decimal(value) / self.factor
        shown = shown.quantize(Decimal(1).scaleb(-MAX_DECIMALS)).normalize()
        if shown == 0:
            return "0"
        text = f"{shown:,f}" if shown != shown.to_integral_value() else f"{int(shown):,}"
        return ("+" if signed and shown > 0 else "") + text


IDENTITY = {"zh": lambda unit: Shown(STORED_LABELS["zh"].get(unit, unit), 1, ""),
            "en": lambda unit: Shown(unit, 1, "")}


class Units:
    """The display unit of each (product, language); built from `display.units`."""

    def __init__(self, setting: dict[str, Any] | None = None):
        self.rules: dict[str, dict[str, str]] = {}
        for language, default in DEFAULTS.items():
            value = (setting or {}).get(language, default)
            rule = {"default": value} if isinstance(value, str) else dict(value)
            rule.setdefault("default", default)
            self.rules[language] = rule

    @classmethod
    def from_config(cls, config) -> "Units":
        return cls(config["display.units"] if config is not None else None)

    def of(self, code: str, stored_unit: str, language: str) -> Shown:
        """How `code`, stored in `stored_unit`, is shown in `language` (other currencies stay as stored)."""
        language = language if language in self.rules else "en"
        if stored_unit != "yuan/t":
            return IDENTITY[language](stored_unit)
        rule = self.rules[language]
        label = rule.get(code, rule["default"])
        factor, suffix = DISPLAY[label]
        return Shown(label, factor, suffix)

    def view(self, view, language: str) -> Shown:
        """The Shown of a PriceView (or anything with .product.code and .unit)."""
        return self.of(view.product.code, view.unit, language)


def setting_problem(value: Any) -> str | None:
    """Why a `display.units` value is wrong, or None."""
    if not isinstance(value, dict):
        return "must be a mapping of language (zh, en) to a unit or to {default: unit, PRODUCT: unit}"
    for language, rule in value.items():
        if language not in DEFAULTS:
            return f"{language}: unknown language (use zh or en)"
        units = {"default": rule} if isinstance(rule, str) else rule
        if not isinstance(units, dict):
            return f"{language}: must be a unit or a mapping of product code to unit"
        for key, unit in units.items():
            if unit not in DISPLAY:
                return f"{language}.{key}: unknown unit {unit!r} (use one of {', '.join(DISPLAY)})"
        from bot.config import _product_codes

        problem = _product_codes([k for k in units if k != "default"])
        if problem:
            return f"{language}: {problem}"
    return None
