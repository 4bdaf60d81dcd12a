"""Realism figures of a generated folder, to compare with the real H&M aggregates.

Used by the tests and by whoever tunes the generator: every figure here has a real counterpart
in ``shared/hm-reference`` or in the brief (shares by category, channel split, basket sizes,
repeat behaviour, activity concentration, freshness of what sells).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from hmbatch.synth.write import sql_path

_LOAD = """
CREATE TABLE tr AS SELECT t_dat::DATE AS d, customer_id AS c, article_id AS a,
    price::DOUBLE AS price, sales_channel_id::INTEGER AS ch
    FROM read_csv('{dir}/transactions_train.csv', all_varchar=true);
CREATE TABLE art AS SELECT * FROM read_csv('{dir}/articles.csv', all_varchar=true);
CREATE TABLE cu AS SELECT * FROM read_csv('{dir}/customers.csv', all_varchar=true);
CREATE TABLE wk AS SELECT *, (d - DATE '2000-01-05') // 7 AS w FROM tr;
"""

_SCALARS = {
    "rows": "SELECT count(*) FROM tr",
    "online_share": "SELECT avg((ch = 2)::INT) FROM tr",
    "repeated_rows": "SELECT 1 - (SELECT count(*) FROM (SELECT DISTINCT c, a, d FROM tr)) "
                     "/ count(*) FROM tr",
    "basket_mean": "SELECT avg(n) FROM (SELECT count(*) n FROM tr GROUP BY c, d)",
    "basket_median": "SELECT median(n) FROM (SELECT count(*) n FROM tr GROUP BY c, d)",
    "price_median": "SELECT median(price) FROM tr",
    "price_mean": "SELECT avg(price) FROM tr",
    "rebuy_week": """SELECT count(DISTINCT x.c) / (SELECT count(DISTINCT c) FROM tr)
        FROM (SELECT DISTINCT c, a, d FROM tr) x JOIN (SELECT DISTINCT c, a, d FROM tr) y
        ON x.c = y.c AND x.a = y.a AND y.d > x.d AND y.d <= x.d + 7""",
    "other_colour_week": """SELECT count(DISTINCT x.c) / (SELECT count(DISTINCT c) FROM tr)
        FROM (SELECT DISTINCT c, a, d FROM tr) x JOIN (SELECT DISTINCT c, a, d FROM tr) y
        ON x.c = y.c AND x.a[:7] = y.a[:7] AND x.a < y.a AND abs(y.d - x.d) <= 7""",
    "weekly_buyers": """SELECT avg(n) / (SELECT count(*) FROM cu) FROM (SELECT count(DISTINCT c) n
        FROM wk WHERE w > (SELECT min(w) FROM wk) AND w < (SELECT max(w) FROM wk) GROUP BY w)""",
    "quiet_3_months": """SELECT 1 - count(DISTINCT c) / (SELECT count(*) FROM cu) FROM tr
        WHERE d > (SELECT max(d) FROM tr) - 91""",
    "buyers_for_80pct": """SELECT avg((cum - n < 0.8 * tot)::INT) FROM (SELECT n,
        sum(n) OVER (ORDER BY n DESC, c ROWS UNBOUNDED PRECEDING) cum, sum(n) OVER () tot
        FROM (SELECT c, count(*) n FROM tr GROUP BY c))""",
    "articles_for_80pct": """SELECT avg((cum - n < 0.8 * tot)::INT) FROM (SELECT n,
        sum(n) OVER (ORDER BY n DESC, a ROWS UNBOUNDED PRECEDING) cum, sum(n) OVER () tot
        FROM (SELECT a, count(*) n FROM tr GROUP BY a))""",
    "top200_share": """SELECT sum(n) / (SELECT count(*) FROM tr) FROM (SELECT count(*) n
        FROM tr GROUP BY a ORDER BY n DESC LIMIT 200)""",
    "fresh_share": """WITH aw AS (SELECT DISTINCT a, w FROM wk),
        f AS (SELECT a, min(w) AS w0 FROM aw GROUP BY a)
        SELECT avg((f.w0 = wk.w OR EXISTS (SELECT 1 FROM aw WHERE aw.a = wk.a
                    AND aw.w BETWEEN wk.w - 3 AND wk.w - 1))::INT)
        FROM wk JOIN f USING (a) WHERE wk.w >= (SELECT min(w) FROM wk) + 4""",
}


def _shares(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, float]:
    """Run a (key, count) query and normalise the counts."""
    rows = con.execute(sql).fetchall()
    total = sum(n for _, n in rows) or 1
    return {k: n / total for k, n in rows}


def realism(out_dir: Path) -> dict:
    """Compute the realism figures of a generated folder.

    Args:
      out_dir: a folder written by ``generate``.

    Returns:
      Scalars (see _SCALARS), plus share dicts ``product_group``, ``index_group``, ``colour``
      (of training rows), ``age_bucket`` (of customers) and ``weekday`` (of rows, Monday = 0).
    """
    con = duckdb.connect(config={"memory_limit": "4GB"})
    con.execute("SET enable_progress_bar = false")
    con.execute(_LOAD.format(dir=sql_path(Path(out_dir))))
    out: dict = {k: float(con.execute(q).fetchone()[0]) for k, q in _SCALARS.items()}
    for key, col in (("product_group", "product_group_name"), ("index_group", "index_group_name"),
                     ("colour", "colour_group_name")):
        out[key] = _shares(con, f"SELECT art.{col}, count(*) FROM tr JOIN art "
                                f"ON tr.a = art.article_id GROUP BY 1")
    out["age_bucket"] = _shares(con, """SELECT CASE WHEN age IS NULL THEN 'unknown'
        WHEN age::INT < 20 THEN 'under_20' WHEN age::INT < 30 THEN '20_to_29'
        WHEN age::INT < 40 THEN '30_to_39' WHEN age::INT < 50 THEN '40_to_49'
        WHEN age::INT < 60 THEN '50_to_59' ELSE '60_plus' END, count(*) FROM cu GROUP BY 1""")
    out["weekday"] = _shares(con, "SELECT isodow(d) - 1, count(*) FROM tr GROUP BY 1")
    con.close()
    return out
