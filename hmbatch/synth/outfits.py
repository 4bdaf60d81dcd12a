"""Baskets that follow the latent collections (``collection.py``), at a chosen strength s.

- Favoured lines: with probability min(1, s * FAVOURED_RATE) a basket line's article is redrawn,
  by popularity that week, among the on-sale articles of the customer's favoured lines, in the
  line's own template when they have one, else in its segment (index group, product group), else
  the line is kept. Index and product group shares are thus unchanged.
- Outfits: with probability min(1, s * OUTFIT_RATE) each later line of a basket is redrawn among
  the on-sale articles of the basket's first article's collection, again in its own template,
  else its segment, else kept.

s = 0 draws nothing at all (the world is byte-identical to one without collections).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hmbatch.synth.catalogue import Catalogue
from hmbatch.synth.customers import Customers
from hmbatch.synth.pools import live_entries
from hmbatch.synth.sampling import KeyedCdf, keyed_cdf

FAVOURED_RATE = 0.3  # chance per line and unit of strength to buy from the favoured lines
OUTFIT_RATE = 0.2  # chance per later line and unit of strength to complete the first's collection
CHUNK = 1 << 21  # basket lines handled at a time (bounds memory at full scale)


@dataclass(frozen=True)
class OwnerPools:
    """On-sale articles by (week, owner, template or segment); an owner is a line or collection.

    Keys are ``(week * n_owners + owner) * n_codes + code``, where code is the template, or
    ``n_templates + segment`` for the coarser level.
    """

    cdf: KeyedCdf
    n_owners: int
    n_codes: int
    segment_of: np.ndarray

    def pick(self, week: np.ndarray, owners: np.ndarray, template: np.ndarray,
             u: np.ndarray) -> np.ndarray:
        """One article per row among its owners' articles (-1: none on sale), by weight.

        Args:
          week: week of each row.
          owners: (n, k) owners of each row, -1 for none.
          template: template of each row.
          u: (n, 2) uniform numbers.
        """
        n_tmpl = len(self.segment_of)
        out = np.full(len(week), -1, dtype=np.int64)
        for code in (template, n_tmpl + self.segment_of[template]):
            rows = np.flatnonzero(out < 0)
            base = week[rows].astype(np.int64)[:, None] * self.n_owners + owners[rows]
            group = self.cdf.find(base * self.n_codes + code[rows][:, None])
            group[owners[rows] < 0] = -1
            weight = np.where(group >= 0, self.cdf.total[group], 0.0)
            cum = np.cumsum(weight, axis=1)
            last = weight.shape[1] - 1 - np.argmax(weight[:, ::-1] > 0, axis=1)
            col = np.minimum((cum <= (u[rows, 0] * cum[:, -1])[:, None]).sum(axis=1), last)
            has = cum[:, -1] > 0
            chosen = group[np.flatnonzero(has), col[has]]
            out[rows[has]] = self.cdf.cdf.sample(chosen, u[rows[has], 1])
        return out


def owner_pools(cat: Catalogue, n_weeks: int, segment_of: np.ndarray,
                owner: np.ndarray) -> OwnerPools:
    """Pools of the on-sale articles of each owner (``owner``: of each article)."""
    art, week, weight = live_entries(cat, n_weeks)
    n_tmpl, n_owners = len(segment_of), int(owner.max()) + 1
    n_codes = n_tmpl + int(segment_of.max()) + 1
    base = (week.astype(np.int64) * n_owners + owner[art]) * n_codes
    tmpl = cat.template[art]
    keys = np.concatenate([base + tmpl, base + n_tmpl + segment_of[tmpl]])
    cdf = keyed_cdf(keys, np.concatenate([weight, weight]), np.concatenate([art, art]))
    return OwnerPools(cdf=cdf, n_owners=n_owners, n_codes=n_codes, segment_of=segment_of)


def follow_collections(rng: np.random.Generator, strength: float,
                       world: tuple[Catalogue, Customers, np.ndarray, int],
                       lines: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                       art: np.ndarray) -> None:
    """Redraw basket lines from the favoured lines and outfits (in place; see module doc).

    Args:
      rng: the collections' own generator.
      strength: s > 0.
      world: catalogue, customers, segment of each template, weeks simulated.
      lines: customer, week, template and position in its basket of each line.
      art: article of each line, modified in place.
    """
    cat, cust, segment_of, n_weeks = world
    who, week, template, pos = lines
    by_line = owner_pools(cat, n_weeks, segment_of, cat.line)
    for lo in range(0, len(art), CHUNK):
        part = np.arange(lo, min(lo + CHUNK, len(art)))
        rows = part[rng.random(len(part)) < min(1.0, strength * FAVOURED_RATE)]
        new = by_line.pick(week[rows], cust.lines[who[rows]], template[rows],
                           rng.random((len(rows), 2)))
        art[rows[new >= 0]] = new[new >= 0]
    by_collection = owner_pools(cat, n_weeks, segment_of, cat.collection)
    for lo in range(0, len(art), CHUNK):
        part = np.arange(lo, min(lo + CHUNK, len(art)))
        rows = part[(pos[part] > 0) & (rng.random(len(part)) < min(1.0, strength * OUTFIT_RATE))]
        outfit = cat.collection[art[rows - pos[rows]]].astype(np.int64)[:, None]
        new = by_collection.pick(week[rows], outfit, template[rows], rng.random((len(rows), 2)))
        art[rows[new >= 0]] = new[new >= 0]
