"""The small kernels the pipeline is built from, against answers computed by hand on tables of
three customers: top-k with a distinct fill, per-customer top-k, age bands, source recall and
the splitting of SQL files into statements."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import numpy as np
import pytest

from hmbatch import candidates
from hmbatch.errors import HmbatchError
from hmbatch.retrieve import first_distinct, top_distinct
from hmbatch.serving import Layout
from hmbatch.sqlfiles import execute_file, parameters, sql_dir, split_statements


def test_top_distinct_with_a_fill():
    """Three customers, scores then a fill order (a lower score): each row keeps its k best
    distinct ids, an id repeated keeps its best place, empty slots (-1) never count, ties go to
    the smaller id."""
    ids = np.array([[7, 3, 7, -1, 5, 9],
                    [4, 4, -1, -1, 5, 9],
                    [-1, -1, -1, -1, 5, 9]])
    score = np.array([[0.9, 0.5, 0.1, 0.0, -1.0, -2.0],
                      [0.2, 0.8, 0.0, 0.0, -1.0, -2.0],
                      [0.0, 0.0, 0.0, 0.0, -1.0, -2.0]])
    score = np.where(ids >= 0, score, -np.inf)
    out, pos = top_distinct(ids, score, 3)
    assert out.tolist() == [[7, 3, 5], [4, 5, 9], [5, 9, -1]]
    assert pos.tolist() == [[0, 1, 4], [1, 4, 5], [4, 5, -1]]
    tie, _ = top_distinct(np.array([[8, 2, 6]]), np.array([[1.0, 1.0, 1.0]]), 2)
    assert tie.tolist() == [[2, 6]]


def test_first_distinct_merges_lists_in_turn():
    """Lists merged in column order: the first k distinct ids, empty slots (-1) skipped."""
    ids = np.array([[4, -1, 4, 7, 2, 9],
                    [-1, -1, 3, 3, 3, 5],
                    [-1, -1, -1, -1, 6, -1]])
    assert first_distinct(ids, 3).tolist() == [[4, 7, 2], [3, 5, -1], [6, -1, -1]]


def test_top_per_customer():
    """The candidate rows grouped by customer in the collector's order, laid out as a grid: each
    customer's k best finite scores, ties in the collector's order, NaN never ranked."""
    cols = {"customer_idx": np.array([2, 2, 5, 5, 5, 9, 9]),
            "article_id": np.array([20, 21, 12, 11, 10, 30, 31])}
    score = np.array([-1.0, 2.0, 0.7, 0.7, 0.1, 0.3, np.nan])
    layout = Layout(cols, np.array([2, 5, 7, 9]))
    out = layout.top(layout.grid(score, np.nan), 2)
    # customer 5: 12 and 11 tie at 0.7 (12 comes first in the collector's order); 7 has no
    # candidate; 9 has one with a score
    assert out.tolist() == [[21, 20], [12, 11], [-1, -1], [30, -1]]
    assert layout.top(layout.grid(score, np.nan), 4)[1].tolist() == [12, 11, 10, -1]


AGES = [None, 10, 15, 24, 25, 34, 35, 44, 45, 54, 55, 99]
BANDS = [-1, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4]  # under 25, 25-34, 35-44, 45-54, 55 and over


def test_age_bands_are_written_once():
    """The age band of every customer (sql/candidates/00_age_bands.sql), known answers by hand, as
    `set_wanted` gives it; its formula is written in that file only."""
    con = duckdb.connect()
    con.execute("CREATE TABLE customers (customer_idx INTEGER, age INTEGER)")
    con.executemany("INSERT INTO customers VALUES (?, ?)", list(enumerate(AGES)))
    execute_file(con, "candidates/00_age_bands.sql", {})
    candidates.set_wanted(con, np.arange(len(AGES)))
    rows = con.execute("SELECT customer_idx, band FROM wanted ORDER BY customer_idx").fetchall()
    assert [band for _, band in rows] == BANDS
    root = Path(candidates.__file__).resolve().parent
    texts = {p: p.read_text() for p in [*root.rglob("*.py"), *sql_dir().rglob("*.sql")]}
    assert [p.name for p, text in texts.items() if "- 15) // 10" in text] == ["00_age_bands.sql"]


def test_source_recall_by_hand():
    """Customers 1 and 2 (age band 0) and 3 (band 1); customer 4's purchase is not counted (not
    wanted). Four true purchases: (1,100), (1,101), (2,200), (3,300)."""
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE wanted AS SELECT * FROM (VALUES (1, 0), (2, 0), (3, 1)) t(customer_idx, band)")
    con.execute("""CREATE TEMP TABLE src AS SELECT * FROM (VALUES
        (1, 100, 'repurchase', 1.0, 1), (1, 101, 'repurchase', 0.5, 15), (2, 200, 'repurchase', 0.1, 30),
        (2, 200, 'two_tower', 0.9, 5), (2, 201, 'two_tower', 0.8, 1))
        t(customer_idx, article_id, source, score, rank)""")
    con.execute("""CREATE TEMP TABLE src_band AS SELECT * FROM (VALUES
        (0, 101, 'popular', 9.0, 3), (1, 101, 'popular', 20.0, 1), (1, 300, 'popular_band', 4.0, 12),
        (1, 300, 'rising', 2.5, 2)) t(band, article_id, source, score, rank)""")
    con.execute("""CREATE TEMP TABLE cand AS SELECT * FROM (VALUES (1, 100, 1), (1, 101, 2), (2, 200, 25),
        (3, 300, 11)) t(customer_idx, article_id, cand_rank)""")
    truth = {"customer_idx": np.array([1, 1, 2, 3, 4]), "article_id": np.array([100, 101, 200, 300, 999])}
    hits = candidates.source_hits(con, truth, (10, 20, 30))
    assert hits["purchases"] == 4
    assert hits["sources"] == {"repurchase": [1, 2, 3], "same_product": [0, 0, 0], "bought_together": [0, 0, 0],
                               "popular": [1, 1, 1], "popular_band": [0, 1, 1], "rising": [1, 1, 1],
                               "two_tower": [1, 1, 1], "two_tower_similar": [0, 0, 0], "union": [2, 3, 4]}
    recall = candidates.source_recall(con, truth, (10, 20, 30))
    assert recall["sources"]["union"] == [0.5, 0.75, 1.0] and recall["sources"]["repurchase"] == [0.25, 0.5, 0.75]
    both = candidates.added_hits([hits, hits])
    assert both["purchases"] == 8 and both["sources"]["union"] == [4, 6, 8]


def test_collector_by_hand():
    """sql/candidates/20_collect.sql on a three-customer table: each candidate's best rank over
    its sources divided by the source's quota orders the list (ties: more sources, then the lower
    id), per-customer (src) and per-age-band (src_band) proposals alike; the cap is 3 for
    customers with a purchase in the window (1, 2), 2 for the others (3)."""
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE cust_ctx AS SELECT * FROM (VALUES (1), (2)) t(customer_idx)")
    con.execute("CREATE TEMP TABLE wanted AS SELECT * FROM (VALUES (1, 0), (2, 1), (3, 2)) t(customer_idx, band)")
    con.execute("""CREATE TEMP TABLE src AS SELECT * FROM (VALUES
        (1, 10, 'repurchase', 3.0, 1), (1, 11, 'repurchase', 2.0, 2), (1, 12, 'repurchase', 1.0, 3),
        (1, 20, 'two_tower', 0.9, 1), (1, 11, 'two_tower', 0.8, 2), (2, 32, 'two_tower', 0.7, 1))
        t(customer_idx, article_id, source, score, rank)""")
    con.execute("""CREATE TEMP TABLE src_band AS SELECT * FROM (VALUES
        (1, 30, 'popular', 50.0, 2), (1, 31, 'popular', 40.0, 4), (1, 30, 'rising', 1.5, 1),
        (2, 40, 'popular', 50.0, 1), (2, 41, 'popular', 40.0, 2), (2, 42, 'popular', 30.0, 3))
        t(band, article_id, source, score, rank)""")
    quotas = (("repurchase", 3), ("two_tower", 2), ("popular", 4), ("rising", 1))
    config = candidates.CandidateConfig(n_candidates=3, n_inactive=2, quotas=quotas)
    candidates.collect(con, config)
    rows = con.execute("SELECT customer_idx, article_id, cand_rank, n_sources FROM cand ORDER BY ALL").fetchall()
    # customer 1: 10 (1/3), 20 (1/2), 11 (min(2/3, 2/2) = 2/3, two sources); 12 (3/3) is cut
    # customer 2: 30 (min(2/4, 1/1) = 1/2, two sources) before 32 (1/2, one), then 31 (4/4)
    # customer 3, no purchase in the window: 2 candidates
    assert rows == [(1, 10, 1, 1), (1, 11, 3, 2), (1, 20, 2, 1), (2, 30, 1, 2), (2, 31, 3, 1), (2, 32, 2, 1),
                    (3, 40, 1, 1), (3, 41, 2, 1)]
    wide = con.execute("SELECT rep_score, rep_rank, tt_rank, pop_src_rank, rising_rank FROM cand "
                       "WHERE customer_idx = 1 AND article_id = 11").fetchone()
    assert wide == (2.0, 2, 2, None, None)
    assert con.execute("SELECT rising_score FROM cand WHERE article_id = 30").fetchone() == (1.5,)


def _collected_by_loops(mine, banded, wanted, quota, n_candidates, n_inactive):
    """The collector written as plain loops over each customer's proposals (the reference)."""
    rows = []
    for cust, band, active in wanted:
        props = {}
        for c, art, pos, score, rank in mine:
            if c == cust:
                props.setdefault(art, []).append((pos, score, rank, "mine"))
        for b, art, pos, score, rank in banded:
            if b == band:
                props.setdefault(art, []).append((pos, score, rank, "band"))
        order = sorted((min(r / quota[p] for p, _, r, _ in got), -len(got), art) for art, got in props.items())
        for place, (_, _, art) in enumerate(order[:n_candidates if active else n_inactive], start=1):
            row = {"customer_idx": cust, "article_id": art, "cand_rank": place, "n_sources": len(props[art])}
            for i, source in enumerate(candidates.SOURCES):
                for side in ("mine", "band"):  # the customer's own proposals first, then the band's
                    got = [(sc, r) for p, sc, r, s in props[art] if p == i and s == side]
                    if got and source.score not in row:
                        row[source.score], row[source.rank] = max(g[0] for g in got), min(g[1] for g in got)
                row.setdefault(source.score, np.nan)
                row.setdefault(source.rank, np.nan)
            rows.append(row)
    return rows


