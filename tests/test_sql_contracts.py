"""Every sql/ file states its contract at the end of its leading comment block, and the statements
keep it:

    -- reads: name, name, ...     tables, temp tables and views it reads (`none` if none)
    -- writes: name, name, ...    what it creates, replaces or appends to (`none` if nothing); a file whose last
                                 statement is a query ends the line with `(returns ...columns...)`
    -- params: $name, $name, ...  its `$name` bind parameters, sorted (`none` if none)

The checks are textual (regular expressions over the statements, comments dropped), not a SQL parser.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from hmbatch.errors import SqlError
from hmbatch.sqlfiles import execute_file, parameters, split_statements

SQL = Path(__file__).resolve().parents[1] / "sql"
FILES = sorted(SQL.rglob("*.sql"))

KEYS = ("reads", "writes", "params")
CONTRACT_LINE = re.compile(r"^-- (reads|writes|params): (\S.*?)\s*$")
CREATE = re.compile(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?(?:TABLE|VIEW)\s+"
                    r"(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.IGNORECASE)
INSERT = re.compile(r"\bINSERT\s+INTO\s+(\w+)", re.IGNORECASE)
# a plain name after FROM or JOIN: not a subquery `(`, not a table function `name(`
SOURCE = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)\b(?!\s*\()", re.IGNORECASE)
CTE = re.compile(r"\b(\w+)\s+AS\s*\(", re.IGNORECASE)
RETURNS = re.compile(r"\s*\(returns\b[^()]*\)$")
QUERY_START = re.compile(r"(SELECT|WITH|FROM)\b", re.IGNORECASE)


def leading_block(text: str) -> list[str]:
    """The comment lines before the file's first statement."""
    block = []
    for line in text.splitlines():
        if not line.lstrip().startswith("--"):
            break
        block.append(line)
    return block


def contract(path: Path) -> dict[str, str]:
    """The values of the three contract lines, checked to be the last lines of the leading block."""
    text = path.read_text()
    found = [m.groups() for m in map(CONTRACT_LINE.match, text.splitlines()) if m]
    for key in KEYS:
        count = sum(1 for k, _ in found if k == key)
        assert count == 1, f"'-- {key}: ...' appears {count} times, not once"
    block = leading_block(text)
    tail = [CONTRACT_LINE.match(line) for line in block[-3:]]
    assert [m.group(1) if m else None for m in tail] == list(KEYS), (
        "the leading comment block does not end with the lines reads:, writes:, params: (in that order)")
    return {m.group(1): m.group(2) for m in tail}


def names(value: str) -> list[str]:
    """The comma-separated names of a contract value; `none` is the empty list."""
    if value == "none":
        return []
    items = [item.strip() for item in value.split(",")]
    assert all(re.fullmatch(r"\$?\w+", item) for item in items), f"not a list of names: {value!r}"
    assert len(set(items)) == len(items), f"a name is listed twice: {value!r}"
    return items


def statements(path: Path) -> str:
    return "\n".join(split_statements(path.read_text()))


def test_the_sql_folder_is_found():
    assert (SQL / "01_articles.sql").is_file() and len(FILES) > 20


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(SQL)) for p in FILES])
def test_contract(path: Path):
    stated = contract(path)
    body = statements(path)
    lowered = body.lower()

    # params: exactly the bind parameters of the statements, sorted
    params = names(stated["params"])
    assert all(p.startswith("$") for p in params), f"params are written $name: {stated['params']!r}"
    assert params == sorted(params), f"params are not sorted: {stated['params']!r}"
    assert {p[1:] for p in params} == parameters(body)

    # writes: exactly the CREATE targets; `(returns ...)` when the last statement is a query
    writes_value = stated["writes"]
    returns = RETURNS.search(writes_value)
    is_query = bool(QUERY_START.match(split_statements(path.read_text())[-1]))
    assert bool(returns) == is_query, (
        "the last statement returns a result: end the writes line with (returns ...columns...)" if is_query
        else "(returns ...) on the writes line, but the last statement is not a query")
    if returns:
        writes_value = writes_value[:returns.start()]
    writes = [w.lower() for w in names(writes_value)]
    created = {c.lower() for c in CREATE.findall(body) + INSERT.findall(body)}
    assert set(writes) == created, (
        f"not listed: {sorted(created - set(writes))}; not created: {sorted(set(writes) - created)}")

    # reads: each name occurs in the statements; every FROM/JOIN source is declared somewhere
    reads = [r.lower() for r in names(stated["reads"])]
    absent = [r for r in reads if not re.search(rf"\b{re.escape(r)}\b", lowered)]
    assert absent == [], f"listed in reads but not in the statements: {absent}"
    ctes = {c.lower() for c in CTE.findall(body)}
    sources = {s.lower() for s in SOURCE.findall(body)}
    undeclared = sorted(sources - set(reads) - set(writes) - ctes)
    assert undeclared == [], f"read but neither in reads, in writes nor a CTE: {undeclared}"


def test_a_failing_statement_names_its_file_and_statement():
    con = duckdb.connect()
    try:
        with pytest.raises(SqlError) as caught:
            execute_file(con, "serving/fill.sql", {"cutoff": "2020-01-01", "days": 28, "k": 12})
    finally:
        con.close()
    message = str(caught.value)
    assert message.startswith("sql/serving/fill.sql, statement 1:"), message
    assert "transactions" in message, message
