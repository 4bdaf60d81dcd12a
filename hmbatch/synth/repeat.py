"""Repeat behaviour: other colours in the same basket, buying again, several units.

These are what make "each customer's recent purchases" a (weak) predictor on the real data:
customers come back for an article they bought days ago or for another colour of it, and buy
several units of one article in a visit (about one row in ten repeats its predecessor).
"""

from __future__ import annotations

import numpy as np

from hmbatch.synth.catalogue import Catalogue
from hmbatch.synth.pools import Pools, live, siblings

SIBLING_IN_BASKET = 0.025  # chance a line is another colour of the previous line
REBUY = 0.08  # chance, at a zero-day gap, that a visit re-buys from the customer's previous one
REBUY_DAYS = 60.0  # decay (days) of that chance with the gap between the visits
REBUY_SIBLING = 0.3  # share of those re-buys that take another colour instead
EXTRA_UNIT = 0.085  # chance that a line is followed by one more unit of the same article


def _collisions(customer: np.ndarray, key: np.ndarray, day: np.ndarray,
                window: int) -> np.ndarray:
    """Lines whose customer already bought the same key (article or product) in the
    previous ``window`` days (or earlier the same day)."""
    order = np.lexsort((np.arange(len(day)), day, key, customer))
    c, k, d = customer[order], key[order], day[order]
    hit = (c[1:] == c[:-1]) & (k[1:] == k[:-1]) & (d[1:] - d[:-1] <= window)
    return order[1:][hit]


def redraw_accidents(rng: np.random.Generator, cat: Catalogue, pools: Pools, customer: np.ndarray,
                     day: np.ndarray, week: np.ndarray, template: np.ndarray,
                     article: np.ndarray, rounds: int = 2) -> None:
    """Re-draw lines that repeat a customer's earlier article or recent product by chance.

    Small category pools would otherwise make customers with narrow tastes buy the same
    popular article again and again; real repeats are rarer and come from the deliberate
    mechanisms below. Modifies ``article`` in place.
    """
    for _ in range(rounds):
        lines = np.union1d(_collisions(customer, article, day, 10**6),
                           _collisions(customer, cat.product[article], day, 7))
        article[lines] = pools.draw(week[lines], template[lines], rng.random(len(lines)))


def basket_siblings(rng: np.random.Generator, cat: Catalogue, article: np.ndarray,
                    line: np.ndarray, week: np.ndarray) -> np.ndarray:
    """Turn some lines (not the first of a visit) into another colour of the previous line."""
    pick = np.flatnonzero((line > 0) & (rng.random(len(article)) < SIBLING_IN_BASKET))
    sib = siblings(rng, cat, article[pick - 1])
    ok = live(cat, sib, week[pick])
    out = article.copy()
    out[pick[ok]] = sib[ok]
    return out


def previous_visit(customer: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Index of each visit's previous visit by the same customer, or -1."""
    order = np.lexsort((np.arange(len(day)), day, customer))
    prev = np.full(len(day), -1, dtype=np.int64)
    same = customer[order][1:] == customer[order][:-1]
    prev[order[1:][same]] = order[:-1][same]
    return prev


def rebuy(rng: np.random.Generator, cat: Catalogue, article: np.ndarray, first: np.ndarray,
          size: np.ndarray, customer: np.ndarray, day: np.ndarray, week: np.ndarray) -> None:
    """Replace the last line of some visits by an article of the customer's previous visit.

    Args:
      rng: random generator.
      cat: catalogue.
      article: article of each line (modified in place).
      first: first line of each visit.
      size: lines per visit.
      customer, day, week: of each visit.
    """
    prev = previous_visit(customer, day)
    gap = day - day[np.maximum(prev, 0)]
    chance = REBUY * np.exp(-gap / REBUY_DAYS)
    v = np.flatnonzero((prev >= 0) & (rng.random(len(day)) < chance))
    pv = prev[v]
    src = article[first[pv] + (rng.random(len(v)) * size[pv]).astype(np.int64)]
    sib = rng.random(len(v)) < REBUY_SIBLING
    src[sib] = siblings(rng, cat, src[sib])
    ok = live(cat, src, week[v])
    article[first[v[ok]] + size[v[ok]] - 1] = src[ok]


def units(rng: np.random.Generator, n_lines: int) -> np.ndarray:
    """Rows per basket line: 1 plus geometric extra units (about 9.5% of rows are repeats)."""
    return rng.geometric(1.0 - EXTRA_UNIT, n_lines).astype(np.int64)
