"""Reference baselines on a generated folder: MAP@12 on the held-out week, with DuckDB.

MAP@12 is the mean over customers with at least one held-out purchase of
AP@12 = sum_k P(k) * rel(k) / min(#distinct articles bought, 12). On the real data, "last week's
12 best sellers" scores about 0.021 and "each customer's recent purchases, filled with those best
sellers" about 0.022; a synthetic world should reproduce that ordering.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from hmbatch.sqlfiles import duckdb_config
from hmbatch.synth.write import sql_path

_VIEWS = """
CREATE VIEW tr AS SELECT * FROM read_csv('{train}', header=true,
    columns={{'t_dat': 'DATE', 'customer_id': 'VARCHAR', 'article_id': 'VARCHAR',
              'price': 'DOUBLE', 'sales_channel_id': 'INTEGER'}});
CREATE VIEW ho AS SELECT * FROM read_csv('{heldout}', header=true,
    columns={{'t_dat': 'DATE', 'customer_id': 'VARCHAR', 'article_id': 'VARCHAR',
              'price': 'DOUBLE', 'sales_channel_id': 'INTEGER'}});
CREATE TABLE truth AS SELECT DISTINCT customer_id, article_id FROM ho;
CREATE TABLE best AS
    SELECT article_id, row_number() OVER (ORDER BY n DESC, article_id) AS rk
    FROM (SELECT article_id, count(*) AS n FROM tr
          WHERE t_dat > (SELECT max(t_dat) FROM tr) - INTERVAL 7 DAY GROUP BY 1)
    QUALIFY rk <= 12;
"""

_RECENT = """
CREATE TABLE recent AS
    SELECT customer_id, article_id,
           row_number() OVER (PARTITION BY customer_id
                              ORDER BY last DESC, n DESC, article_id) AS rk
    FROM (SELECT customer_id, article_id, max(t_dat) AS last, count(*) AS n FROM tr
          WHERE t_dat > (SELECT max(t_dat) FROM tr) - INTERVAL (?) DAY
            AND customer_id IN (SELECT customer_id FROM truth)
          GROUP BY 1, 2)
    QUALIFY rk <= 12;
CREATE TABLE repurchase AS
    SELECT customer_id, article_id,
           row_number() OVER (PARTITION BY customer_id ORDER BY src, rk) AS rk
    FROM (SELECT customer_id, article_id, 0 AS src, rk FROM recent
          UNION ALL
          SELECT c.customer_id, b.article_id, 1 AS src, b.rk
          FROM (SELECT DISTINCT customer_id FROM truth) c CROSS JOIN best b
          WHERE NOT EXISTS (SELECT 1 FROM recent r WHERE r.customer_id = c.customer_id
                                                   AND r.article_id = b.article_id))
    QUALIFY rk <= 12;
"""


def map12(con: duckdb.DuckDBPyConnection, predictions: str) -> float:
    """MAP@12 of a table (customer_id, article_id, rk) against table ``truth``."""
    return float(con.execute(f"""
        WITH hits AS (
            SELECT p.customer_id, p.rk,
                   row_number() OVER (PARTITION BY p.customer_id ORDER BY p.rk) AS h
            FROM {predictions} p JOIN truth t USING (customer_id, article_id)
            WHERE p.rk <= 12),
        ap AS (SELECT customer_id, sum(h / rk) AS s FROM hits GROUP BY 1),
        n AS (SELECT customer_id, least(count(*), 12) AS m FROM truth GROUP BY 1)
        SELECT coalesce(sum(coalesce(ap.s, 0) / n.m) / count(*), 0)
        FROM n LEFT JOIN ap USING (customer_id)""").fetchone()[0])


_TASTE = """
CREATE TABLE art AS SELECT article_id, product_type_name AS pt, index_group_name AS ig
    FROM read_csv('{articles}', all_varchar=true);
CREATE TABLE profile AS
    SELECT customer_id, pt, ig, count(*) / sum(count(*)) OVER (PARTITION BY customer_id) AS s
    FROM tr JOIN art USING (article_id)
    WHERE customer_id IN (SELECT customer_id FROM truth) GROUP BY 1, 2, 3;
CREATE TABLE last_week AS SELECT article_id, count(*) AS n FROM tr
    WHERE t_dat > (SELECT max(t_dat) FROM tr) - INTERVAL 7 DAY GROUP BY 1
    ORDER BY n DESC, article_id LIMIT 1000;
CREATE TABLE taste AS
    SELECT customer_id, article_id,
           row_number() OVER (PARTITION BY customer_id ORDER BY sc DESC, article_id) AS rk
    FROM (SELECT p.customer_id, w.article_id, sum(w.n * (p.s + 0.02)) AS sc
          FROM profile p JOIN art a ON a.pt = p.pt AND a.ig = p.ig
               JOIN last_week w USING (article_id)
          GROUP BY 1, 2)
    QUALIFY rk <= 12;
"""


def baseline_map12(out_dir: Path, recent_days: int = 28) -> dict[str, float]:
    """MAP@12 on the held-out week of the two classic baselines, and a taste yardstick.

    "taste" ranks last week's sales inside each customer's own (product type, index group)
    mix: a crude personal model, showing how much the persistent tastes leave to learn.

    Args:
      out_dir: a folder written by ``generate`` (or the real files plus a held-out week).
      recent_days: how far back "each customer's recent purchases" look.

    Returns:
      {"bestsellers": ..., "repurchase": ..., "taste": ..., "customers": held-out buyers}.
    """
    out_dir = Path(out_dir)
    con = duckdb.connect(config=duckdb_config(memory_limit="4GB"))
    con.execute("SET enable_progress_bar = false")
    con.execute(_VIEWS.format(train=sql_path(out_dir / "transactions_train.csv"),
                              heldout=sql_path(out_dir / "heldout_transactions.csv")))
    con.execute(_RECENT.replace("(?)", str(int(recent_days))))
    con.execute("""CREATE TABLE bestsellers AS
                   SELECT c.customer_id, b.article_id, b.rk
                   FROM (SELECT DISTINCT customer_id FROM truth) c CROSS JOIN best b""")
    con.execute(_TASTE.format(articles=sql_path(out_dir / "articles.csv")))
    result = {"bestsellers": map12(con, "bestsellers"), "repurchase": map12(con, "repurchase"),
              "taste": map12(con, "taste"),
              "customers": con.execute(
                  "SELECT count(DISTINCT customer_id) FROM truth").fetchone()[0]}
    con.close()
    return result
