"""Shop visits and the articles bought in them, fully vectorised.

Visits are spread over each customer's active window along the real daily curve (corrected for
how many customers are active each day, so that the total follows the curve). Each visit holds a
basket of articles: the category comes from the customer's favourites or persona (in season), the
article from that category's live pool by popularity, and among a few candidates the customer
keeps the one whose colour suits them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hmbatch.synth.catalogue import Catalogue
from hmbatch.synth.customers import Customers
from hmbatch.synth.pools import Pools
from hmbatch.synth.sampling import GroupedCdf

CANDIDATES = 4  # articles a customer looks at before picking one
EXACT_CANDIDATES = 3  # of which drawn from the wanted category itself (when it has stock)
COLOUR_TASTE = 1.5  # log-odds bonus for the customer's preferred colour
TEMPLATE_TASTE = 3.0  # log-odds bonus for the category the customer came for
STYLE_TASTE = 1.0  # log-odds per unit of customer-article style affinity
CHUNK = 1 << 21  # basket lines scored at a time (bounds memory at full scale)
MEAN_BASKET = 3.0  # distinct articles per visit: 1 + negative binomial (median 2)
BASKET_SHAPE = 0.6  # negative binomial shape of the extra articles (lower: longer tail)


@dataclass
class Visits:
    """Visits in output order (by day, then customer id order)."""

    customer: np.ndarray  # int32
    day: np.ndarray  # int32
    size: np.ndarray  # int64 distinct articles in the basket
    online: np.ndarray  # bool


def _active_density(cust: Customers, volume: np.ndarray) -> np.ndarray:
    """Per-day visit density per unit of rate, so that total visits follow ``volume``."""
    mass = np.zeros(len(volume) + 1)
    np.add.at(mass, cust.first_day, cust.rate)
    np.add.at(mass, cust.last_day, -cust.rate)
    active = np.maximum(np.cumsum(mass)[:-1], 1e-9 * cust.rate.sum())
    return volume / active


def visit_days(rng: np.random.Generator, cust: Customers, volume: np.ndarray,
               n_visits: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw every customer's visits (at least one each) inside their active window.

    Args:
      rng: random generator.
      cust: customers.
      volume: relative volume of each simulated day.
      n_visits: expected total number of visits.

    Returns:
      (customer, day) of each visit, grouped by customer.
    """
    cdf = np.concatenate([[0.0], np.cumsum(_active_density(cust, volume))])
    lo, hi = cdf[cust.first_day], cdf[cust.last_day]
    scale = max(n_visits - cust.size, 0) / max(float((cust.rate * (hi - lo)).sum()), 1e-12)
    count = 1 + rng.poisson(cust.rate * (hi - lo) * scale)
    who = np.repeat(np.arange(cust.size, dtype=np.int32), count)
    u = lo[who] + rng.random(len(who)) * (hi - lo)[who]
    day = np.searchsorted(cdf, u, side="right") - 1
    day = np.clip(day, cust.first_day[who], cust.last_day[who] - 1)
    return who, day.astype(np.int32)


def make_visits(rng: np.random.Generator, cust: Customers, volume: np.ndarray, n_visits: int,
                id_rank: np.ndarray) -> Visits:
    """Visits sorted by (day, customer id), with basket sizes and channels."""
    who, day = visit_days(rng, cust, volume, n_visits)
    order = np.lexsort((id_rank[who], day))
    who, day = who[order], day[order]
    extra = MEAN_BASKET - 1.0
    size = 1 + rng.negative_binomial(BASKET_SHAPE, BASKET_SHAPE / (BASKET_SHAPE + extra),
                                     len(who)).astype(np.int64)
    online = rng.random(len(who)) < cust.online[who]
    return Visits(customer=who, day=day, size=size, online=online)


def pick_templates(rng: np.random.Generator, cust: Customers, taste: GroupedCdf,
                   season: np.ndarray, who: np.ndarray, week: np.ndarray) -> np.ndarray:
    """Category of each basket line: a favourite (loyal moment) or the persona's in-season mix.

    An out-of-season favourite (swimwear in January) is kept only with its seasonal
    multiplier as probability; otherwise the line falls back to the persona's seasonal mix.
    """
    slot = rng.integers(0, cust.favourites.shape[1], len(who))
    out = cust.favourites[who, slot].astype(np.int64)
    keep = rng.random(len(who)) < cust.loyalty[who]
    keep &= rng.random(len(who)) < season[week, out]
    rest = ~keep
    group = cust.persona[who[rest]].astype(np.int64) * season.shape[0] + week[rest]
    out[rest] = taste.sample(group, rng.random(int(rest.sum())))
    return out


def pick_articles(rng: np.random.Generator, cat: Catalogue, cust: Customers, pools: Pools,
                  colour_master: np.ndarray, who: np.ndarray, week: np.ndarray,
                  template: np.ndarray) -> np.ndarray:
    """Article of each basket line: among candidates drawn by popularity (mostly from the wanted
    category, else its segment), the one that best fits the customer's category, colour and
    style, with Gumbel noise (a multinomial-logit choice)."""
    out = np.empty(len(who), dtype=np.int64)
    for lo in range(0, len(who), CHUNK):
        part = slice(lo, lo + CHUNK)
        out[part] = _choose(rng, cat, cust, pools, colour_master, who[part], week[part],
                            template[part])
    return out


def _choose(rng: np.random.Generator, cat: Catalogue, cust: Customers, pools: Pools,
            colour_master: np.ndarray, who: np.ndarray, week: np.ndarray,
            template: np.ndarray) -> np.ndarray:
    """pick_articles on one chunk of lines."""
    best = np.zeros(len(who), dtype=np.int64)
    best_score = np.full(len(who), -np.inf, dtype=np.float32)
    pref, style = cust.colour_pref[who], cust.style[who]
    for i in range(CANDIDATES):
        cand = pools.draw(week, template, rng.random(len(who)), exact=i < EXACT_CANDIDATES)
        score = (COLOUR_TASTE * (colour_master[cat.colour[cand]] == pref)
                 + TEMPLATE_TASTE * (cat.template[cand] == template)
                 + STYLE_TASTE * np.einsum("ij,ij->i", style, cat.style[cand])
                 + rng.gumbel(size=len(who))).astype(np.float32)
        better = score > best_score
        best[better], best_score[better] = cand[better], score[better]
    return best
