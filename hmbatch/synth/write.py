"""Write the synthetic world as the five competition CSV files, through DuckDB.

DuckDB formats and writes tens of millions of rows in seconds from NumPy arrays registered as
tables. Customer ids and postal codes are SHA-256 hex digests (as the real ones look) computed
inside DuckDB from the seed and the customer number, so no 64-character strings are held in
Python. Writes keep the arrays' order (rows are sorted in NumPy first), which keeps files
byte-identical for a seed.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np

from hmbatch.sqlfiles import duckdb_config
from hmbatch.synth.catalogue import Catalogue
from hmbatch.synth.customers import Customers
from hmbatch.synth.tables import Tables

SHARED_POSTAL_CODE = "2c29ae653a9282cce4151bd87643c907644e09541abc28ae87dea0d1f6603b1c"
TRANSACTION_SQL = """
COPY (SELECT strftime(DATE '{first}' + day, '%Y-%m-%d') AS t_dat,
             sha256('{salt}:c:' || cust) AS customer_id,
             lpad(CAST(art AS VARCHAR), 10, '0') AS article_id,
             price, ch AS sales_channel_id
      FROM {table}) TO '{path}' (HEADER, DELIMITER ',')
"""


def sql_path(path: Path) -> str:
    """A file path as the inside of a single-quoted SQL string literal."""
    return str(path).replace("'", "''")


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that keeps insertion order when writing."""
    con = duckdb.connect(config=duckdb_config())
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET enable_progress_bar = false")
    return con


def customer_rank(con: duckdb.DuckDBPyConnection, n: int, salt: str) -> np.ndarray:
    """Position of each customer's id in sorted id order (the order of customers.csv)."""
    rows = con.execute(
        "SELECT i FROM range(?) t(i) ORDER BY sha256(? || ':c:' || i)", [n, salt]).fetchnumpy()
    rank = np.empty(n, dtype=np.int64)
    rank[rows["i"]] = np.arange(n)
    return rank


def write_transactions(con: duckdb.DuckDBPyConnection, path: Path, rows: dict, first: str,
                       salt: str) -> None:
    """Write rows (arrays day, cust, art, price, ch; already in file order) as a CSV."""
    con.register("rows_view", rows)
    con.execute(TRANSACTION_SQL.format(first=first, salt=salt, table="rows_view",
                                       path=sql_path(path)))
    con.unregister("rows_view")


def write_customers(con: duckdb.DuckDBPyConnection, path: Path, cust: Customers,
                    tables: Tables, salt: str) -> None:
    """Write customers.csv sorted by customer_id; empty fields where the real file has them."""
    flags = {f"f_{k}": np.array(v, dtype=object) for k, v in tables.flags.items() if k != "weight"}
    con.register("flags", {"flag": np.arange(len(flags["f_FN"])), **flags})
    con.register("cust", {"i": np.arange(cust.size), "flag": cust.flags, "age": cust.age,
                          "postal": cust.postal})
    con.execute(f"""
        COPY (SELECT sha256('{salt}:c:' || i) AS customer_id, nullif(f_FN, '') AS FN,
                     nullif(f_Active, '') AS Active,
                     nullif(f_club_member_status, '') AS club_member_status,
                     nullif(f_fashion_news_frequency, '') AS fashion_news_frequency,
                     CASE WHEN age >= 0 THEN age END AS age,
                     CASE WHEN postal = 0 THEN '{SHARED_POSTAL_CODE}'
                          ELSE sha256('{salt}:p:' || postal) END AS postal_code
              FROM cust JOIN flags USING (flag) ORDER BY customer_id)
        TO '{sql_path(path)}' (HEADER, DELIMITER ',')""")


def write_submission(con: duckdb.DuckDBPyConnection, path: Path, n: int, salt: str,
                     prediction: str) -> None:
    """Write sample_submission.csv: every customer with the same 12 articles."""
    con.execute(f"""
        COPY (SELECT sha256('{salt}:c:' || i) AS customer_id, ? AS prediction
              FROM range({int(n)}) t(i) ORDER BY customer_id)
        TO '{sql_path(path)}' (HEADER, DELIMITER ',')""", [prediction])


def _register_table(con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, list[str]],
                    ints: tuple[str, ...] = ()) -> None:
    """Register a calibration table with a row number ``k``; ``ints`` columns as integers."""
    data = {c: (np.array([int(x) for x in v]) if c in ints else np.array(v, dtype=object))
            for c, v in columns.items()}
    con.register(name, {"k": np.arange(len(next(iter(columns.values())))), **data})


def write_articles(con: duckdb.DuckDBPyConnection, path: Path, cat: Catalogue,
                   tables: Tables) -> None:
    """Write articles.csv: the 25 real columns, sorted by article_id."""
    _register_table(con, "tmpl", tables.templates, ("product_type_no", "department_no",
                    "index_group_no", "section_no", "garment_group_no"))
    _register_table(con, "col", tables.colours, ("colour_group_code", "perceived_colour_value_id",
                    "perceived_colour_master_id"))
    _register_table(con, "gra", tables.graphical, ("graphical_appearance_no",))
    _register_table(con, "nam", tables.names)
    con.register("art", {"id": cat.article_id, "t": cat.template, "c": cat.colour,
                         "g": cat.graphical, "n": cat.name})
    con.execute(f"""
        COPY (SELECT lpad(CAST(id AS VARCHAR), 10, '0') AS article_id, id // 1000 AS product_code,
                     nam.prod_name, tmpl.product_type_no, tmpl.product_type_name,
                     tmpl.product_group_name, gra.graphical_appearance_no,
                     gra.graphical_appearance_name, col.colour_group_code, col.colour_group_name,
                     col.perceived_colour_value_id, col.perceived_colour_value_name,
                     col.perceived_colour_master_id, col.perceived_colour_master_name,
                     tmpl.department_no, tmpl.department_name, tmpl.index_code, tmpl.index_name,
                     tmpl.index_group_no, tmpl.index_group_name, tmpl.section_no,
                     tmpl.section_name, tmpl.garment_group_no, tmpl.garment_group_name,
                     nullif(nam.detail_desc, '') AS detail_desc
              FROM art JOIN tmpl ON art.t = tmpl.k JOIN col ON art.c = col.k
                   JOIN gra ON art.g = gra.k JOIN nam ON art.n = nam.k
              ORDER BY id)
        TO '{sql_path(path)}' (HEADER, DELIMITER ',')""")
