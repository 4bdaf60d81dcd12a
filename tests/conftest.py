"""Shared fixtures: the real-format extracts of tests/data/hm-reference (copied from the project's shared reference) and small workspaces."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REFERENCE = Path(__file__).resolve().parent / "data" / "hm-reference"


def _read(name: str) -> tuple[list[str], list[list[str]]]:
    with open(REFERENCE / name, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_real_format(folder: Path) -> dict[str, int]:
    """Writes the real extracts as a consistent data folder.

    transactions_sample.csv is written verbatim. customers.csv is the real customers sample plus,
    for each buyer missing from it, a copy of a real row under the buyer's id; articles.csv is the
    real 25-column sample (ids without the leading zero) plus the 815 real articles of the
    transactions (9 real columns, leading-zero ids) laid over 25-column template rows.

    Returns:
        Expected figures: rows, distinct articles, customers and buyers.
    """
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REFERENCE / "transactions_sample.csv", folder / "transactions_train.csv")
    _, tx = _read("transactions_sample.csv")
    c_header, customers = _read("customers_sample.csv")
    known = {row[0] for row in customers}
    buyers = sorted({row[1] for row in tx})
    extra = [[b] + customers[i % len(customers)][1:] for i, b in enumerate(b for b in buyers if b not in known)]
    _write(folder / "customers.csv", c_header, customers + extra)
    a_header, articles = _read("articles_sample_25col.csv")
    t_header, tx_articles = _read("transaction_articles_sample.csv")
    have = {int(row[0]) for row in articles}
    overlay = []
    for i, row in enumerate(r for r in tx_articles if int(r[0]) not in have):
        new = list(articles[i % len(articles)])
        for name, value in zip(t_header, row):
            new[a_header.index(name)] = value
        new[1] = row[0][:-3].lstrip("0")
        overlay.append(new)
    _write(folder / "articles.csv", a_header, articles + overlay)
    return {"transactions": len(tx), "articles": len(articles) + len(overlay),
            "customers": len(customers) + len(extra), "buyers": len(buyers),
            "first_date": min(r[0] for r in tx), "last_date": max(r[0] for r in tx)}


@pytest.fixture
def real_dir(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """A data folder made of the real extracts, with its expected figures."""
    folder = tmp_path / "real data"
    return folder, write_real_format(folder)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """An empty workspace path with a space and a non-ASCII character in it."""
    return tmp_path / "wörk space"


UNKNOWN_CUSTOMER = "f" * 64  # in the shared world's sample_submission.csv, not in its customers.csv


@pytest.fixture(scope="session")
def trained_world(tmp_path_factory) -> dict[str, Path]:
    """One tiny world (seed 3, with a customer in sample_submission.csv the database does not
    know), its database and one trained run (two-tower and ranker), made once for the session.
    Read it as it is, or copy it (`copy_world`) before changing anything."""
    from typer.testing import CliRunner
    from hmbatch.cli import app
    root = tmp_path_factory.mktemp("shared world")
    data, ws = root / "data", root / "ws"
    runner = CliRunner()

    def invoke(*args) -> None:
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output

    invoke("synth", data, "--scale", "tiny", "--seed", "3")
    with open(data / "sample_submission.csv", "a") as handle:
        handle.write(f"{UNKNOWN_CUSTOMER},0108775015\n")
    invoke("build-db", data, "--workspace", ws)
    invoke("train", "--workspace", ws, "--epochs", "2", "--weeks", "2", "--dim", "16", "--batch-size", "256")
    return {"data": data, "ws": ws}


def copy_world(world: dict[str, Path], root: Path, data: str = "data", ws: str = "ws") -> dict[str, Path]:
    """A copy of the shared world's data folder and workspace under `root`, named `data` and `ws`."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(world["data"], root / data)
    shutil.copytree(world["ws"], root / ws)
    return {"data": root / data, "ws": root / ws}
