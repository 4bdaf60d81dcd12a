"""``hmbatch synth``: generate a synthetic H&M dataset in the exact competition file layout.

The generator is calibrated on the real aggregates and samples (``hmbatch/synth/data``, derived
from ``shared/hm-reference``): category, colour, age and channel shares, the daily curve, price
levels, and behaviour (heavy-tailed activity, baskets, repurchase, persistent personal taste
linked to age). It also writes the 7 days after the training data as
``heldout_transactions.csv``, the "true future" for offline evaluation. With ``collections`` > 0,
baskets also follow latent collections that no metadata column names (``collection.py``,
``outfits.py``).

Typical use::

    summary = generate(Path("demo-data"), scale="small", seed=0)
    summary = generate(Path("demo-data-c1"), scale="small", seed=0, collections=1.0)
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from hmbatch.synth.eval import baseline_map12
from hmbatch.synth.tables import load_tables
from hmbatch.synth.world import World, simulate
from hmbatch.synth.write import (connect, customer_rank, write_articles, write_customers,
                                 write_submission, write_transactions)

__all__ = ["SCALES", "Scale", "generate", "baseline_map12"]


@dataclass(frozen=True)
class Scale:
    """Size of a synthetic world.

    Attributes:
      customers: rows of customers.csv.
      articles: rows of articles.csv.
      rows: target rows of transactions_train.csv (the result is within a few percent).
      days: training days, ending 2020-09-22.
    """

    customers: int
    articles: int
    rows: int
    days: int = 734


SCALES: dict[str, Scale] = {
    "tiny": Scale(customers=1_000, articles=400, rows=5_000, days=182),
    "small": Scale(customers=30_000, articles=14_000, rows=500_000),
    "medium": Scale(customers=300_000, articles=45_000, rows=5_000_000),
    "full": Scale(customers=1_371_980, articles=105_542, rows=31_788_324),
}


def _quiet(_: str) -> None:
    """Default progress callback: say nothing."""


def generate(out_dir: Path, scale: str | Scale = "small", seed: int = 0,
             progress: Callable[[str], None] | None = None,
             inspect: Callable[[World], None] | None = None,
             collections: float = 0.0) -> dict:
    """Generate the five competition-shaped CSV files into ``out_dir``.

    The files are written into a temporary folder next to ``out_dir`` and moved into place at
    the end, so an interrupted run leaves any previous ``out_dir`` as it was.

    Args:
      out_dir: destination folder (created if needed; other files in it are left alone).
      scale: a name from SCALES (tiny, small, medium, full) or a Scale.
      seed: random seed; the same seed gives byte-identical files.
      progress: optional callback receiving short status messages.
      inspect: optional callback given the simulated world before it is written (the oracle
        benchmark scores the hidden tastes there without simulating twice).
      collections: strength of the latent collections (``collection.py``, ``outfits.py``):
        0 = none (the same files as without the option), 1 = the documented rates, 2 = twice.

    Returns:
      Summary: articles, customers, transactions, heldout_transactions, first_date, last_date,
      heldout_start, heldout_end, seconds, scale, seed, collections.

    Raises:
      ValueError: if ``scale`` is not a known scale name or ``collections`` is negative.
    """
    spec = scale if isinstance(scale, Scale) else SCALES.get(scale)
    if spec is None:
        raise ValueError(f"unknown scale {scale!r}: choose one of {', '.join(SCALES)}")
    if not collections >= 0:
        raise ValueError(f"collections must be a strength >= 0, not {collections!r}")
    say, start = progress or _quiet, time.perf_counter()
    out_dir = Path(out_dir).resolve()
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        summary = _generate_into(tmp, spec, seed, say, inspect, float(collections))
        _replace_dir(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary.update(seconds=round(time.perf_counter() - start, 2),
                   scale=scale if isinstance(scale, str) else "custom", seed=seed,
                   collections=float(collections))
    say(f"done in {summary['seconds']:.1f} s")
    return summary


def _generate_into(folder: Path, spec: Scale, seed: int, say: Callable[[str], None],
                   inspect: Callable[[World], None] | None = None,
                   collections: float = 0.0) -> dict:
    """Simulate and write every file into ``folder``; return the summary."""
    tables, con = load_tables(), connect()
    salt = f"hmbatch-synth:{seed}"
    world = simulate(np.random.default_rng(seed), tables, spec.customers, spec.articles,
                     spec.rows, spec.days, lambda n: customer_rank(con, n, salt), say,
                     collections)
    if inspect is not None:
        inspect(world)
    cal, rows = world.calendar, world.rows
    train = rows["day"] < cal.train_days
    first = cal.first_date.isoformat()
    say("writing articles.csv, customers.csv")
    write_articles(con, folder / "articles.csv", world.catalogue, tables)
    write_customers(con, folder / "customers.csv", world.customers, tables, salt)
    say(f"writing transactions_train.csv ({int(train.sum()):,} rows)")
    write_transactions(con, folder / "transactions_train.csv",
                       {k: v[train] for k, v in rows.items()}, first, salt)
    write_transactions(con, folder / "heldout_transactions.csv",
                       {k: v[~train] for k, v in rows.items()}, first, salt)
    write_submission(con, folder / "sample_submission.csv", world.customers.size, salt,
                     _top12(rows["art"][train]))
    con.close()
    return _summary(world, int(train.sum()))


def _top12(article_ids: np.ndarray) -> str:
    """The 12 best-selling article ids, as the space-separated prediction string."""
    ids, counts = np.unique(article_ids, return_counts=True)
    top = ids[np.lexsort((ids, -counts))][:12]
    return " ".join(f"{int(a):010d}" for a in top)


def _summary(world: World, n_train: int) -> dict:
    """Sizes and date range of the generated data."""
    cal = world.calendar

    def day(d: int) -> str:
        return (cal.first_date + dt.timedelta(days=d)).isoformat()

    return {
        "articles": world.catalogue.size, "customers": world.customers.size,
        "transactions": n_train, "heldout_transactions": len(world.rows["day"]) - n_train,
        "first_date": day(0), "last_date": day(cal.train_days - 1),
        "heldout_start": day(cal.train_days), "heldout_end": day(cal.n_days - 1),
    }


def _replace_dir(new: Path, target: Path) -> None:
    """Move the finished files into ``target``.

    A new folder is renamed into place in one step. An existing folder keeps whatever else it
    holds: each generated file replaces its namesake atomically, so no reader ever sees a half
    written file and nothing unrelated is deleted.
    """
    if not target.exists():
        new.rename(target)
        return
    for path in sorted(new.iterdir()):
        os.replace(path, target / path.name)
