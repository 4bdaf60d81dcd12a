"""The synthetic article catalogue: products, colour variants, launches, life cycles and prices.

Products take a real category template (``templates.csv``), a real name of the same product type,
a full price around their product group's real median, and one or more colour variants. Some
variants launch with the product, most later ("new colours of an existing product"). Each article
sells along a rise-and-decay curve from its launch week, scaled by a heavy-tailed popularity that
is partly shared by the product's variants and lifted or damped by its colour (black sells more
per article than dark blue, as in the real shares).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hmbatch.synth.sampling import categorical
from hmbatch.synth.tables import Tables, as_float, normalised

PRE_WEEKS = 20  # products may launch up to this many weeks before the first day
POP_SIGMA = (0.5, 0.45)  # log-normal spread of popularity: product part, colour-variant part
TAU = (3.0, 1.1)  # median and log-spread of the weeks an article takes to fade
PRICE_SPREAD = (0.09, 0.4)  # log-normal shift and spread of prices around the group median
STYLE_DIM = 8  # latent style factors (customers prefer articles whose style matches theirs)
HITS_PER_WEEK = 3.0  # short-lived best sellers launched each week, whatever the catalogue size
HIT_SHARE = (0.04, 0.5)  # share of demand going to hits at 14k articles, growth exponent
HIT_TAU = 2.5  # weeks a hit takes to fade
PRICE_POINTS = np.array([0.099, 0.199, 0.299, 0.399, 0.499, 0.599, 0.699, 0.799, 0.899, 0.999,
                         1.199, 1.299, 1.499, 1.699, 1.799, 1.999, 2.499, 2.999, 3.499, 3.999,
                         4.999, 5.999, 6.999, 7.999, 9.999, 12.999, 14.999]) / 59.0


@dataclass
class Catalogue:
    """Per-article arrays, in article_id order (the order of articles.csv)."""

    article_id: np.ndarray  # int64, product_code * 1000 + variant number
    product: np.ndarray  # int32 dense product index (siblings share it)
    template: np.ndarray  # int32 row of templates.csv
    colour: np.ndarray  # int32 row of colours.csv
    graphical: np.ndarray  # int32 row of graphical.csv
    name: np.ndarray  # int32 row of names.csv
    launch: np.ndarray  # int32 launch week (negative: before the first day)
    tau: np.ndarray  # float64 decay time in weeks
    life: np.ndarray  # int32 weeks on sale
    pop: np.ndarray  # float64 base popularity
    price: np.ndarray  # float64 full price
    markdown_age: np.ndarray  # int32 age in weeks from which the article is marked down
    markdown_price: np.ndarray  # float64
    style: np.ndarray  # float32 (n, STYLE_DIM) latent style, mostly shared by colour variants
    collection: np.ndarray | None = None  # int32 latent collection (collection.py), hidden
    line: np.ndarray | None = None  # int32 latent line (family of collections), hidden

    @property
    def size(self) -> int:
        """Number of articles."""
        return len(self.article_id)

    def curve(self, age: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Life-cycle weight of articles ``idx`` at ``age`` weeks after launch."""
        return (1.0 - np.exp(-(age + 0.5) / 0.8)) * np.exp(-age / self.tau[idx])


def snap_price(price: np.ndarray) -> np.ndarray:
    """Round prices to the nearest real-looking price point (x.x99 / 59)."""
    mid = np.sqrt(PRICE_POINTS[1:] * PRICE_POINTS[:-1])
    return PRICE_POINTS[np.searchsorted(mid, price)]


def _variants(rng: np.random.Generator, n_products: int, n_weeks: int) -> tuple:
    """Launch week of each product and of each of its colour variants."""
    launch = rng.integers(-PRE_WEEKS, n_weeks, n_products)
    extra = rng.geometric(1 / 2.23, n_products) - 1
    counts = 1 + extra
    product = np.repeat(np.arange(n_products), counts)
    first = np.concatenate([[True], product[1:] != product[:-1]])
    later = rng.exponential(16.0, len(product)).astype(np.int64) + 1
    offset = np.where(first | (rng.random(len(product)) < 0.15), 0, later)
    week = launch[product] + offset
    keep = week < n_weeks
    return product[keep], week[keep]


def _trim(rng: np.random.Generator, product: np.ndarray, week: np.ndarray,
          n_articles: int) -> tuple:
    """Keep whole products in random order until exactly ``n_articles`` variants remain."""
    n_products = product.max() + 1
    order = rng.permutation(n_products)
    rank = np.empty(n_products, dtype=np.int64)
    rank[order] = np.arange(n_products)
    sort = np.lexsort((week, rank[product]))
    product, week = product[sort][:n_articles], week[sort][:n_articles]
    _, dense = np.unique(rank[product], return_inverse=True)
    return dense.astype(np.int32), week.astype(np.int32)


def _article_ids(rng: np.random.Generator, product: np.ndarray, week: np.ndarray) -> np.ndarray:
    """Product codes rising with launch week (108775 .. ~959000) times 1000 plus variant number."""
    n_products = product.max() + 1
    first_week = np.full(n_products, np.iinfo(np.int32).max)
    np.minimum.at(first_week, product, week)
    order = np.lexsort((rng.random(n_products), first_week))
    gaps = rng.geometric(1.0 / max(1.0, 850_000 / n_products), n_products)
    code = np.empty(n_products, dtype=np.int64)
    code[order] = 108775 + np.cumsum(gaps) - gaps[0]
    sort = np.lexsort((week, product))
    starts = np.concatenate([[True], product[sort][1:] != product[sort][:-1]])
    step = np.where(starts, 1, rng.geometric(0.7, len(product)))
    pos_in_product = np.empty(len(product), dtype=np.int64)
    cum = np.cumsum(step)
    group_base = np.maximum.accumulate(np.where(starts, cum - step, 0))
    pos_in_product[sort] = cum - group_base
    return code[product] * 1000 + np.minimum(pos_in_product, 999)


