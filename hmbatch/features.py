"""Point-in-time features from DuckDB into NumPy columns: training examples and serving inputs.

Every feature of a row is computed from the transactions strictly before the row's as-of date,
through the named SQL in sql/features/. Columns leave DuckDB with `fetchnumpy`, never row by row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy as np

from hmbatch.sqlfiles import execute_file

CUSTOMER_CATEGORICAL = ("club_member_status", "fashion_news_frequency", "top_section",
                        "top_index_group", "top_product_type")
CUSTOMER_NUMERIC = ("age", "age_missing", "fn", "active", "log_n_all", "log_n_28", "recency",
                    "no_history", "mean_price", "online_share")
RECENT_ARTICLES = tuple(f"recent_{i}" for i in range(1, 9))
ARTICLE_CATEGORICAL = ("product_type", "product_group", "graphical_appearance", "colour_group",
                       "perceived_colour_value", "perceived_colour_master", "department",
                       "index_name", "index_group", "section", "garment_group")
ARTICLE_NUMERIC = ("log_age", "never_sold", "log_sales_7", "log_sales_28")
CUSTOMER_COLUMNS = ("customer_idx",) + CUSTOMER_CATEGORICAL + CUSTOMER_NUMERIC + RECENT_ARTICLES
ARTICLE_COLUMNS = ("article_id", "product_code") + ARTICLE_CATEGORICAL + ARTICLE_NUMERIC
HISTORY_DAYS = 365


@dataclass(frozen=True)
class Vocabularies:
    """What the towers' lookups and embeddings are sized from."""

    customer_ids: np.ndarray
    article_ids: np.ndarray
    product_codes: np.ndarray
    cardinality: dict[str, int]


def dates(con: duckdb.DuckDBPyConnection, holdout_days: int) -> tuple[dt.date, dt.date]:
    """Returns (cutoff, last_date): training data ends at cutoff = last_date - holdout_days."""
    last = con.execute("SELECT max(t_dat) FROM transactions").fetchone()[0]
    return last - dt.timedelta(days=holdout_days), last


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in con.execute(sql, params or []).fetchnumpy().items()}


def training_examples(con: duckdb.DuckDBPyConnection, cutoff: dt.date, weeks: int) -> dict[str, np.ndarray]:
    """The purchases of the `weeks` weeks up to `cutoff`, with point-in-time features.

    Returns:
        Columns of CUSTOMER_COLUMNS and ARTICLE_COLUMNS (one row per distinct customer, article
        and week), in a fixed order so that a seed gives the same run.
    """
    execute_file(con, "features/train_examples.sql", {"cutoff": str(cutoff), "weeks": weeks})
    execute_file(con, "features/customer_features.sql", {"history_days": HISTORY_DAYS})
    execute_file(con, "features/article_features.sql", {})
    cols = ", ".join([f"c.{c}" for c in CUSTOMER_COLUMNS] +
                     [f"a.{c}" for c in ARTICLE_COLUMNS] + ["e.asof_date"])
    return _fetch(con, f"""
        SELECT {cols} FROM examples e
        JOIN customer_features c USING (customer_idx, asof_date)
        JOIN article_features a USING (article_id, asof_date)
        ORDER BY e.asof_date, e.customer_idx, e.article_id""")


def customer_features_at(con: duckdb.DuckDBPyConnection, asof: dt.date,
                         customer_idx: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Features of the given customers (default: all) as of `asof`, ordered by customer_idx."""
    if customer_idx is None:
        con.execute("CREATE OR REPLACE TEMP TABLE asof_customers AS SELECT customer_idx, CAST(? AS DATE) AS "
                    "asof_date FROM customers", [str(asof)])
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE asof_customers AS SELECT CAST(unnest(?) AS INTEGER) AS "
                    "customer_idx, CAST(? AS DATE) AS asof_date",
                    [np.asarray(customer_idx, dtype=np.int64).tolist(), str(asof)])
    execute_file(con, "features/customer_features.sql", {"history_days": HISTORY_DAYS})
    cols = ", ".join(CUSTOMER_COLUMNS)
    return _fetch(con, f"SELECT {cols} FROM customer_features ORDER BY customer_idx")


def article_features_at(con: duckdb.DuckDBPyConnection, asof: dt.date) -> dict[str, np.ndarray]:
    """Features of every article as of `asof`, ordered by article_id."""
    con.execute("CREATE OR REPLACE TEMP TABLE asof_articles AS SELECT article_id, CAST(? AS DATE) "
                "AS asof_date FROM articles", [str(asof)])
    execute_file(con, "features/article_features.sql", {})
    return _fetch(con, f"SELECT {', '.join(ARTICLE_COLUMNS)} FROM article_features ORDER BY article_id")


def vocabularies(con: duckdb.DuckDBPyConnection, examples: dict[str, np.ndarray]) -> Vocabularies:
    """Customer ids seen in training; all article ids and product codes; category sizes."""
    cardinality = {}
    for feature in ARTICLE_CATEGORICAL + ("club_member_status", "fashion_news_frequency"):
        cardinality[feature] = int(con.execute(
            "SELECT coalesce(max(code), 0) + 1 FROM categories WHERE feature = ?", [feature]).fetchone()[0])
    for feature, source in (("top_section", "section"), ("top_index_group", "index_group"),
                            ("top_product_type", "product_type")):
        cardinality[feature] = cardinality[source]
    articles = _fetch(con, "SELECT article_id, product_code FROM articles ORDER BY article_id")
    return Vocabularies(customer_ids=np.unique(examples["customer_idx"]).astype(np.int64),
                        article_ids=articles["article_id"].astype(np.int64),
                        product_codes=np.unique(articles["product_code"]).astype(np.int64),
                        cardinality=cardinality)


def purchases_after(con: duckdb.DuckDBPyConnection, cutoff: dt.date, days: int) -> dict[int, set[int]]:
    """The distinct articles each customer bought in the `days` days after `cutoff` (the truth)."""
    cols = _fetch(con, "SELECT DISTINCT customer_idx, article_id FROM transactions WHERE t_dat > ? "
                       "AND t_dat <= ? ORDER BY customer_idx, article_id",
                  [cutoff, cutoff + dt.timedelta(days=days)])
    truth: dict[int, set[int]] = {}
    for customer, article in zip(cols["customer_idx"].tolist(), cols["article_id"].tolist()):
        truth.setdefault(customer, set()).add(article)
    return truth


def data_signature(con: duckdb.DuckDBPyConnection, cutoff: dt.date) -> str:
    """A digest of every transaction up to `cutoff` (customer_idx included): equal for a database
    rebuilt from the same rows plus later ones, different when anything up to `cutoff` changed
    (a row, or the customers' numbering). A warm start checks it before reusing a run's weights."""
    rows, digest = con.execute(
        "SELECT count(*), coalesce(sum(hash(customer_idx, article_id, t_dat, price, channel)), 0) "
        "FROM transactions WHERE t_dat <= ?", [cutoff]).fetchone()
    return f"{rows}:{digest}"


def tables_signature(con: duckdb.DuckDBPyConnection) -> str:
    """A digest of the articles and customers tables, every column and the numbering included:
    with `data_signature`, what a run's embeddings were computed from (the towers read nothing
    else)."""
    parts = [con.execute(f"SELECT count(*), coalesce(sum(hash(t)), 0) FROM {table} t").fetchone()
             for table in ("articles", "customers")]
    return "/".join(f"{rows}:{digest}" for rows, digest in parts)
