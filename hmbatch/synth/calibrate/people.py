"""Customer, calendar and price calibration tables derived from the real reference extracts."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from pathlib import Path

from hmbatch.synth.calibrate import read_csv, shares, write_csv

AGE_BUCKETS = {"under_20": (16, 19), "20_to_29": (20, 29), "30_to_39": (30, 39),
               "40_to_49": (40, 49), "50_to_59": (50, 59), "60_plus": (60, 99)}
FLAG_COLS = ("FN", "Active", "club_member_status", "fashion_news_frequency")
# Combinations absent from the 1,000 sampled customers but present in the full file.
EXTRA_FLAGS = [("", "", "LEFT CLUB", "NONE"), ("1.0", "1.0", "ACTIVE", "Monthly"),
               ("", "", "ACTIVE", "None")]


def age_weights(ref: Path) -> list[list]:
    """Per-year age weights: the real sample smoothed inside each real bucket share."""
    ages = [int(r["age"]) for r in read_csv(ref / "customers_sample.csv") if r["age"]]
    bucket_share = shares(ref, "age_bucket_metrics.csv", "age_bucket")
    out = []
    for bucket, (lo, hi) in AGE_BUCKETS.items():
        dens = [sum(math.exp(-0.5 * ((a - x) / 2.0) ** 2) for x in ages) + 0.05
                for a in range(lo, hi + 1)]
        total = sum(dens)
        out += [[a, bucket_share[bucket] * d / total] for a, d in zip(range(lo, hi + 1), dens)]
    out.append(["", bucket_share["unknown"]])
    return out


def flag_weights(ref: Path) -> list[list]:
    """Joint FN/Active/club/news weights, raked to the real whole-file marginals."""
    seed = Counter(tuple(r[c] for c in FLAG_COLS) for r in read_csv(ref / "customers_sample.csv"))
    for combo in EXTRA_FLAGS:
        seed[combo] += 0.5
    club = {("" if k == "Unknown" else k): v for k, v in
            shares(ref, "customer_status_metrics.csv", "club_member_status").items()}
    news = {("" if k == "Unknown" else k): v for k, v in
            shares(ref, "fashion_news_metrics.csv", "fashion_news_frequency").items()}
    combos, w = list(seed), [float(v) for v in seed.values()]
    for _ in range(100):
        for col, target in ((2, club), (3, news)):
            cur = Counter()
            for c, x in zip(combos, w):
                cur[c[col]] += x
            total = sum(cur.values())
            w = [x * target[c[col]] / (cur[c[col]] / total) for c, x in zip(combos, w)]
    total = sum(w)
    return [[*c, x / total] for c, x in zip(combos, w)]


def build_customers(ref: Path, out: Path) -> None:
    """Write ages.csv and flags.csv."""
    write_csv(out / "ages.csv", ["age", "weight"], age_weights(ref))
    write_csv(out / "flags.csv", [*FLAG_COLS, "weight"], flag_weights(ref))


def build_daily_and_prices(ref: Path, out: Path) -> None:
    """Write daily.csv (real daily rows and mean price) and prices.csv (median by group)."""
    daily = read_csv(ref / "transaction_daily_metrics.csv")
    write_csv(out / "daily.csv", ["date", "transactions", "avg_price"],
              [[r["date"], r["transactions"], r["avg_price"]] for r in daily])
    group = {r["article_id"]: r["product_group_name"]
             for r in read_csv(ref / "transaction_articles_sample.csv")}
    prices: dict[str, list[float]] = {}
    for r in read_csv(ref / "transactions_sample.csv"):
        prices.setdefault(group.get(r["article_id"], ""), []).append(float(r["price"]))
    overall = statistics.median(p for v in prices.values() for p in v)
    rows = [[g, statistics.median(v), len(v)] for g, v in sorted(prices.items()) if g]
    rows.append(["*", overall, sum(len(v) for v in prices.values())])
    write_csv(out / "prices.csv", ["product_group_name", "median_price", "n"], rows)
