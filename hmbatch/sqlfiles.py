"""Running the named SQL files of sql/: split into statements, bind only the parameters used."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def split_statements(sql: str) -> list[str]:
    """Splits a file into statements at semicolons that end a line (no ';' inside strings)."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [part.strip() for part in re.split(r";\s*(?:\n|$)", body) if part.strip()]


def parameters(sql: str) -> set[str]:
    """The names of the `$name` bind parameters in `sql`."""
    return set(re.findall(r"\$(\w+)", sql))


def execute_file(con: duckdb.DuckDBPyConnection, name: str,
                 params: dict[str, object]) -> duckdb.DuckDBPyConnection:
    """Runs sql/`name` statement by statement with its bind parameters.

    Returns:
        The connection, holding the last statement's result (for `.fetchnumpy()`).
    """
    for statement in split_statements((SQL_DIR / name).read_text()):
        con.execute(statement, {k: params[k] for k in parameters(statement)})
    return con
