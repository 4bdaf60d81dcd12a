"""The ALS yardstick with a known answer: two groups of customers who buy from two disjoint
halves of the catalogue; ALS must list each customer's own half first."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np

from hmbatch import als


def test_als_finds_the_two_groups():
    rng = np.random.default_rng(0)
    cutoff = dt.date(2020, 9, 22)
    rows = []
    for customer in range(200):
        half = customer % 2  # even customers buy articles 0..19, odd ones 20..39
        for _ in range(6):
            article = 20 * half + int(rng.integers(0, 20))
            rows.append((customer, article, cutoff - dt.timedelta(days=int(rng.integers(0, 60)))))
    for article in range(40):  # every article sold last week, equally: the prior does not decide
        rows.append((1000 + article, article, cutoff - dt.timedelta(days=1)))
    con = duckdb.connect()
    con.execute("CREATE TABLE transactions (customer_idx INTEGER, article_id INTEGER, t_dat DATE)")
    con.executemany("INSERT INTO transactions VALUES (?, ?, ?)", rows)
    customers = np.arange(200)
    lists = als.recommend(con, cutoff, customers, k=12, config=als.AlsConfig(factors=4, prior=0.0))
    own = (lists // 20) == (customers[:, None] % 2)
    assert lists.shape == (200, 12) and own.mean() > 0.95
    # a customer without purchases in the window gets last week's best sellers
    unknown = als.recommend(con, cutoff, np.array([5000]), k=12, config=als.AlsConfig(factors=4))
    assert len(set(unknown[0].tolist())) == 12
