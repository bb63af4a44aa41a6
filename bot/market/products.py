"""Which products a user's words name: one name, or several separated by spaces or commas."""
from __future__ import annotations

import re

from bot.market.catalog import Catalog
from bot.messages import CommandError

_SPLIT = re.compile(r"[,，、;；/]+")
_LONGEST_NAME = 5  # words: "mixed rare earth carbonate"


def resolve_products(catalog: Catalog, args: str, command_word: str = "price"):
    """The products named in `args` (one name, or several separated by spaces or commas).

    An unknown name raises `unknown_product`, whose suggestion repeats `command_word` (the command as the
    user would type it in the reply's language: "price", "价格")."""
    whole = _one_product(catalog, args.split())
    if whole:
        return [whole]
    products, unknown = [], []
    for part in _SPLIT.split(args):
        # Within a part, the longest run of words that names a product: "Dy metal Tb" is Dy-metal and Tb-oxide.
        words, i = part.split(), 0
        while i < len(words):
            for j in range(min(len(words), i + _LONGEST_NAME), i, -1):
                product = _one_product(catalog, words[i:j])
                if product:
                    products.append(product)
                    i = j
                    break
            else:
                unknown.append(words[i])
                i += 1
    if unknown or not products:
        query = unknown[0] if unknown else args
        guess = next(iter(catalog.suggest(query)), None)
        raise CommandError("unknown_product", query=query, suggestion=guess.code if guess else None,
                           command=command_word)
    return list(dict.fromkeys(products))


def _one_product(catalog: Catalog, words: list[str]):
    """The product these words name together; words that each name a product ("Nd Pr") are a list, not one."""
    if len(words) > 1 and all(catalog.resolve(w) for w in words):
        return None
    return catalog.resolve(" ".join(words))
