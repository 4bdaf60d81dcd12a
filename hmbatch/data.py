"""`hmbatch build-db`: the raw competition CSVs -> a typed DuckDB database, through the SQL in sql/.

The build runs each file of sql/ in order inside a temporary database that replaces the previous
one only when every step has succeeded, so a failed or interrupted build keeps the old database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from hmbatch.errors import InputError, SqlError
from hmbatch.sqlfiles import duckdb_config, execute_file, parameters, split_statements, sql_dir
from hmbatch.workspace import (Workspace, on_interrupt, pause_point, remove_path, signal_received,
                               signals_as_interrupt)


ARTICLE_COLUMNS = (
    "article_id", "product_code", "prod_name", "product_type_no", "product_type_name",
    "product_group_name", "graphical_appearance_no", "graphical_appearance_name",
    "colour_group_code", "colour_group_name", "perceived_colour_value_id",
    "perceived_colour_value_name", "perceived_colour_master_id", "perceived_colour_master_name",
    "department_no", "department_name", "index_code", "index_name", "index_group_no",
    "index_group_name", "section_no", "section_name", "garment_group_no", "garment_group_name",
    "detail_desc",
)
CUSTOMER_COLUMNS = ("customer_id", "FN", "Active", "club_member_status", "fashion_news_frequency",
                    "age", "postal_code")
TRANSACTION_COLUMNS = ("t_dat", "customer_id", "article_id", "price", "sales_channel_id")
SAMPLE_COLUMNS = ("customer_id", "prediction")


@dataclass(frozen=True)
class RawFile:
    """One input file: its parameter name in sql/, its columns, and the typed ones to check."""

    param: str
    name: str
    columns: tuple[str, ...]
    typed: dict[str, str]
    required: tuple[str, ...] = ()

    @property
    def role(self) -> str:
        """articles, customers, transactions or sample_submission: names sql/inputs/*_ROLE.sql."""
        return self.param.removesuffix("_csv")

    @property
    def view(self) -> str:
        """The temporary view the build steps read this input from."""
        return f"input_{self.role}"

    @property
    def parquet_name(self) -> str:
        """The file's name in Parquet form (articles.parquet, transactions_train.parquet, ...)."""
        return self.name.removesuffix(".csv") + ".parquet"


RAW_FILES = (
    RawFile("articles_csv", "articles.csv", ARTICLE_COLUMNS,
            {"article_id": "INTEGER", "product_code": "INTEGER"}, ("article_id",)),
    RawFile("customers_csv", "customers.csv", CUSTOMER_COLUMNS,
            {"FN": "DOUBLE", "Active": "DOUBLE", "age": "DOUBLE"}, ("customer_id",)),
    RawFile("transactions_csv", "transactions_train.csv", TRANSACTION_COLUMNS,
            {"t_dat": "DATE", "article_id": "INTEGER", "price": "DOUBLE",
             "sales_channel_id": "TINYINT"},
            TRANSACTION_COLUMNS),
    RawFile("sample_submission_csv", "sample_submission.csv", SAMPLE_COLUMNS, {}, ("customer_id",)),
)


def sql_steps() -> list[Path]:
    """The build steps: the files of sql/ in name order."""
    return sorted(sql_dir().glob("[0-9][0-9]_*.sql"))


@dataclass(frozen=True)
class Checked:
    """What reading a whole input file once found: its content hash, and whether its lines end
    in both CRLF and LF (a CRLF file another tool appended LF rows to), which DuckDB cannot read."""

    digest: str
    mixed_endings: bool = False


def check_header(path: Path, expected: tuple[str, ...]) -> Checked:
    """Checks that `path` is a non-empty UTF-8 text CSV whose header is exactly `expected`.

    Returns:
        The file's content hash and line-ending mix.

    Raises:
        InputError: naming the file and the problem.
    """
    _check_file(path, expected)
    with open(path, "rb") as handle:
        head = handle.read(65536)
    if b"\x00" in head:
        raise InputError(f"{path}: not a CSV text file (binary data in the first bytes)")
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        header = first.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text (line 1 cannot be decoded)") from None
    columns = tuple(c.strip().strip('"') for c in header.split(","))
    _compare_columns(path, columns, expected)
    return check_utf8(path)


def _check_file(path: Path, expected: tuple[str, ...]) -> None:
    if not path.exists():
        raise InputError(f"{path}: file not found (expected the competition's {path.name})")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty (expected a header: {','.join(expected)})")


def check_parquet(path: Path, expected: tuple[str, ...]) -> Checked:
    """Checks that `path` is a readable Parquet file with exactly the `expected` columns (in any
    order: they are read by name).

    Returns:
        The SHA-256 of the file's bytes (as for a CSV file, the fingerprint is content-based).

    Raises:
        InputError: naming the file and the problem.
    """
    _check_file(path, expected)
    try:
        with duckdb.connect() as con:
            columns = tuple(row[0] for row in con.execute("DESCRIBE SELECT * FROM read_parquet(?)",
                                                          [str(path)]).fetchall())
    except duckdb.Error as exc:
        raise InputError(f"{path}: cannot be read as Parquet ({str(exc).strip().splitlines()[0]})") from None
    _compare_columns(path, columns, expected, where="in the file's schema", ordered=False)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 24):
            digest.update(block)
    return Checked(digest.hexdigest())


def check_utf8(path: Path, chunk: int = 1 << 24) -> Checked:
    """Reads the whole file once: raises naming the line of the first byte sequence that is not
    UTF-8; returns the SHA-256 of the content (the database fingerprint is made of these) and
    whether CRLF and bare LF line ends are mixed.

    DuckDB's reader would otherwise drop such bytes silently and read, for instance, a Latin-1
    '2018-09-2\xe9' as the date 2018-09-02. ASCII chunks (all of the real transactions) are
    checked at memory speed.
    """
    import codecs
    decoder = codecs.getincrementaldecoder("utf-8")()
    digest = hashlib.sha256()
    offset = lf = crlf = 0
    previous = b""
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
            lf += block.count(b"\n")
            crlf += block.count(b"\r\n") + (previous.endswith(b"\r") and block.startswith(b"\n"))
            previous = block
            if not block.isascii():
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    raise InputError(f"{path}: line {_line_at(path, offset + exc.start)}: not UTF-8 "
                                     "text; save the file as UTF-8") from None
            offset += len(block)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise InputError(f"{path}: the file ends inside a UTF-8 character (truncated?)") from None
    return Checked(digest.hexdigest(), mixed_endings=0 < crlf < lf)


def normalize_line_endings(path: Path, out: Path, chunk: int = 1 << 24) -> None:
    """Copies `path` to `out` with every CRLF line end written as LF."""
    with open(path, "rb") as src, open(out, "wb") as dst:
        carry = b""
        while block := src.read(chunk):
            block = carry + block
            carry = b"\r" if block.endswith(b"\r") else b""
            dst.write(block[:len(block) - len(carry)].replace(b"\r\n", b"\n"))
        dst.write(carry)


def _line_at(path: Path, position: int) -> int:
    with open(path, "rb") as handle:
        return handle.read(position).count(b"\n") + 1


def _compare_columns(path: Path, columns: tuple[str, ...], expected: tuple[str, ...],
                     where: str = "in line 1", ordered: bool = True) -> None:
    missing = [c for c in expected if c not in columns]
    unexpected = [c for c in columns if c not in expected]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} {where} "
                         f"(expected: {','.join(expected)})")
    if unexpected:
        raise InputError(f"{path}: unexpected column(s) {', '.join(unexpected)} {where} "
                         f"(expected: {','.join(expected)})")
    if ordered and columns != expected:
        raise InputError(f"{path}: columns out of order in line 1 (expected: {','.join(expected)})")


def locate_inputs(data_dir: Path) -> tuple[dict[str, Path], dict[str, Checked]]:
    """Finds and checks the raw files in `data_dir`, each as NAME.csv or NAME.parquet;
    sample_submission is optional.

    Returns:
        (path of each file by its role's key, what checking each found, by the same key).
    """
    if not data_dir.is_dir():
        raise InputError(f"{data_dir}: data folder not found")
    paths, digests = {}, {}
    for raw in RAW_FILES:
        path, parquet = data_dir / raw.name, data_dir / raw.parquet_name
        if path.exists() and parquet.exists():
            raise InputError(f"{data_dir}: both {raw.name} and {raw.parquet_name}; keep one of them")
        if parquet.exists():
            path = parquet
        elif raw.param == "sample_submission_csv" and not path.exists():
            continue
        check = check_parquet if path.suffix == ".parquet" else check_header
        digests[raw.param] = check(path, raw.columns)
        paths[raw.param] = path
    return paths, digests


def _source(path: Path) -> str:
    """A table function reading `path` (bound as parameter ?) with every column as text."""
    if path.suffix == ".parquet":
        return "(SELECT COLUMNS(*)::VARCHAR FROM read_parquet(?))"
    return "read_csv(?, header = true, all_varchar = true, delim = ',', quote = '\"', escape = '\"')"


def locate_bad_value(con: duckdb.DuckDBPyConnection, raw: RawFile, path: Path) -> str | None:
    """Finds the first line of `path` whose typed or required column cannot be read."""
    checks = [f'("{c}" IS NOT NULL AND TRY_CAST("{c}" AS {t}) IS NULL)' for c, t in raw.typed.items()]
    checks += [f'"{c}" IS NULL' for c in raw.required]
    cols = ", ".join(f'"{c}"' for c in raw.columns)
    # a CSV file's header is line 1; a Parquet file's rows are counted from 1
    first = 1 if path.suffix == ".parquet" else 2
    row = con.execute(
        f"SELECT line, {cols} FROM (SELECT row_number() OVER () + {first - 1} AS line, * FROM {_source(path)}) "
        f"WHERE {' OR '.join(checks)} ORDER BY line LIMIT 1", [str(path)]).fetchone()
    if row is None:
        return None
    values = dict(zip(raw.columns, row[1:]))
    where = f"{'row' if first == 1 else 'line'} {row[0]}"
    for column in raw.required + tuple(raw.typed):
        value = values[column]
        if value is None and column in raw.required:
            return f"{path}: {where}: empty {column}"
        if value is not None and column in raw.typed and con.execute(
                f"SELECT TRY_CAST(? AS {raw.typed[column]}) IS NULL", [value]).fetchone()[0]:
            return f"{path}: {where}: cannot read {column} {value!r} as {raw.typed[column]}"
    return None


def run_step(con: duckdb.DuckDBPyConnection, step: Path, params: dict[str, str],
             inputs: dict[str, Path]) -> None:
    """Runs one sql/ file; a failing statement stops the build with its file and cause."""
    text = step.read_text()
    for statement in split_statements(text):
        try:
            con.execute(statement, {k: params[k] for k in parameters(statement)})
        except duckdb.Error as exc:
            if signal_received():
                raise
            raise _explain(con, step, exc, text, inputs) from None


def _explain(con, step: Path, exc: Exception, text: str, inputs: dict[str, Path]) -> InputError:
    first = str(exc).strip().splitlines()[0]
    for raw in RAW_FILES:
        if raw.view in text and raw.param in inputs:
            path = inputs[raw.param]
            located = locate_bad_value(con, raw, path) if _readable(con, path) else None
            line = re.search(r"\bLine:? (\d+)", str(exc), re.IGNORECASE)
            where = f"line {line.group(1)}: " if line else ""
            kind = "Parquet" if path.suffix == ".parquet" else "CSV"
            return InputError(located or f"{path}: {where}cannot be read as {kind} ({first})")
    return InputError(f"build step sql/{step.name} failed: {first}")


def _readable(con, path: Path) -> bool:
    try:
        con.execute(f"SELECT count(*) FROM {_source(path)}", [str(path)]).fetchone()
        return True
    except duckdb.Error:
        return False


def create_input_views(con: duckdb.DuckDBPyConnection, params: dict[str, str],
                       inputs: dict[str, Path] | None = None) -> None:
    """Creates the view input_ROLE of each raw file through sql/inputs/{csv|parquet}_ROLE.sql; the
    file's path goes in as a bound DuckDB variable (views take no bind parameters)."""
    for raw in RAW_FILES:
        path = Path(params[raw.param])
        kind = "parquet" if path.suffix == ".parquet" else "csv"
        con.execute(f"SET VARIABLE {raw.role}_path = ?", [str(path)])
        try:
            execute_file(con, f"inputs/{kind}_{raw.role}.sql", {})
        except SqlError as exc:
            label = "Parquet" if kind == "parquet" else "CSV"
            named = (inputs or {}).get(raw.param, path)
            cause = str(exc.__cause__).strip().splitlines()[0]
            raise InputError(f"{named}: cannot be read as {label} ({cause})") from None


def check_loaded(con: duckdb.DuckDBPyConnection, inputs: dict[str, Path]) -> dict[str, int]:
    """Checks the loaded tables: rows present, ids unique, no empty required values.

    Returns:
        The load report: rows read and rows skipped for unknown customers or articles.
    """
    report = dict(zip(("rows_read", "unknown_customer_rows", "unknown_article_rows", "empty_value_rows"),
                      map(int, con.execute("SELECT * FROM load_report").fetchone())))
    empty = {"transactions_csv": report.pop("empty_value_rows"),
             "customers_csv": con.execute("SELECT count(*) FROM customers WHERE customer_id IS NULL").fetchone()[0],
             "articles_csv": con.execute("SELECT count(*) FROM articles WHERE article_id IS NULL").fetchone()[0]}
    for raw in RAW_FILES:
        if empty.get(raw.param):
            raise InputError(locate_bad_value(con, raw, inputs[raw.param])
                             or f"{inputs[raw.param]}: {empty[raw.param]} rows with empty required values")
    for table, param in (("articles", "articles_csv"), ("customers", "customers_csv"),
                         ("transactions", "transactions_csv")):
        if con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0:
            raise InputError(f"{inputs[param]}: no usable rows ({_skipped_text(report)})")
    for table, key, param in (("articles", "article_id", "articles_csv"),
                              ("customers", "customer_id", "customers_csv")):
        dup = con.execute(f"SELECT {key} FROM {table} GROUP BY {key} HAVING count(*) > 1 "
                          f"ORDER BY {key} LIMIT 1").fetchone()
        if dup:
            raise InputError(f"{inputs[param]}: duplicate {key} {dup[0]!r}")
    return report


def _skipped_text(report: dict[str, int]) -> str:
    if report["rows_read"] == 0:
        return "the file has a header only"
    return (f"{report['rows_read']:,} rows read; {report['unknown_customer_rows']:,} name a customer "
            f"not in customers.csv, {report['unknown_article_rows']:,} an article not in articles.csv")


def fingerprint(digests: dict[str, str]) -> str:
    """A short id of the data: the content hash of each input file, by its role.

    The same files give the same fingerprint wherever and whenever they are built (a model stays
    current after a rebuild); any changed byte gives another (the model is then stale).
    """
    parts = [f"{name}:{digests[name]}" for name in sorted(digests)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def build_db(data_dir: Path, ws: Workspace, memory_limit: str = "4GB") -> dict:
    """Builds the workspace's database from the raw files in `data_dir`.

    Args:
        data_dir: folder with articles, customers, transactions_train and optionally
            sample_submission, each as NAME.csv or NAME.parquet, in the competition's layout.
        ws: the workspace; its database is replaced only when the build completes.
        memory_limit: DuckDB's memory limit (it spills to the workspace's tmp/ beyond it).

    Returns:
        The summary: rows per table, date range, skipped rows, fingerprint and elapsed seconds.

    Raises:
        InputError: a missing, empty, malformed or inconsistent input file.
    """
    started = time.perf_counter()
    inputs, checked = locate_inputs(data_dir)
    digests = {k: c.digest for k, c in checked.items()}
    with ws.writer_lock("build-db"), signals_as_interrupt():
        tmp_db = ws.tmp_path("build", ".duckdb")
        stand_in = ws.tmp_path("build", "-sample.csv")
        # files with mixed line ends are read from a copy with LF ends (errors still name the original)
        normalized = {k: ws.tmp_path("build", f"-{inputs[k].name}") for k, c in checked.items() if c.mixed_endings}
        try:
            for key, copy in normalized.items():
                normalize_line_endings(inputs[key], copy)
            summary = _build_into(tmp_db, stand_in, inputs, digests, ws, memory_limit, normalized)
            os.replace(tmp_db, ws.db_path)
        finally:
            for leftover in (tmp_db, tmp_db.with_name(tmp_db.name + ".wal"), stand_in, *normalized.values()):
                remove_path(leftover)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return summary


def _build_into(tmp_db: Path, stand_in: Path, inputs: dict[str, Path], digests: dict[str, str],
                ws: Workspace, memory_limit: str, normalized: dict[str, Path]) -> dict:
    params = {k: str(normalized.get(k, v)) for k, v in inputs.items()}
    if "sample_submission_csv" not in params:
        stand_in.write_text(",".join(SAMPLE_COLUMNS) + "\n")
        params["sample_submission_csv"] = str(stand_in)
    con = duckdb.connect(str(tmp_db), config=duckdb_config())
    try:
        with on_interrupt(con.interrupt):
            return _run_steps(con, inputs, digests, params, ws, memory_limit)
    finally:
        con.close()
        remove_path(ws.tmp_dir / f"spill-{os.getpid()}-duckdb")


def _run_steps(con, inputs: dict[str, Path], digests: dict[str, str], params: dict[str, str],
               ws: Workspace, memory_limit: str) -> dict:
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute("SET temp_directory = ?", [str(ws.tmp_dir / f"spill-{os.getpid()}-duckdb")])
    create_input_views(con, params, inputs)
    for step in sql_steps():
        pause_point(f"build-db:{step.stem}")
        run_step(con, step, params, inputs)
    report = check_loaded(con, inputs)
    meta = {"fingerprint": fingerprint(digests), "built": dt.datetime.now().isoformat(timespec="seconds"),
            "build_id": uuid.uuid4().hex,
            "source_dir": str(next(iter(inputs.values())).parent),
            "has_sample_submission": str("sample_submission_csv" in inputs).lower(),
            "load_report": json.dumps(report)}
    con.executemany("INSERT INTO meta VALUES (?, ?)", list(meta.items()))
    summary = summarize(con)
    con.execute("CHECKPOINT")
    return summary


def read_meta(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The meta table as a dict (first_date, last_date, fingerprint, load_report, ...)."""
    return dict(con.execute("SELECT key, value FROM meta").fetchall())


def summarize(con: duckdb.DuckDBPyConnection) -> dict:
    """Rows per table, date range, customers with purchases and the load report."""
    tables = ("articles", "customers", "transactions", "submission_customers", "article_stats",
              "customer_stats", "weekly_article_sales", "categories")
    meta = read_meta(con)
    return {
        "tables": {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables},
        "first_date": meta["first_date"],
        "last_date": meta["last_date"],
        "customers_with_purchases": con.execute("SELECT count(*) FROM customer_stats").fetchone()[0],
        "load_report": json.loads(meta["load_report"]),
        "fingerprint": meta["fingerprint"],
    }


def connect_read_only(ws: Workspace, memory_limit: str = "2GB") -> duckdb.DuckDBPyConnection:
    """Opens the workspace database for reading, with a bounded DuckDB memory budget."""
    return duckdb.connect(str(ws.require_db()), read_only=True, config=duckdb_config(memory_limit=memory_limit))
