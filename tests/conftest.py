"""Shared fixtures: the real-format extracts of tests/data/hm-reference (copied from the project's shared reference) and small workspaces."""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
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
PLANTED = 40  # customers with a narrow taste: one small section (for the two-tower)
REBUYERS = 200  # customers who buy the other colour of last week's product (for the ranker)
REBUY_WEEKS = 10


def read_rows(path: Path) -> list[list[str]]:
    """Every row of a CSV file, its header first."""
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def append_rows(path: Path, rows: list[list[str]]) -> None:
    """Appends rows to a CSV file (the synthetic files' line ends)."""
    with open(path, "a", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def plant_taste(data: Path) -> tuple[list[str], str]:
    """Adds PLANTED customers who buy only articles of one section, weekly, for 14 weeks.
    Returns (their customer ids, the section's name)."""
    with open(data / "articles.csv", newline="") as handle:
        articles = list(csv.DictReader(handle))
    last = max(dt.date.fromisoformat(r[0]) for r in read_rows(data / "transactions_train.csv")[1:])
    by_section: dict[str, list[str]] = {}
    for a in articles:
        by_section.setdefault(a["section_name"], []).append(a["article_id"])
    # the smallest section with at least 15 articles: a taste far from the average customer's
    section, pool = min(((s, p) for s, p in by_section.items() if len(p) >= 15), key=lambda kv: len(kv[1]))
    pool = sorted(pool)[:20]
    customers = [r[0] for r in read_rows(data / "customers.csv")[1:]]
    rng = random.Random(3)
    planted = rng.sample(customers, PLANTED)
    extra = []
    for customer in planted:
        for week in range(14):
            day = last - dt.timedelta(days=7 * week + rng.randrange(7))
            for article in rng.sample(pool, 3):
                extra.append([day.isoformat(), customer, article, "0.0254", "2"])
    append_rows(data / "transactions_train.csv", extra)
    return planted, section


def plant_rebuyers(data: Path, exclude: list[str]) -> dict[str, tuple[str, str]]:
    """REBUYERS customers (none of `exclude`) who, every week, buy a new two-colour product and,
    the week after, the same product in its other colour. Returns each rebuyer's last pair (bought
    in the last week before the held-out one, its other colour expected in the held-out week):
    {customer_id: (article bought, its other colour)}."""
    by_product: dict[str, list[str]] = {}
    for row in read_rows(data / "articles.csv")[1:]:
        by_product.setdefault(row[1], []).append(row[0])
    pairs = sorted(tuple(sorted(ids)) for ids in by_product.values() if len(ids) == 2)
    customers = sorted(set(r[0] for r in read_rows(data / "customers.csv")[1:]) - set(exclude))
    last = max(dt.date.fromisoformat(r[0]) for r in read_rows(data / "transactions_train.csv")[1:])
    rng = random.Random(7)
    chosen = rng.sample(customers, REBUYERS)
    extra, expected = [], {}
    for customer in chosen:
        previous = None
        for week in range(REBUY_WEEKS, -1, -1):  # week 0: the last 7 days (the held-out week of train)
            day = last - dt.timedelta(days=7 * week + rng.randrange(7))
            first, second = rng.sample(rng.choice(pairs), 2)
            extra.append([day.isoformat(), customer, first, "0.0254", "2"])
            if previous:
                extra.append([day.isoformat(), customer, previous[1], "0.0254", "2"])
            previous = (first, second)
            if week == 1:
                expected[customer] = previous
    append_rows(data / "transactions_train.csv", extra)
    return expected


TRAIN_ARGS = ("--epochs", "4", "--batch-size", "256", "--dim", "32", "--learning-rate", "0.01",
              "--ranker-weeks", "3")


WORLD_DIR_ENV = "HMBATCH_TEST_WORLD_DIR"  # tests/shards.py: one folder for the pytest processes of a run


@pytest.fixture(scope="session")
def trained_world(tmp_path_factory) -> dict:
    """The one trained world of the suite, made once: a tiny world (seed 1) with two plants with
    known answers (PLANTED customers of one narrow taste for the two-tower, REBUYERS of the other
    colour for the ranker: different customers) and a customer in sample_submission.csv the
    database does not know; its database and one trained run (TRAIN_ARGS: two-tower and ranker).
    Read it as it is, or copy it (`copy_world`) before changing anything.

    When $HMBATCH_TEST_WORLD_DIR names a folder (`tests/shards.py` runs the suite as several pytest
    processes), the world is made once for all of them: the first process to take the folder's
    lock makes it there, the others wait on the lock (not on a clock), then each works on a copy
    of its own.

    Returns:
        {"data", "ws", "planted", "section", "expected"} (see plant_taste, plant_rebuyers).
    """
    folder = os.environ.get(WORLD_DIR_ENV)
    if not folder:
        return make_world(tmp_path_factory.mktemp("shared world"))
    import fcntl
    import json
    root, made = Path(folder) / "world", Path(folder) / "world.json"
    with open(Path(folder) / "world.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not made.exists():
            shutil.rmtree(root, ignore_errors=True)  # a process that failed to make it left this
            world = make_world(root)
            made.write_text(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in world.items()}))
    world = json.loads(made.read_text())
    world.update(data=Path(world["data"]), ws=Path(world["ws"]))
    return copy_world(world, tmp_path_factory.mktemp("shared world"))


def make_world(root: Path) -> dict:
    """Makes the world `trained_world` describes under `root`."""
    from typer.testing import CliRunner
    from hmbatch.cli import app
    data, ws = root / "data", root / "ws"
    runner = CliRunner()

    def invoke(*args) -> None:
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output

    invoke("synth", data, "--scale", "tiny", "--seed", "1")
    planted, section = plant_taste(data)
    expected = plant_rebuyers(data, exclude=planted)
    append_rows(data / "sample_submission.csv", [[UNKNOWN_CUSTOMER, "0108775015"]])
    invoke("build-db", data, "--workspace", ws)
    invoke("train", "--workspace", ws, *TRAIN_ARGS)
    return {"data": data, "ws": ws, "planted": planted, "section": section, "expected": expected}


def copy_world(world: dict, root: Path, data: str = "data", ws: str = "ws") -> dict:
    """A copy of the shared world's data folder and workspace under `root`, named `data` and `ws`
    (its other keys as they are)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(world["data"], root / data)
    shutil.copytree(world["ws"], root / ws)
    return {**world, "data": root / data, "ws": root / ws}