@pytest.mark.parametrize("seed", range(6))
def test_collector_matches_plain_loops(seed):
    """candidates.collected against `_collected_by_loops` on random proposals with every kind of
    tie: equal ranks, a source proposing an article twice, an article proposed by a customer's
    sources and by the band's, customers of src not wanted, band -1, inactive customers."""
    rng = np.random.default_rng(seed)
    n_sources = len(candidates.SOURCES)
    quota = rng.integers(1, 5, n_sources).astype(np.float64)
    wanted = [(c, int(rng.integers(-1, 2)), bool(rng.random() < 0.6)) for c in range(0, 14, 2)]
    mine = [(int(rng.integers(0, 15)), int(rng.integers(0, 12)), int(rng.integers(0, n_sources)),
             float(rng.integers(0, 4)), int(rng.integers(1, 6))) for _ in range(120)]
    banded = [(int(rng.integers(-1, 2)), int(rng.integers(0, 12)), int(rng.integers(0, n_sources)),
               float(rng.integers(0, 4)), int(rng.integers(1, 6))) for _ in range(30)]
    columns = lambda rows, names: {n: np.array([r[i] for r in rows]) for i, n in enumerate(names)}  # noqa: E731
    got = candidates.collected(columns(mine, ("customer_idx", "article_id", "pos", "score", "rank")),
                               columns(banded, ("band", "article_id", "pos", "score", "rank")),
                               columns(wanted, ("customer_idx", "band", "active")), quota, 5, 3)
    expected = _collected_by_loops(mine, banded, wanted, quota, 5, 3)
    assert len(got["customer_idx"]) == len(expected) > 0
    for name in got:
        values = np.ma.filled(np.ma.asarray(got[name]).astype(np.float64), np.nan)
        np.testing.assert_array_equal(values, [r[name] for r in expected], err_msg=name)