def _names(rng: np.random.Generator, tables: Tables, template: np.ndarray) -> np.ndarray:
    """A real product name (and description) of the template's product type."""
    types = np.array(tables.templates["product_type_name"])
    name_types = np.array(tables.names["product_type_name"])
    out = rng.integers(0, len(name_types), len(template))
    for t in np.unique(template):
        pool = np.flatnonzero(name_types == types[t])
        rows = np.flatnonzero(template == t)
        if len(pool):
            out[rows] = pool[rng.integers(0, len(pool), len(rows))]
    return out.astype(np.int32)


def _prices(rng: np.random.Generator, tables: Tables, template: np.ndarray) -> np.ndarray:
    """Full price per product: its product group's real median times a log-normal spread."""
    medians = dict(zip(tables.prices["product_group_name"],
                       as_float(tables.prices["median_price"])))
    groups = tables.templates["product_group_name"]
    level = np.array([medians.get(g, medians["*"]) for g in groups])
    return snap_price(level[template] * rng.lognormal(*PRICE_SPREAD, len(template)))


def _styles(rng: np.random.Generator, product: np.ndarray) -> np.ndarray:
    """Latent style vectors: the product's plus a little per colour variant."""
    shared = rng.standard_normal((product.max() + 1, STYLE_DIM))[product]
    own = rng.standard_normal((len(product), STYLE_DIM))
    return (0.9 * shared + 0.44 * own).astype(np.float32)


def _hits(rng: np.random.Generator, tables: Tables, template: np.ndarray, pop: np.ndarray,
          tau: np.ndarray, n_weeks: int) -> None:
    """Turn a fixed number of articles per week into short-lived hits (in place).

    Weekly best sellers should take a similar share of a week's rows at every scale, so that
    the "last week's best sellers" baseline scores alike on a small and on the full catalogue;
    a bigger catalogue spreads the ordinary articles thinner, so the hits' share grows with it.
    Hits are chosen where demand per article is high (Ladieswear more than Baby/Children).
    """
    demand = normalised(tables.templates["row_weight"]) / normalised(
        tables.templates["article_weight"]).clip(1e-9)
    n_hits = min(int(HITS_PER_WEEK * (n_weeks + PRE_WEEKS)), len(pop) // 10)
    keys = np.log(rng.random(len(pop))) / np.maximum(demand[template], 1e-12)
    hit = np.argsort(-keys, kind="stable")[:n_hits]
    tau[hit] = rng.lognormal(np.log(HIT_TAU), 0.3, n_hits)
    rest = np.ones(len(pop), dtype=bool)
    rest[hit] = False
    base = (pop[rest] * np.minimum(tau[rest], n_weeks)).sum()
    share = HIT_SHARE[0] * (len(pop) / 14_000) ** HIT_SHARE[1]
    pop[hit] *= share / (1 - share) * base / (pop[hit] * tau[hit]).sum()


def build_catalogue(rng: np.random.Generator, tables: Tables, n_articles: int,
                    n_weeks: int) -> Catalogue:
    """Generate ``n_articles`` articles launched before or during ``n_weeks`` weeks.

    Args:
      rng: the random generator (all randomness of the run flows from it).
      tables: calibration tables.
      n_articles: exact catalogue size.
      n_weeks: weeks simulated (training plus held-out).

    Returns:
      The catalogue, sorted by article_id.
    """
    product, week = _variants(rng, n_articles, n_weeks)
    product, week = _trim(rng, product, week, n_articles)
    n_products, n = product.max() + 1, len(product)
    p_template = categorical(rng, normalised(tables.templates["article_weight"]), n_products)
    graph_w = normalised(tables.graphical["weight"])
    graph = np.where(rng.random(n) < 0.7, categorical(rng, graph_w, n_products)[product],
                     categorical(rng, graph_w, n))
    colour = categorical(rng, as_float(tables.colours["article_share"]), n)
    lift = as_float(tables.colours["row_share"]) / as_float(tables.colours["article_share"])
    pop = (rng.lognormal(0, POP_SIGMA[0], n_products)[product]
           * rng.lognormal(0, POP_SIGMA[1], n))
    tau = np.where(rng.random(n) < 0.04, rng.uniform(30, 80, n),
                   rng.lognormal(np.log(TAU[0]), TAU[1], n))
    _hits(rng, tables, p_template[product], pop, tau, n_weeks)
    price = _prices(rng, tables, p_template)[product]
    cut = rng.choice(np.array([0.5, 0.6, 0.7, 0.8]), n)
    ids = _article_ids(rng, product, week)
    cat = Catalogue(
        article_id=ids, product=product, template=p_template[product].astype(np.int32),
        colour=colour.astype(np.int32), graphical=graph.astype(np.int32),
        name=_names(rng, tables, p_template)[product], launch=week, tau=tau,
        life=np.ceil(tau * np.log(25.0)).astype(np.int32) + 2, pop=pop * lift[colour],
        price=price, style=_styles(rng, product),
        markdown_age=np.ceil(tau * rng.uniform(1.0, 3.0, n)).astype(np.int32),
        markdown_price=snap_price(price * cut))
    order = np.argsort(ids, kind="stable")
    return Catalogue(**{k: v[order] for k, v in cat.__dict__.items() if v is not None})
