"""Hostile input for build-db: fuzzed and pathological CSVs never hang, crash with a traceback, or
damage the workspace. `make fuzz` runs many more examples (HMBATCH_FUZZ_EXAMPLES)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import write_real_format

HMBATCH = str(Path(sys.executable).with_name("hmbatch"))
EXAMPLES = int(os.environ.get("HMBATCH_FUZZ_EXAMPLES", "10"))
FILES = ("transactions_train.csv", "customers.csv", "articles.csv")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    write_real_format(root / "good")
    ws = root / "ws"
    assert subprocess.run([HMBATCH, "build-db", str(root / "good"), "--workspace", str(ws)],
                          capture_output=True).returncode == 0
    return root, ws


def rows_of(ws: Path) -> int:
    with duckdb.connect(str(ws / "hmbatch.duckdb"), read_only=True) as con:
        return con.execute("SELECT count(*) FROM transactions").fetchone()[0]


def build_with(base, name: str, content: bytes, timeout: float = 120) -> subprocess.CompletedProcess:
    root, ws = base
    data = root / "case"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(root / "good", data)
    (data / name).write_bytes(content)
    proc = subprocess.run([HMBATCH, "build-db", str(data), "--workspace", str(ws)], capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    if proc.returncode == 1:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        assert lines[0].startswith("error:") and str(data) in " ".join(lines).replace("\n", "")
    assert rows_of(ws) > 0  # a database is always there and readable
    assert not [p for p in (ws / "tmp").iterdir() if p.name.startswith("build-")]
    return proc


def mutate(original: bytes, cut: int, junk: bytes, at: int, mode: str) -> bytes:
    at = at % max(len(original), 1)
    if mode == "truncate":
        return original[: cut % max(len(original), 1)]
    if mode == "insert":
        return original[:at] + junk + original[at:]
    if mode == "replace":
        return original[:at] + junk + original[at + len(junk):]
    return junk


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(FILES), cut=st.integers(0, 10**6), at=st.integers(0, 10**6),
       junk=st.binary(min_size=0, max_size=64) | st.sampled_from([b'"', b'\n\n\n', b',,,,', b'\xff\xfe',
                                                                  b'"unclosed,', b'\x00', b'\r']),
       mode=st.sampled_from(["truncate", "insert", "replace", "whole"]))
def test_fuzzed_files_fail_cleanly(base, name, cut, at, junk, mode):
    build_with(base, name, mutate((base[0] / "good" / name).read_bytes(), cut, junk, at, mode))



@pytest.mark.parametrize("case", ["empty lines", "huge field", "utf-16", "latin-1", "unclosed quote",
                                  "header only", "truncated mid-line", "binary"])
def test_pathological_files(base, case):
    good = (base[0] / "good" / "transactions_train.csv").read_bytes()
    head, rest = good.split(b"\n", 1)
    content = {
        "empty lines": head + b"\n" + b"\n" * 2_000_000 + rest,
        "huge field": head + b"\n2018-09-20," + b"a" * 5_000_000 + b",0108775015,0.01,2\n" + rest,
        "utf-16": good.decode().encode("utf-16"),
        "latin-1": head + b"\n" + rest.replace(b"2018-09-20", "2018-09-2\u00e9".encode("latin-1"), 1),
        "unclosed quote": head + b"\n" + rest.replace(b",2\n", b',"2\n', 1),
        "header only": head + b"\n",
        "truncated mid-line": good[: len(good) // 2],
        "binary": os.urandom(4096),
    }[case]
    proc = build_with(base, "transactions_train.csv", content, timeout=120)
    if case in ("utf-16", "binary", "huge field", "header only", "latin-1"):
        assert proc.returncode == 1
    if case == "latin-1":
        assert "line 2: not UTF-8" in proc.stderr