def test_history_sim_by_hand():
    """Customer 1 bought articles 10 then 11 (latest first: 11, 10), customer 2 nothing in the
    window. Embeddings in 2 dimensions, so every figure is a hand sum: tt_history_sim is the
    largest dot product of the candidate with the customer's latest articles; NaN without any."""
    con = duckdb.connect()
    con.execute("""CREATE TEMP TABLE hist AS SELECT * FROM (VALUES (1, 10, 5), (1, 11, 2), (1, 10, 9))
        t(customer_idx, article_id, age_days)""")
    ids = np.array([10, 11, 12])
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, -1.0]], np.float32)
    source = candidates.TwoTowerSource(None, ids, emb, None, 1.0)
    # (1, 12): 12.10 = 2, 12.11 = -1 -> 2; (1, 11): 11.10 = 0, 11.11 = 1 -> 1; customer 2: NaN
    out = source.history_sim(con, np.array([1, 2, 1]), np.array([12, 12, 11]))
    np.testing.assert_allclose(out, [2.0, np.nan, 1.0])


def test_the_registry_is_the_sources_folder():
    """Adding a source is one file of sql/candidates/sources/ and one line of candidates.SOURCES:
    every file has its line and every line its file; each file appends rows labelled with its own
    name; column names are distinct; a quota can be set by name and a wrong one is a clear error."""
    folder = sql_dir() / "candidates" / "sources"
    assert sorted(p.stem for p in folder.glob("*.sql")) == sorted(s.name for s in candidates.SOURCES)
    for source in candidates.SOURCES:
        text = (folder / f"{source.name}.sql").read_text()
        assert re.search(r"INSERT INTO src(_band)?\n", text) and f"'{source.name}'" in text, source.name
    columns = [c for s in candidates.SOURCES for c in (s.score, s.rank)]
    assert len(set(columns)) == len(columns)
    config = candidates.CandidateConfig(quotas=candidates.parse_quotas(["repurchase=5", "rising=0"]))
    assert config.quota("repurchase") == 5 and config.quota("rising") == 0 and config.quota("popular") == 30
    with pytest.raises(HmbatchError, match="--quota 'nope=3': write NAME=K"):
        candidates.parse_quotas(["nope=3"])
    # a run saved before the registry (one quota field per source) opens with its quotas
    old = candidates.CandidateConfig.from_manifest({"n_candidates": 60, "n_inactive": 24, "history_days": 84,
                                                    "rep_k": 7, "pop_k": 9, "cobuy_days": 28, "cobuy_k": 20})
    assert old.quota("repurchase") == 7 and old.quota("popular_band") == 9 and old.n_candidates == 60
    assert candidates.CandidateConfig.from_manifest(config.manifest()) == config


