"""build-db on files in the real format, the summary figures, and every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from hmbatch.cli import app

runner = CliRunner()


def build(data: Path, ws: Path):
    return runner.invoke(app, ["build-db", str(data), "--workspace", str(ws)])


def query(ws: Path, sql: str):
    with duckdb.connect(str(ws / "hmbatch.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_real_format_loads_every_row(real_dir, workspace):
    data, expected = real_dir
    result = build(data, workspace)
    assert result.exit_code == 0, result.output
    assert query(workspace, "SELECT count(*) FROM transactions") == [(expected["transactions"],)]
    assert query(workspace, "SELECT count(*) FROM articles") == [(expected["articles"],)]
    assert query(workspace, "SELECT count(*) FROM customers") == [(expected["customers"],)]
    assert query(workspace, "SELECT count(*) FROM customer_stats") == [(expected["buyers"],)]
    assert f"{expected['transactions']:,}" in result.output
    assert expected["first_date"] in result.output and expected["last_date"] in result.output


def test_types_and_codes(real_dir, workspace):
    data, _ = real_dir
    assert build(data, workspace).exit_code == 0
    row = query(workspace, "SELECT t.t_dat, t.price, t.channel FROM transactions t JOIN customers c "
                           "USING (customer_idx) WHERE t.article_id = 663713001 AND c.customer_id = "
                           "'000058a12d5b43e67d225668fa1f8d618c13dc232df0cad8ffe7ad4a1091e318'")
    assert len(row) == 1 and str(row[0][0]) == "2018-09-20" and row[0][2] == 2
    assert abs(row[0][1] - 0.050830508474576264) < 1e-12
    types = dict(query(workspace, "SELECT column_name, data_type FROM information_schema.columns "
                                  "WHERE table_name = 'articles'"))
    assert types["article_id"] == "INTEGER" and types["product_type"] == "SMALLINT"
    # the code of 'Vest top' names it back through categories
    names = query(workspace, "SELECT c.name FROM articles a JOIN categories c ON c.feature = "
                             "'product_type' AND c.code = a.product_type WHERE a.article_id = 108775015")
    assert names == [("Vest top",)]
    # FN/Active: '1.0' -> 1, empty -> 0; age missing stays NULL
    flags = query(workspace, "SELECT sum(fn), sum(active), count(*) - count(age) FROM customers")[0]
    src = (data / "customers.csv").read_text().splitlines()[1:]
    assert flags[0] == sum(1 for line in src if line.split(",")[1] == "1.0")
    assert flags[2] == sum(1 for line in src if line.split(",")[5] == "")


def test_leading_zero_and_plain_ids_are_the_same_article(real_dir, workspace):
    data, expected = real_dir
    text = (data / "transactions_train.csv").read_text().splitlines()
    plain = [text[0]] + [",".join(p[:2] + [p[2].lstrip("0")] + p[3:]) for p in
                         (line.split(",") for line in text[1:])]
    (data / "transactions_train.csv").write_text("\n".join(plain) + "\n")
    assert build(data, workspace).exit_code == 0
    assert query(workspace, "SELECT count(*) FROM transactions") == [(expected["transactions"],)]


def test_orphans_are_counted_and_skipped(real_dir, workspace):
    data, expected = real_dir
    lines = (data / "transactions_train.csv").read_text().splitlines()
    lines.append("2018-09-20," + "f" * 64 + ",0108775015,0.01,2")
    lines.append("2018-09-20," + lines[1].split(",")[1] + ",0999999999,0.01,2")
    (data / "transactions_train.csv").write_text("\n".join(lines) + "\n")
    result = build(data, workspace)
    assert result.exit_code == 0
    assert "1 rows with a customer not in customers.csv" in " ".join(result.output.split())
    assert query(workspace, "SELECT count(*) FROM transactions") == [(expected["transactions"],)]


def test_summary_tables_and_sample_submission(real_dir, workspace):
    data, expected = real_dir
    ids = [line.split(",")[0] for line in (data / "customers.csv").read_text().splitlines()[1:]]
    (data / "sample_submission.csv").write_text(
        "customer_id,prediction\n" + "".join(f"{c},0706016001 0706016002\n" for c in reversed(ids)))
    assert build(data, workspace).exit_code == 0
    order = query(workspace, "SELECT customer_id FROM submission_customers ORDER BY position")
    assert [r[0] for r in order] == list(reversed(ids))
    week0 = query(workspace, "SELECT sum(n_sales) FROM weekly_article_sales WHERE week = 0")
    assert week0 == [(expected["transactions"],)]  # the sample spans one day


def _good_then_bad(real_dir, workspace, mutate) -> str:
    data, expected = real_dir
    assert build(data, workspace).exit_code == 0
    before = query(workspace, "SELECT count(*) FROM transactions")
    mutate(data)
    result = build(data, workspace)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert query(workspace, "SELECT count(*) FROM transactions") == before  # old db still works
    assert not any(p.name.startswith("build-") for p in (workspace / "tmp").iterdir())
    return " ".join(result.output.split())


def _edit_line(path: Path, line_no: int, column: int, value: str) -> None:
    lines = path.read_text().splitlines()
    parts = lines[line_no - 1].split(",")
    parts[column] = value
    lines[line_no - 1] = ",".join(parts)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("mutate, message", [
    (lambda d: (d / "customers.csv").unlink(), "customers.csv: file not found"),
    (lambda d: (d / "articles.csv").write_text(""), "articles.csv: file is empty"),
    (lambda d: (d / "transactions_train.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary"),
     "transactions_train.csv: not a CSV text file"),
    (lambda d: (d / "transactions_train.csv").write_text("t_dat,customer_id,article_id,price\n"),
     "transactions_train.csv: missing column(s) sales_channel_id"),
    (lambda d: (d / "transactions_train.csv").write_text(
        "t_dat,customer_id,article_id,price,sales_channel_id,extra\n"),
     "transactions_train.csv: unexpected column(s) extra"),
    (lambda d: _edit_line(d / "transactions_train.csv", 7, 0, "2018-13-45"),
     "transactions_train.csv: line 7: cannot read t_dat '2018-13-45' as DATE"),
    (lambda d: _edit_line(d / "transactions_train.csv", 12, 3, "cheap"),
     "transactions_train.csv: line 12: cannot read price 'cheap' as DOUBLE"),
    (lambda d: _edit_line(d / "transactions_train.csv", 5, 3, ""),
     "transactions_train.csv: line 5: empty price"),
    (lambda d: (d / "transactions_train.csv").write_text(
        "t_dat,customer_id,article_id,price,sales_channel_id\n"),
     "transactions_train.csv: no usable rows (the file has a header only)"),
    (lambda d: _edit_line(d / "customers.csv", 3, 5, "old"),
     "customers.csv: line 3: cannot read age 'old' as DOUBLE"),
    (lambda d: (d / "customers.csv").write_text(
        (d / "customers.csv").read_text() + (d / "customers.csv").read_text().splitlines()[1] + "\n"),
     "customers.csv: duplicate customer_id"),
])
def test_bad_input_keeps_previous_db(real_dir, workspace, mutate, message):
    assert message in _good_then_bad(real_dir, workspace, mutate)


def test_missing_data_dir(tmp_path, workspace):
    result = build(tmp_path / "nowhere", workspace)
    assert result.exit_code == 1 and "data folder not found" in result.output


def test_mixed_line_endings_and_no_final_newline(real_dir, workspace):
    """A CRLF file to which another tool appended LF rows, the last without a newline: every row
    is read, the appended ones included."""
    data, expected = real_dir
    path = data / "transactions_train.csv"
    lines = path.read_text().splitlines()
    head, appended = lines[:-100], lines[-100:]
    path.write_bytes(("\r\n".join(head) + "\r\n" + "\n".join(appended)).encode())
    result = build(data, workspace)
    assert result.exit_code == 0, result.output
    assert query(workspace, "SELECT count(*) FROM transactions") == [(expected["transactions"],)]


def test_unparsable_csv_names_the_file_and_line(real_dir, workspace):
    data, _ = real_dir
    path = data / "transactions_train.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[40] = lines[40].rstrip("\n") + ',extra,"fields\n'
    path.write_text("".join(lines))
    result = build(data, workspace)
    assert result.exit_code == 1 and "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert "transactions_train.csv" in message and "line 41:" in message, message  # header + 40 rows


def test_threads_come_from_the_environment(real_dir, workspace, monkeypatch):
    """$HMBATCH_THREADS sets DuckDB's threads (the test suite's processes run with one each); a
    value that is not a count is one line naming the variable, and nothing is built."""
    from hmbatch.sqlfiles import duckdb_config
    monkeypatch.setenv("HMBATCH_THREADS", "3")
    with duckdb.connect(config=duckdb_config()) as con:
        assert con.execute("SELECT current_setting('threads')").fetchone()[0] == 3
    monkeypatch.setenv("HMBATCH_THREADS", "two")
    result = build(real_dir[0], workspace)
    assert result.exit_code == 1 and "$HMBATCH_THREADS is 'two'" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (workspace / "hmbatch.duckdb").exists()
