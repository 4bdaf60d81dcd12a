"""Personal taste: age-linked personas with stable category preferences, and seasonality.

Each customer belongs to one persona: a primary index group (Ladieswear, Divided, ...) whose odds
depend on age (Divided peaks in the late teens, Baby/Children among parents around 30-40), and a
style that tilts it towards some sections and product types. A persona is a distribution over the
category templates; raking the personas together makes the whole population buy each template at
its real share of transactions. Seasonality multiplies templates by a week-of-year curve
(swimwear in summer, coats and boots in winter).
"""

from __future__ import annotations

import numpy as np

from hmbatch.synth.sampling import GroupedCdf, dense_cdf
from hmbatch.synth.tables import Tables, normalised

GROUPS = ("Ladieswear", "Divided", "Menswear", "Baby/Children", "Sport")
STYLES = 8
SUMMER = {"Swimwear", "Shorts", "Sandals", "Bikini top", "Swimwear bottom", "Swimsuit",
          "Sunglasses", "Flip flop", "Sarong", "Vest top", "Dress"}
WINTER = {"Jacket", "Coat", "Boots", "Sweater", "Cardigan", "Hoodie", "Scarf", "Hat/beanie",
          "Gloves", "Outdoor overall", "Beanie", "Pyjama set"}


def group_odds(age: np.ndarray) -> np.ndarray:
    """Probability of each primary index group given age, shape (n, 5)."""
    a = age.astype(np.float64)
    divided = 0.05 + 0.75 * np.exp(-0.5 * ((a - 19.0) / 5.0) ** 2)
    ladies = 0.35 + 0.55 / (1.0 + np.exp(-(a - 26.0) / 3.0))
    mens = np.full_like(a, 0.07)
    kids = 0.03 + 0.10 * np.exp(-0.5 * ((a - 35.0) / 6.0) ** 2)
    sport = 0.04 + 0.03 * np.exp(-0.5 * ((a - 28.0) / 8.0) ** 2)
    odds = np.stack([ladies, divided, mens, kids, sport], axis=1)
    return odds / odds.sum(axis=1, keepdims=True)


def personas_of(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    """Draw each customer's persona (group * STYLES + style) from its age."""
    cum = np.cumsum(group_odds(age), axis=1)
    group = (rng.random(len(age))[:, None] > cum).sum(axis=1)
    group = np.minimum(group, len(GROUPS) - 1)
    return (group * STYLES + rng.integers(0, STYLES, len(age))).astype(np.int32)


def persona_templates(rng: np.random.Generator, tables: Tables,
                      persona_rows: np.ndarray, focus: float = 12.0) -> np.ndarray:
    """Each persona's share of purchases by template, shape (n_personas, n_templates).

    Args:
      rng: random generator.
      tables: calibration tables (templates and their real row weights).
      persona_rows: expected purchase volume of each persona (to rake the mixture).
      focus: how many times more a persona buys from its own index group.

    Returns:
      Row-stochastic matrix whose persona_rows-weighted mean equals the real row shares.
    """
    target = normalised(tables.templates["row_weight"])
    igroup = np.array(tables.templates["index_group_name"])
    n_personas = len(GROUPS) * STYLES
    own = np.array([[g == GROUPS[p // STYLES] for g in igroup] for p in range(n_personas)])
    q = target * np.where(own, focus, 1.0) * rng.lognormal(0.0, 1.0, own.shape)
    mix = persona_rows / persona_rows.sum()
    for _ in range(40):
        q /= q.sum(axis=1, keepdims=True)
        agg = mix @ q
        q *= np.where(agg > 0, target / np.maximum(agg, 1e-300), 0.0)
    return q / q.sum(axis=1, keepdims=True)


def seasonality(tables: Tables, week_of_year: np.ndarray) -> np.ndarray:
    """Multiplier of each template in each week, shape (n_weeks, n_templates), mean 1 a year."""
    ptype = tables.templates["product_type_name"]
    pgroup = tables.templates["product_group_name"]
    angle = 2 * np.pi * (np.arange(52) + 0.5) / 52.0
    summer = np.exp(1.6 * np.cos(angle - 2 * np.pi * 25 / 52))
    winter = np.exp(0.9 * np.cos(angle - 2 * np.pi * 48 / 52))
    summer, winter = summer / summer.mean(), winter / winter.mean()
    kind = np.array([2 if (t in SUMMER or g == "Swimwear") else 1 if t in WINTER else 0
                     for t, g in zip(ptype, pgroup)])
    curves = np.stack([np.ones(52), winter, summer])
    return curves[kind][:, week_of_year % 52].T


def weekly_cdf(q: np.ndarray, season: np.ndarray) -> GroupedCdf:
    """Sampling table over templates for each (persona, week): group = persona * n_weeks + week."""
    probs = q[:, None, :] * season[None, :, :]
    return dense_cdf(probs.reshape(-1, q.shape[1]))
