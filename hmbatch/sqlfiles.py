"""The named SQL files of sql/: where they are, split into statements, bound by parameter name.

The repository keeps them in its top-level `sql/` folder; a built wheel ships the same files as
the package data `hmbatch/sql/` (pyproject.toml maps one onto the other). `sql_dir()` finds them
through importlib.resources, and in a source checkout beside the package.
"""

from __future__ import annotations

import functools
import os
import re
from importlib import resources
from pathlib import Path

import duckdb

from hmbatch.errors import HmbatchError, SqlError
from hmbatch.workspace import signal_received


THREADS_ENV = "HMBATCH_THREADS"


def duckdb_config(**config) -> dict:
    """DuckDB's connection options: `config`, and its threads from $HMBATCH_THREADS when that is
    set (default: DuckDB's, one per core): several processes side by side on one machine (the
    test suite's) can each have one instead of contending with one per core each."""
    threads = os.environ.get(THREADS_ENV)
    if threads is not None:
        if not threads.strip().isdigit() or int(threads) < 1:
            raise HmbatchError(f"${THREADS_ENV} is {threads!r}: give a number of threads, 1 or more (or unset it)")
        config["threads"] = int(threads)
    return config


@functools.lru_cache(maxsize=1)
def sql_dir() -> Path:
    """The folder of the SQL files: the installed package data, else the checkout's sql/.

    Raises:
        HmbatchError: neither exists (a broken installation).
    """
    packaged = Path(str(resources.files("hmbatch") / "sql"))
    checkout = Path(__file__).resolve().parent.parent / "sql"
    for folder in (packaged, checkout):
        if (folder / "01_articles.sql").is_file():
            return folder
    raise HmbatchError(f"the SQL files are missing (looked in {packaged} and {checkout}): "
                       "reinstall hmbatch (`pip install --force-reinstall hmbatch`)")


def read_sql(name: str) -> str:
    """The text of sql/`name` (for instance "features/customer_features.sql")."""
    return (sql_dir() / name).read_text()


def split_statements(sql: str) -> list[str]:
    """Splits a file into statements at semicolons that end a line (no ';' inside strings)."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [part.strip() for part in re.split(r";\s*(?:\n|$)", body) if part.strip()]


def parameters(sql: str) -> set[str]:
    """The names of the `$name` bind parameters in `sql`."""
    return set(re.findall(r"\$(\w+)", sql))


def fill_markers(sql: str) -> set[str]:
    """The names of the `{{name}}` markers in `sql`: SQL text filled in before binding (a column
    list from a registry), where a bind parameter cannot go."""
    return set(re.findall(r"\{\{(\w+)\}\}", sql))


def execute_file(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, object],
                 fill: dict[str, str] | None = None) -> duckdb.DuckDBPyConnection:
    """Runs sql/`name` statement by statement with its bind parameters, after replacing each
    `{{marker}}` of the file by fill[marker].

    Returns:
        The connection, holding the last statement's result (for `.fetchnumpy()`).

    Raises:
        SqlError: a statement failed; the message names the file, the statement and DuckDB's
            cause (an interruption is raised as it is).
    """
    text = read_sql(name)
    for marker in fill_markers(text):
        if marker not in (fill or {}):
            raise SqlError(f"sql/{name}: nothing given to fill {{{{{marker}}}}}")
        text = text.replace("{{" + marker + "}}", fill[marker])
    for number, statement in enumerate(split_statements(text), start=1):
        try:
            con.execute(statement, {k: params[k] for k in parameters(statement)})
        except duckdb.InterruptException:
            raise
        except duckdb.Error as exc:
            if signal_received():
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SqlError(f"sql/{name}, statement {number}: {first}") from exc
    return con