def test_statement_splitting():
    sql = ("-- a comment; with a semicolon\n"
           "CREATE TABLE a AS SELECT 1 AS x; \n"
           "  -- an indented comment\n"
           "SELECT ';' AS text, $cutoff AS c\n"
           "FROM a;\n"
           "SELECT 2 -- no semicolon at the end\n")
    parts = split_statements(sql)
    assert parts == ["CREATE TABLE a AS SELECT 1 AS x", "SELECT ';' AS text, $cutoff AS c\nFROM a",
                     "SELECT 2 -- no semicolon at the end"]
    assert parameters(parts[1]) == {"cutoff"} and parameters(parts[0]) == set()


@pytest.mark.parametrize("k", [1, 3])
def test_top_distinct_never_returns_a_repeat(k):
    rng = np.random.default_rng(k)
    ids = rng.integers(0, 5, (50, 8))
    out, _ = top_distinct(ids, rng.random((50, 8)), k)
    for row in out:
        kept = row[row >= 0]
        assert len(set(kept.tolist())) == len(kept) == k


def _blend_block(seed: int):
    """A block of 60 buyers with 0 to 30 candidates each and integer signals (so that ties are
    many), and their purchases: some among their candidates, some not."""
    from hmbatch.metrics import Truth
    from hmbatch.serving import Block
    rng = np.random.default_rng(seed)
    customers = np.arange(60, dtype=np.int64) * 3
    sizes = rng.integers(0, 31, len(customers))
    cust = np.repeat(customers, sizes)
    arts = np.concatenate([rng.choice(500, n, replace=False) for n in sizes]).astype(np.int64)
    cols = {"customer_idx": cust, "article_id": arts}
    for name in ("tt_dot", "sales_7d", "rep_score", "band_score"):
        cols[name] = rng.integers(0, 4, len(cust)).astype(np.float64)
    truth = {}
    for c, n in zip(customers.tolist(), sizes.tolist()):
        mine = arts[cust == c]
        bought = set(rng.choice(mine, min(n, rng.integers(0, 5)), replace=False).tolist()) if n else set()
        truth[c] = bought | set((1000 + rng.choice(50, rng.integers(0 if bought else 1, 3))).tolist())
    return Block(cols, customers), Truth.from_sets(truth)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blend_map_from_hit_ranks_equals_sorting(seed):
    """evaluate.HitRanks (MAP@12 from where the bought candidates rank) against ranking every
    row (Layout.top, stable: ties keep the collector's order) and scoring it, for weightings
    with ties everywhere, all-zero weights (the collector's order) among them."""
    from hmbatch.evaluate import HitRanks
    from hmbatch.metrics import map_at_k_matrix
    from hmbatch.serving import blend
    block, truth = _blend_block(seed)
    ranks = HitRanks(block, truth)
    for weights in ({"dot": 0.0, "log_pop": 0.0, "rep": 0.0, "pop": 0.0},
                    {"dot": 1.0, "log_pop": 0.0, "rep": 0.0, "pop": 0.0},
                    {"dot": 1.0, "log_pop": 0.5, "rep": 3.0, "pop": 1.0},
                    {"dot": 0.0, "log_pop": 2.0, "rep": 100.0, "pop": 10.0}):
        lists = block.layout.top(blend(block.signals(), weights, block.layout.ids >= 0), 12)
        expected = float(map_at_k_matrix(lists, truth).mean())
        assert expected > 0.05 and ranks.map(weights) == pytest.approx(expected, abs=1e-12)
