"""Simulate the whole synthetic world: calendar, catalogue, customers, tastes and sales."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from hmbatch.synth.catalogue import Catalogue, build_catalogue
from hmbatch.synth.collection import add_collections
from hmbatch.synth.customers import FAVOURITES, Customers, build_customers
from hmbatch.synth.outfits import follow_collections
from hmbatch.synth.pools import Pools, build_pools, row_prices
from hmbatch.synth.repeat import EXTRA_UNIT, basket_siblings, rebuy, redraw_accidents, units
from hmbatch.synth.sales import (MEAN_BASKET, Visits, make_visits, pick_articles,
                                 pick_templates)
from hmbatch.synth.sampling import GroupedCdf, dense_cdf
from hmbatch.synth.taste import persona_templates, seasonality, weekly_cdf
from hmbatch.synth.tables import Tables, as_float

LAST_TRAIN_DAY = dt.date(2020, 9, 22)
HELDOUT_DAYS = 7


@dataclass(frozen=True)
class Calendar:
    """Simulated days 0 .. n_days-1; the last HELDOUT_DAYS are the held-out week."""

    train_days: int
    volume: np.ndarray  # relative rows per day (real curve; held-out copies the last week)
    first_date: dt.date

    @property
    def n_days(self) -> int:
        """Training plus held-out days."""
        return self.train_days + HELDOUT_DAYS

    @property
    def shift(self) -> int:
        """Offset making the held-out week start on a week boundary."""
        return (-self.train_days) % 7

    @property
    def n_weeks(self) -> int:
        """Weeks covering all simulated days."""
        return (self.n_days + self.shift + 6) // 7

    def week(self, day: np.ndarray) -> np.ndarray:
        """Week number of each day."""
        return (day + self.shift) // 7

    def week_of_year(self) -> np.ndarray:
        """Week of the year (0..51) of each simulated week's first day."""
        starts = [self.first_date + dt.timedelta(days=7 * w - self.shift)
                  for w in range(self.n_weeks)]
        return np.array([(d.timetuple().tm_yday - 1) // 7 for d in starts]) % 52


def make_calendar(tables: Tables, train_days: int) -> Calendar:
    """The last ``train_days`` real days up to 2020-09-22, then a copy of their last week."""
    daily = as_float(tables.daily["transactions"])[-train_days:]
    volume = np.concatenate([daily, daily[-HELDOUT_DAYS:]])
    first = LAST_TRAIN_DAY - dt.timedelta(days=train_days - 1)
    return Calendar(train_days=train_days, volume=volume / volume.mean(), first_date=first)


@dataclass
class World:
    """Everything the writers need."""

    calendar: Calendar
    catalogue: Catalogue
    customers: Customers
    rows: dict[str, np.ndarray]  # day, cust, art (article_id), price, ch; in file order
    collections: float = 0.0  # strength of the latent collections (collection.py, outfits.py)


def colour_masters(tables: Tables) -> tuple[np.ndarray, np.ndarray]:
    """Perceived colour master of each colour row, and each master's share of real rows."""
    names, master = np.unique(tables.colours["perceived_colour_master_name"], return_inverse=True)
    share = np.bincount(master, as_float(tables.colours["row_share"]), len(names))
    return master, share / share.sum()


def segments(tables: Tables) -> np.ndarray:
    """Segment (index group, product group) of each template."""
    pairs = [f"{i}|{p}" for i, p in zip(tables.templates["index_group_name"],
                                        tables.templates["product_group_name"])]
    return np.unique(pairs, return_inverse=True)[1].astype(np.int64)


def _tastes(rng: np.random.Generator, tables: Tables, cust: Customers,
            cal: Calendar) -> tuple[GroupedCdf, np.ndarray]:
    """Calibrate personas, draw favourites; return the weekly taste table and seasonality."""
    volume = cust.rate * (cust.last_day - cust.first_day)
    n_personas = int(cust.persona.max()) + 1 if cust.size else 1
    q = persona_templates(rng, tables, np.bincount(cust.persona, volume, n_personas) + 1e-9)
    fav_groups = np.repeat(cust.persona.astype(np.int64), FAVOURITES)
    cust.favourites = dense_cdf(q).sample(fav_groups, rng.random(len(fav_groups))).reshape(
        cust.size, FAVOURITES).astype(np.int32)
    season = seasonality(tables, cal.week_of_year())
    return weekly_cdf(q, season), season


def simulate(rng: np.random.Generator, tables: Tables, customers: int, articles: int,
             rows: int, train_days: int, id_rank, progress, collections: float = 0.0) -> World:
    """Run the simulation.

    Args:
      rng: random generator.
      tables: calibration tables.
      customers, articles: sizes of the world.
      rows: target number of training rows.
      train_days: length of the training period.
      id_rank: function n -> position of each customer's id in sorted order.
      progress: callback for short status messages.
      collections: strength of the latent collections (0: none). Their draws come from a
        generator spawned off ``rng``, so the catalogue, customers and visits do not depend on it.

    Returns:
      The world, with rows sorted by day then customer id.
    """
    cal = make_calendar(tables, train_days)
    cat = build_catalogue(rng, tables, articles, cal.n_weeks)
    cust = build_customers(rng, tables, customers, cal.n_days, colour_masters(tables)[1])
    taste, season = _tastes(rng, tables, cust, cal)
    own = rng.spawn(1)[0]  # consumes nothing from rng
    add_collections(own, tables, cat, cust)
    progress(f"catalogue {cat.size:,} articles, {cust.size:,} customers")
    pools = build_pools(cat, cal.n_weeks, segments(tables))
    total = rows * cal.volume.sum() / cal.volume[:train_days].sum()
    visits = make_visits(rng, cust, cal.volume, int(total / MEAN_BASKET * (1 - EXTRA_UNIT)),
                         id_rank(cust.size))
    progress(f"{len(visits.day):,} visits")
    art, v = _basket_lines(rng, (cat, cust, pools), (taste, season), colour_masters(tables)[0],
                           visits, cal, (own, collections))
    week = cal.week(visits.day[v])
    out = {"day": visits.day[v], "cust": visits.customer[v], "art": cat.article_id[art],
           "price": row_prices(cat, art, week),
           "ch": np.where(visits.online[v], 2, 1).astype(np.int8)}
    return World(calendar=cal, catalogue=cat, customers=cust, rows=out, collections=collections)


def _basket_lines(rng: np.random.Generator, world: tuple[Catalogue, Customers, Pools],
                  taste: tuple[GroupedCdf, np.ndarray], master: np.ndarray, visits: Visits,
                  cal: Calendar, collections: tuple[np.random.Generator, float]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Fill every visit's basket; return (article index, visit index) of each output row.

    Args:
      rng: random generator.
      world: catalogue, customers and weekly pools.
      taste: persona taste table and seasonality (see ``_tastes``).
      master: perceived colour master of each colour.
      visits: the visits, in output order.
      cal: calendar.
      collections: the collections' generator and strength (0: skip them, drawing nothing).
    """
    cat, cust, pools = world
    v = np.repeat(np.arange(len(visits.day)), visits.size)
    first = np.cumsum(visits.size) - visits.size
    who, week, pos = visits.customer[v], cal.week(visits.day[v]), np.arange(len(v)) - first[v]
    template = pick_templates(rng, cust, *taste, who, week)
    art = pick_articles(rng, cat, cust, pools, master, who, week, template)
    if collections[1] > 0:
        follow_collections(collections[0], collections[1],
                           (cat, cust, pools.segment_of, cal.n_weeks), (who, week, template, pos),
                           art)
    redraw_accidents(rng, cat, pools, who, visits.day[v], week, template, art)
    art = basket_siblings(rng, cat, art, pos, week)
    rebuy(rng, cat, art, first, visits.size, visits.customer, visits.day, cal.week(visits.day))
    line = np.repeat(np.arange(len(v)), units(rng, len(v)))
    return art[line], v[line]
