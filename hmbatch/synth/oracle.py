"""How far personal taste lets a model go: MAP@12 of a ranker that knows the hidden tastes.

The oracle scores last week's best sellers for each held-out buyer with the generator's own
log-odds (favourite categories, preferred colour, latent style, and in a world with latent
collections the lift of the buyer's favoured lines) on top of log popularity. It is not a bound,
but it shows how much the synthetic world rewards learning each customer; the popularity
baselines should stay well below it, as on the real data.
"""

from __future__ import annotations

import numpy as np

from hmbatch.synth.collection import line_lift
from hmbatch.synth.outfits import FAVOURED_RATE
from hmbatch.synth.sales import COLOUR_TASTE, STYLE_TASTE, TEMPLATE_TASTE
from hmbatch.synth.tables import load_tables
from hmbatch.synth.world import World, colour_masters, segments


def average_precision(top: np.ndarray, customers: np.ndarray, truth: np.ndarray,
                      n_items: int) -> float:
    """MAP@12 of ranked lists ``top`` (n, 12) against sorted truth keys ``cust * n_items + art``."""
    keys = customers[:, None].astype(np.int64) * n_items + top
    hits = np.isin(keys, truth)
    precision = np.cumsum(hits, axis=1) / np.arange(1, top.shape[1] + 1)
    n_true = np.bincount(np.searchsorted(customers, truth // n_items), minlength=len(customers))
    return float(((precision * hits).sum(axis=1) / np.minimum(n_true, 12)).mean())


def oracle_map12(world: World, n_candidates: int = 300) -> float:
    """MAP@12 on the held-out week of a ranker that knows every customer's hidden taste.

    Args:
      world: a simulated world (``synth_world.simulate``).
      n_candidates: how many of last week's best sellers are scored.

    Returns:
      The oracle's MAP@12 over customers with a held-out purchase.
    """
    cat, cust, rows, cal = world.catalogue, world.customers, world.rows, world.calendar
    art = np.searchsorted(cat.article_id, rows["art"])
    last = (rows["day"] >= cal.train_days - 7) & (rows["day"] < cal.train_days)
    counts = np.bincount(art[last], minlength=cat.size)
    cand = np.argsort(-counts, kind="stable")[:n_candidates]
    held = rows["day"] >= cal.train_days
    truth = np.unique(rows["cust"][held].astype(np.int64) * cat.size + art[held])
    buyers = np.unique(truth // cat.size)
    tables = load_tables()
    master, _ = colour_masters(tables)
    score = (np.log(counts[cand] + 1.0)[None, :]
             + TEMPLATE_TASTE * (cust.favourites[buyers][:, :, None]
                                 == cat.template[cand][None, None, :]).any(axis=1)
             + COLOUR_TASTE * (cust.colour_pref[buyers][:, None] == master[cat.colour[cand]])
             + STYLE_TASTE * cust.style[buyers] @ cat.style[cand].T)
    if world.collections > 0:
        score += line_lift(cat, cust, segments(tables), buyers, cand,
                           int(cal.week(np.array(cal.train_days))),
                           min(1.0, world.collections * FAVOURED_RATE))
    top = cand[np.argsort(-score, axis=1, kind="stable")[:, :12]]
    return average_precision(top, buyers, truth, cat.size)
