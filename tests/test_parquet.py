"""build-db from Parquet files: the same tables, row by row, as from the CSV files (article ids as
text with the leading zero and as integers), and the same one-line errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from hmbatch.cli import app
from hmbatch.data import RAW_FILES

runner = CliRunner()
TABLES = ("articles", "customers", "transactions", "submission_customers", "categories",
          "article_stats", "customer_stats", "weekly_article_sales", "load_report")


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def to_parquet(csv_dir: Path, out: Path, integer_ids: bool) -> None:
    """Writes each CSV of `csv_dir` as NAME.parquet with DuckDB: article ids as text or integers,
    t_dat as a DATE."""
    out.mkdir(parents=True)
    con = duckdb.connect()
    for raw in RAW_FILES:
        typed = {"article_id": "BIGINT"} if integer_ids and "article_id" in raw.columns else {}
        if raw.role == "transactions":
            typed["t_dat"] = "DATE"
        select = ", ".join(f'CAST("{c}" AS {typed[c]}) AS "{c}"' if c in typed else f'"{c}"' for c in raw.columns)
        con.execute(f"COPY (SELECT {select} FROM read_csv(?, all_varchar = true, header = true)) "
                    f"TO '{out / raw.parquet_name}' (FORMAT parquet)", [str(csv_dir / raw.name)])
    con.close()


def rows(ws: Path, table: str) -> list[tuple]:
    """The table's rows in order; averages to 12 significant digits (DuckDB's parallel sums may
    add in another order from one build to the next)."""
    with duckdb.connect(str(ws / "hmbatch.duckdb"), read_only=True) as con:
        found = con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
    return [tuple(float(f"{v:.12g}") if isinstance(v, float) else v for v in row) for row in found]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("parquet")
    assert invoke("synth", root / "csv", "--scale", "tiny", "--seed", "2").exit_code == 0
    results = {}
    for name, integer_ids in (("csv", None), ("pq-text", False), ("pq-int", True)):
        data = root / "csv"
        if integer_ids is not None:
            data = root / name
            to_parquet(root / "csv", data, integer_ids)
        result = invoke("build-db", data, "--workspace", root / f"ws-{name}")
        assert result.exit_code == 0, result.output
        results[name] = root / f"ws-{name}"
    return root, results


@pytest.mark.parametrize("form", ["pq-text", "pq-int"])
def test_parquet_builds_the_same_tables(built, form):
    _, ws = built
    with duckdb.connect(str(ws[form] / "hmbatch.duckdb"), read_only=True) as con:
        assert con.execute("SELECT typeof(article_id) FROM articles LIMIT 1").fetchone()[0] == "INTEGER"
    for table in TABLES:
        expected = rows(ws["csv"], table)
        assert expected and rows(ws[form], table) == expected, table
    meta = {k: v for k, v in rows(ws[form], "meta") if k in ("first_date", "last_date", "load_report")}
    assert meta == {k: v for k, v in rows(ws["csv"], "meta") if k in meta}


def test_parquet_fingerprint_is_content_based(built, tmp_path):
    root, ws = built
    copy = tmp_path / "copy"
    shutil.copytree(root / "pq-int", copy)
    assert invoke("build-db", copy, "--workspace", tmp_path / "ws").exit_code == 0
    fp = lambda w: dict(rows(w, "meta"))["fingerprint"]
    assert fp(tmp_path / "ws") == fp(ws["pq-int"]) != fp(ws["pq-text"])


def test_parquet_errors_name_the_file(built, tmp_path):
    root, _ = built
    data = tmp_path / "bad"
    shutil.copytree(root / "pq-text", data)
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * EXCLUDE (price) FROM read_parquet('{root / 'pq-text' / 'transactions_train.parquet'}')) "
                f"TO '{data / 'transactions_train.parquet'}' (FORMAT parquet)")
    result = invoke("build-db", data, "--workspace", tmp_path / "ws")
    assert result.exit_code == 1
    assert "transactions_train.parquet: missing column(s) price" in result.output
    (data / "articles.parquet").write_bytes(b"PAR1 not really parquet")
    result = invoke("build-db", data, "--workspace", tmp_path / "ws")
    assert result.exit_code == 1 and "articles.parquet: cannot be read as Parquet" in result.output
    (data / "articles.parquet").unlink()
    shutil.copy(root / "csv" / "articles.csv", data / "articles.csv")  # mixed forms are fine
    con.execute(f"COPY (SELECT * REPLACE (CASE WHEN t_dat = (SELECT max(t_dat) FROM read_parquet(?)) "
                f"THEN 'not a date' ELSE CAST(t_dat AS VARCHAR) END AS t_dat) FROM read_parquet(?)) TO '{data / 'transactions_train.parquet'}' "
                "(FORMAT parquet)", [str(root / "pq-text" / "transactions_train.parquet")] * 2)
    result = invoke("build-db", data, "--workspace", tmp_path / "ws")
    assert result.exit_code == 1, result.output
    assert "transactions_train.parquet: row" in result.output and "'not a date'" in result.output
    assert "Traceback" not in result.output
