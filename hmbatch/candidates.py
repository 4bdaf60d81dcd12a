"""Candidate sources and their collector: the first of the two stages.

Every source proposes articles for a customer in one shape, (customer_idx, article_id, source,
score, rank), from rows dated on or before a cut-off only: the same SQL serves a past training week
and today's batch with another date. A source is one file, sql/candidates/sources/<name>.sql, and
one line of SOURCES (its column names in the candidate table, its quota and the name people read):

- repurchase: the customer's own articles of the window, by recency-weighted count;
- same_product: other colours (articles sharing `product_code`) of the customer's products;
- bought_together: articles bought by the same customers as the customer's recent articles;
- popular, popular_band, rising: last week's best sellers overall and in the customer's age band,
  and the articles growing fastest week over week;
- two_tower: the TFRS two-tower's nearest articles among those sold recently (FAISS);
- two_tower_similar: "like what you bought lately", the recently sold articles nearest (by the
  learned article embeddings) to the customer's purchases of the last `cobuy_days`: what the
  model learnt belongs together (a collection, an outfit) beyond the metadata.

The collector (sql/candidates/20_collect.sql) keeps one row per (customer, article) with every
source's score and rank, capped at `n_candidates` per customer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb
import numpy as np

from hmbatch.errors import HmbatchError
from hmbatch.index import FaissIndex
from hmbatch.sqlfiles import execute_file


@dataclass(frozen=True)
class Source:
    """One candidate source: sql/candidates/sources/`name`.sql appends at most `quota` rows per
    customer of temp table wanted to temp table src (or, for a list the same for every customer
    of an age band, per band to src_band); the collector keeps its best score and rank as the
    candidate columns `score` and `rank` (also the ranker's features).

    Attributes:
        two_tower: the source reads the two-tower (skipped, its columns NULL, without one).
    """

    name: str
    score: str
    rank: str
    quota: int
    label: str
    two_tower: bool = False

    @property
    def file(self) -> str:
        return f"candidates/sources/{self.name}.sql"


# The registry: the order is the candidate table's column order (and the ranker's features').
SOURCES = (
    Source("repurchase", "rep_score", "rep_rank", 30, "repurchase"),
    Source("same_product", "sp_score", "sp_rank", 20, "same product"),
    Source("bought_together", "bt_score", "bt_rank", 30, "bought together"),
    Source("popular", "pop_score", "pop_src_rank", 30, "popular"),
    Source("popular_band", "band_score", "band_src_rank", 30, "popular (age band)"),
    Source("rising", "rising_score", "rising_rank", 12, "rising"),
    Source("two_tower", "tt_score", "tt_rank", 30, "two-tower", two_tower=True),
    Source("two_tower_similar", "ts_score", "ts_rank", 20, "like what you bought lately", two_tower=True),
)
SOURCE_BY_NAME = {s.name: s for s in SOURCES}
# the quotas' names in the manifests of runs written before the registry (one field per source)
_LEGACY_QUOTAS = {"rep_k": ("repurchase",), "sp_k": ("same_product",), "bt_k": ("bought_together",),
                  "pop_k": ("popular", "popular_band"), "rising_k": ("rising",), "tt_k": ("two_tower",),
                  "ts_k": ("two_tower_similar",)}
# the context tables of sql/candidates/00_context.sql, saved with a run for serving
DOT_BLOCK = 16384
HISTORY_SIM_ITEMS = 8  # the latest articles a candidate is compared with (history_sim)
SIMILAR_PER_ARTICLE = 20  # nearest articles kept per seed article by the two_tower_similar source
CONTEXT_TABLES = ("cust_band", "hist", "art_ctx", "band_pop", "cobuy", "cust_ctx", "cust_all",
                  "cust_pt", "cust_ig", "cust_dep", "cust_col", "cust_prod")


def default_quotas() -> tuple[tuple[str, int], ...]:
    return tuple((s.name, s.quota) for s in SOURCES)


def parse_quotas(items: list[str] | None) -> tuple[tuple[str, int], ...]:
    """`--quota NAME=K` options as (name, k) pairs.

    Raises:
        HmbatchError: an item is not NAME=K with a known source and a count.
    """
    out = []
    for item in items or []:
        name, _, count = item.partition("=")
        if name.strip() not in SOURCE_BY_NAME or not count.strip().isdigit():
            raise HmbatchError(f"--quota {item!r}: write NAME=K, K a count of candidates and NAME one of "
                               + ", ".join(SOURCE_BY_NAME))
        out.append((name.strip(), int(count)))
    return tuple(out)


@dataclass(frozen=True)
class CandidateConfig:
    """How many candidates each source gives, and the windows they read.

    Attributes:
        n_candidates: the cap per customer after the union (`--candidates`).
        n_inactive: the cap for a customer without a purchase in the window.
        history_days: the window of purchases every source and feature reads.
        quotas: (source, quota per customer) for every source of SOURCES (`--quota NAME=K`).
        cobuy_days: the window of the bought-together pairs.
        cobuy_k: partners kept per article in the bought-together table.
    """

    n_candidates: int = 80
    n_inactive: int = 24
    history_days: int = 84
    quotas: tuple[tuple[str, int], ...] = field(default_factory=default_quotas)
    cobuy_days: int = 28
    cobuy_k: int = 20

    def __post_init__(self) -> None:
        given = dict((str(n), int(k)) for n, k in self.quotas)  # a manifest gives lists
        unknown = sorted(set(given) - set(SOURCE_BY_NAME))
        if unknown:
            raise HmbatchError(f"unknown candidate source {unknown[0]!r} in the quotas; the sources are "
                               + ", ".join(SOURCE_BY_NAME))
        if any(k < 0 for k in given.values()):
            raise HmbatchError("a source's quota is a count of candidates: 0 or more")
        object.__setattr__(self, "quotas", tuple((s.name, given.get(s.name, s.quota)) for s in SOURCES))

    def quota(self, source: str) -> int:
        return dict(self.quotas)[source]

    def params(self) -> dict[str, object]:
        """The bind parameters of the SQL files (the quotas go to each source as $k)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "quotas"}

    def manifest(self) -> dict[str, object]:
        return {**self.params(), "quotas": dict(self.quotas)}

    @classmethod
    def from_manifest(cls, saved: dict[str, object]) -> "CandidateConfig":
        """The config a run saved (`manifest`), including a run saved before the registry."""
        saved = dict(saved)
        quotas = dict(saved.pop("quotas", {}))
        for old, names in _LEGACY_QUOTAS.items():
            if old in saved:
                value = saved.pop(old)
                quotas.update({n: value for n in names})
        return cls(**saved, quotas=tuple(quotas.items()))


def prepare(con: duckdb.DuckDBPyConnection, cutoff: dt.date, config: CandidateConfig) -> None:
    """Builds the cut-off's context tables (temp tables of the connection) from rows <= cutoff;
    views of a saved context (`attach_context`) on the connection give way to them."""
    for table in CONTEXT_TABLES:
        with contextlib.suppress(duckdb.CatalogException):  # a table of an earlier `prepare`
            con.execute(f"DROP VIEW IF EXISTS {table}")
    execute_file(con, "candidates/00_age_bands.sql", {})
    execute_file(con, "candidates/00_context.sql", {**config.params(), "cutoff": str(cutoff)})


def save_context(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """Writes the context tables as Parquet files, so that serving opens them instantly."""
    folder.mkdir(parents=True, exist_ok=True)
    for table in CONTEXT_TABLES:
        con.execute(f"COPY {table} TO '{_quoted(folder / (table + '.parquet'))}' (FORMAT parquet)")


def attach_context(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """Makes the saved context tables readable under their names (views over the Parquet files)."""
    for table in CONTEXT_TABLES:
        with contextlib.suppress(duckdb.CatalogException):  # a table of an earlier `prepare`
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * FROM "
                    f"read_parquet('{_quoted(folder / (table + '.parquet'))}')")


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def set_wanted(con: duckdb.DuckDBPyConnection, customer_idx: np.ndarray) -> None:
    """Temp table wanted(customer_idx, band) of the given customers (customer_idx of the
    database); band = their age band (cust_band of the context; -1: no age)."""
    idx = np.asarray(customer_idx, np.int32)
    con.register("wanted_ids", {"customer_idx": idx})
    con.execute("""CREATE OR REPLACE TEMP TABLE wanted AS
        SELECT w.customer_idx, coalesce(b.band, -1) AS band
        FROM wanted_ids w LEFT JOIN cust_band b USING (customer_idx)""")
    con.unregister("wanted_ids")


class TwoTowerSource:
    """The two-tower as a source and a feature: FAISS over the recently sold articles.

    Args:
        query: customer_idx -> (vectors, known), the customer tower's embeddings.
        article_ids: sorted ids of every article.
        article_emb: the article tower's embedding of each of `article_ids`.
        index: FAISS index of the recent articles, vectors [embedding, ln(1 + sales last 7 days)].
        beta: the weight of the popularity coordinate in the search.
    """

    def __init__(self, query: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                 article_ids: np.ndarray, article_emb: np.ndarray, index: FaissIndex, beta: float = 1.0):
        self.query, self.article_ids, self.article_emb = query, article_ids, article_emb
        self.index, self.beta = index, beta
        self._similar: dict[str, np.ndarray] | None = None

    @classmethod
    def at_cutoff(cls, con: duckdb.DuckDBPyConnection, customer_emb: np.ndarray, article_ids: np.ndarray,
                  article_emb: np.ndarray, beta: float = 1.0) -> "TwoTowerSource":
        """A source from saved embeddings, searching the articles sold in the 28 days up to the
        cut-off of the current context (art_ctx), weighted by their sales of its last 7 days."""
        rows = con.execute("SELECT article_id, sales_7d, sales_28d FROM art_ctx ORDER BY article_id").fetchnumpy()
        pos = np.searchsorted(article_ids, rows["article_id"])
        log_pop = np.log1p(np.asarray(rows["sales_7d"], np.float32))
        recent = np.asarray(rows["sales_28d"]) > 0
        vectors = np.hstack([article_emb[pos], log_pop[:, None]]).astype(np.float32)
        index = FaissIndex().build(vectors[recent], np.asarray(rows["article_id"])[recent])

        def query(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            known = (idx >= 0) & (idx < len(customer_emb))
            out = np.zeros((len(idx), customer_emb.shape[1]), np.float32)
            out[known] = customer_emb[idx[known]]
            return out, known

        return cls(query, article_ids, article_emb, index, beta)

    def hits(self, customer_idx: np.ndarray, k: int) -> dict[str, np.ndarray]:
        """The k nearest recent articles of each known customer, as src rows."""
        idx = np.asarray(customer_idx, np.int64)
        vectors, known = self.query(idx)
        idx, vectors = idx[known], vectors[known]
        k = min(k, self.index.index.ntotal)
        if len(idx) == 0 or k == 0:
            return _no_hits()
        queries = np.hstack([vectors, np.full((len(idx), 1), self.beta, np.float32)])
        scores, ids = self.index.search(queries, k)
        valid = ids >= 0
        return {"customer_idx": np.repeat(idx, k).reshape(-1, k)[valid].astype(np.int32),
                "article_id": ids[valid].astype(np.int32),
                "score": scores[valid].astype(np.float64),
                "rank": np.broadcast_to(np.arange(1, k + 1, dtype=np.int32), ids.shape)[valid]}

    def similar(self, con: duckdb.DuckDBPyConnection, k: int, days: int) -> dict[str, np.ndarray]:
        """Temp-table rows tt_sim(src, dst, sim, rank): for every article bought in the `days`
        days up to the context's cut-off (temp table hist), its k nearest recently sold articles
        by the article embeddings' dot product (itself excluded). Computed once per source: the
        articles and the cut-off are the same for every block of customers."""
        if self._similar is None:
            seeds = np.asarray(con.execute("SELECT DISTINCT article_id FROM hist WHERE age_days < ? "
                                           "ORDER BY 1", [days]).fetchnumpy()["article_id"], np.int64)
            k = min(k + 1, self.index.index.ntotal)
            if len(seeds) == 0 or k == 0:
                self._similar = _no_similar()
                return self._similar
            pos = np.clip(np.searchsorted(self.article_ids, seeds), 0, len(self.article_ids) - 1)
            queries = np.hstack([self.article_emb[pos], np.zeros((len(seeds), 1), np.float32)])
            scores, ids = self.index.search(queries.astype(np.float32), k)
            keep = (ids >= 0) & (ids != seeds[:, None])
            rank = np.cumsum(keep, axis=1)
            keep &= rank < k
            self._similar = {"src": np.repeat(seeds, k).reshape(-1, k)[keep].astype(np.int32),
                             "dst": ids[keep].astype(np.int32), "sim": scores[keep].astype(np.float64),
                             "rank": rank[keep].astype(np.int32)}
        return self._similar

    def history_sim(self, con: duckdb.DuckDBPyConnection, customer_idx: np.ndarray,
                    article_id: np.ndarray) -> np.ndarray:
        """For each (customer, article) pair, the largest dot product of the article's embedding
        with those of the customer's HISTORY_SIM_ITEMS latest articles of the window (temp table
        hist): how close the learned model puts it to something bought lately, say the same
        collection (NaN: no purchase in the window)."""
        uniq, inverse = np.unique(np.asarray(customer_idx, np.int64), return_inverse=True)
        con.register("sim_customers", {"customer_idx": uniq.astype(np.int32)})
        rows = con.execute("""SELECT customer_idx, article_id FROM (
                SELECT customer_idx, article_id, row_number() OVER (PARTITION BY customer_idx
                       ORDER BY age_days, article_id) AS k
                FROM (SELECT customer_idx, article_id, min(age_days) AS age_days
                      FROM hist SEMI JOIN sim_customers USING (customer_idx) GROUP BY ALL))
            WHERE k <= ? ORDER BY customer_idx, k""", [HISTORY_SIM_ITEMS]).fetchnumpy()
        con.unregister("sim_customers")
        cust = np.searchsorted(uniq, np.asarray(rows["customer_idx"], np.int64))
        slot = np.arange(len(cust)) - np.searchsorted(cust, cust)
        mine = np.full((len(uniq), HISTORY_SIM_ITEMS), -1, np.int64)
        mine[cust, slot] = np.clip(np.searchsorted(self.article_ids, rows["article_id"]), 0,
                                   len(self.article_ids) - 1)
        pos = np.clip(np.searchsorted(self.article_ids, article_id), 0, len(self.article_ids) - 1)
        # one small matrix product per customer (their candidates x their latest articles): each
        # customer's history is gathered once, not once per candidate
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(uniq) + 1))
        sorted_out = np.full(len(pos), np.nan, np.float32)
        for c in np.flatnonzero(mine[:, 0] >= 0):  # customers with a purchase in the window
            rows_ = order[bounds[c]:bounds[c + 1]]  # never empty: uniq holds the customers of the rows
            seeds = self.article_emb[mine[c][mine[c] >= 0]]
            sorted_out[bounds[c]:bounds[c + 1]] = (self.article_emb[pos[rows_]] @ seeds.T).max(axis=1)
        out = np.empty(len(pos), np.float32)
        out[order] = sorted_out
        return out

    def dot(self, customer_idx: np.ndarray, article_id: np.ndarray) -> np.ndarray:
        """The towers' dot product of each (customer, article) pair (NaN: customer unknown)."""
        uniq, inverse = np.unique(np.asarray(customer_idx, np.int64), return_inverse=True)
        vectors, known = self.query(uniq)
        pos = np.clip(np.searchsorted(self.article_ids, article_id), 0, len(self.article_ids) - 1)
        out = np.empty(len(pos), np.float32)
        for start in range(0, len(pos), DOT_BLOCK):  # blocks that stay in the CPU cache
            rows = slice(start, start + DOT_BLOCK)
            out[rows] = np.einsum("nd,nd->n", vectors[inverse[rows]], self.article_emb[pos[rows]])
        return np.where(known[inverse], out, np.nan)


def _no_hits() -> dict[str, np.ndarray]:
    return {"customer_idx": np.zeros(0, np.int32), "article_id": np.zeros(0, np.int32),
            "score": np.zeros(0, np.float64), "rank": np.zeros(0, np.int32)}


def _no_similar() -> dict[str, np.ndarray]:
    return {"src": np.zeros(0, np.int32), "dst": np.zeros(0, np.int32),
            "sim": np.zeros(0, np.float64), "rank": np.zeros(0, np.int32)}


def generate(con: duckdb.DuckDBPyConnection, customer_idx: np.ndarray, config: CandidateConfig,
             two_tower: TwoTowerSource | None = None) -> dict[str, np.ndarray]:
    """Every source's candidates for the customers, collected into table cand (returned, see
    `collect`).

    The context of the cut-off (`prepare` or `attach_context`) must be in place.
    """
    set_wanted(con, customer_idx)
    if two_tower:
        _temp_table(con, "tt_hits", two_tower.hits(customer_idx, config.quota("two_tower")))
        _temp_table(con, "tt_sim", two_tower.similar(con, SIMILAR_PER_ARTICLE, config.cobuy_days))
    params = config.params()
    execute_file(con, "candidates/10_sources.sql", params)
    for source in SOURCES:
        if config.quota(source.name) > 0 and (two_tower or not source.two_tower):
            execute_file(con, source.file, {**params, "k": config.quota(source.name)})
    return collect(con, config)


def collect(con: duckdb.DuckDBPyConnection, config: CandidateConfig) -> dict[str, np.ndarray]:
    """The collector: temp tables src and src_band into table cand (the returned arrays, ordered
    by customer then cand_rank, registered on the connection), one row per (customer of
    temp table wanted, article) with each source's best score and rank (NULL: not proposed by
    it) and the number of proposals, capped at `n_candidates` per customer (`n_inactive` for a
    customer with no purchase in the window: not in cust_ctx).

    A candidate's place (cand_rank) is its best rank over the sources, each rank divided by its
    source's quota, so every source keeps its share of the list; ties go to the article proposed
    more often, then the lower id. A per-band proposal (src_band) is grouped once per band and
    then given to every customer of the band. Done in NumPy on sorted int64 keys: the same hash
    aggregate, window and pivot in DuckDB took about three times the CPU.
    """
    names = [s.name for s in SOURCES]
    quota = np.array([max(config.quota(n), 1) for n in names], np.float64)
    _temp_table(con, "source_pos", {"source": np.array(names, dtype=object),
                                    "pos": np.arange(len(names), dtype=np.int32)})
    mine = con.execute("SELECT s.customer_idx, s.article_id, q.pos, s.score, s.rank FROM src s "
                       "JOIN source_pos q ON q.source = s.source").fetchnumpy()
    banded = con.execute("SELECT s.band, s.article_id, q.pos, s.score, s.rank FROM src_band s "
                         "JOIN source_pos q ON q.source = s.source").fetchnumpy()
    wanted = con.execute("SELECT customer_idx, band, customer_idx IN (SELECT customer_idx FROM cust_ctx) "
                         "AS active FROM wanted ORDER BY customer_idx").fetchnumpy()
    cand = collected(mine, banded, wanted, quota, config.n_candidates, config.n_inactive)
    con.register("cand", cand)
    return cand


def collected(mine: dict, banded: dict, wanted: dict, quota: np.ndarray, n_candidates: int,
              n_inactive: int) -> dict[str, np.ndarray]:
    """`collect`'s candidate columns from its proposals: `mine` (customer_idx, article_id, pos,
    score, rank), `banded` (band, article_id, pos, score, rank), `wanted` (customer_idx sorted,
    band, active); pos is the source's place in SOURCES, `quota` each source's quota (>= 1)."""
    w_cust = np.asarray(wanted["customer_idx"], np.int64)
    w_band = np.asarray(wanted["band"], np.int64)
    inside = np.isin(np.asarray(mine["customer_idx"], np.int64), w_cust)
    m_cust, m_art, m_src, m_score, m_rank = (np.asarray(mine[c])[inside].astype(t) for c, t in (
        ("customer_idx", np.int64), ("article_id", np.int64), ("pos", np.int64), ("score", np.float64),
        ("rank", np.float64)))
    b_src, b_rank = np.asarray(banded["pos"], np.int64), np.asarray(banded["rank"], np.float64)
    # the band lists: one group per (band, article), its columns pivoted once
    b_keys, b_group, b_best, b_n = _grouped(
        _pair_key(np.asarray(banded["band"], np.int64), np.asarray(banded["article_id"], np.int64)),
        (np.minimum, b_rank / quota[b_src]), (np.add, np.ones(len(b_src), np.int64)))
    b_scores, b_ranks = _pivot(len(b_keys), b_group, b_src, np.asarray(banded["score"], np.float64), b_rank)
    g_band, g_art = _split_key(b_keys)
    # ... given to each customer of the band
    lo, hi = np.searchsorted(g_band, w_band, "left"), np.searchsorted(g_band, w_band, "right")
    count = hi - lo
    e_group = np.repeat(lo - np.cumsum(count) + count, count) + np.arange(count.sum())
    e_cust = np.repeat(w_cust, count)
    # every proposal grouped by (customer, article): best rank over quota, number of proposals
    keys, group, best, n = _grouped(
        np.concatenate([_pair_key(m_cust, m_art), _pair_key(e_cust, g_art[e_group])]),
        (np.minimum, np.concatenate([m_rank / quota[m_src], b_best[e_group]])),
        (np.add, np.concatenate([np.ones(len(m_cust), np.int64), b_n[e_group]])))
    cust, art = _split_key(keys)
    order = _candidate_order(cust, art, best, n)
    # each group's place in its customer's list (wanted's row of the customer: `at_w`), the cap
    first = _run_starts(cust[order])
    positions = np.arange(len(order))
    cand_rank = positions - np.maximum.accumulate(np.where(first, positions, 0)) + 1
    runs = np.flatnonzero(first)
    at_w = np.repeat(np.searchsorted(w_cust, cust[order][runs]), np.diff(np.r_[runs, len(order)]))
    cap = np.where(np.asarray(wanted["active"], bool), n_candidates, n_inactive)
    inside_cap = cand_rank <= cap[at_w]
    kept, cand_rank, at_w = order[inside_cap], cand_rank[inside_cap], at_w[inside_cap]
    row = np.full(len(keys), -1, np.int64)
    row[kept] = np.arange(len(kept))
    scores, ranks = _pivot(len(kept), row[group[:len(m_cust)]], m_src, m_score, m_rank)
    # a column the customer's own sources left empty takes the band side's value
    if len(b_keys):
        band_key = _pair_key(w_band[at_w], art[kept])
        at = np.minimum(np.searchsorted(b_keys, band_key), len(b_keys) - 1)
        rows = np.flatnonzero(b_keys[at] == band_key)
        for i in np.flatnonzero(~np.isnan(b_ranks).all(axis=1)):  # the sources with band lists
            for mine_side, band_side in ((scores, b_scores), (ranks, b_ranks)):
                empty = rows[np.isnan(mine_side[i, rows])]
                mine_side[i, empty] = band_side[i, at[empty]]
    out = {"customer_idx": cust[kept].astype(np.int32), "article_id": art[kept].astype(np.int32),
           "cand_rank": cand_rank.astype(np.int32)}
    for i, source in enumerate(SOURCES):  # NULL (NaN, masked): not proposed by the source
        none = np.isnan(ranks[i])
        out[source.score] = scores[i]
        out[source.rank] = np.ma.masked_array(np.where(none, 0, ranks[i]).astype(np.int32), none)
    out["n_sources"] = n[kept]
    return out


def _run_starts(values: np.ndarray) -> np.ndarray:
    """True where a run of equal values starts (values grouped)."""
    return np.r_[True, values[1:] != values[:-1]] if len(values) else np.zeros(0, bool)


def _pair_key(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """One int64 per pair of int32 values, ordered as the pairs are."""
    return (high << 32) + (low + (1 << 31))


def _split_key(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return keys >> 32, (keys & 0xFFFFFFFF) - (1 << 31)


def _grouped(keys: np.ndarray, *reduce: tuple[np.ufunc, np.ndarray]) -> tuple:
    """The distinct keys (sorted), each row's group (the position of its key among them), and
    each (ufunc, values) pair reduced over the rows of each group."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    new = _run_starts(sorted_keys)
    first = np.flatnonzero(new)
    group = np.empty(len(keys), np.int64)
    group[order] = np.cumsum(new) - 1
    return (sorted_keys[first], group,
            *(f.reduceat(v[order], first) if len(first) else v[:0] for f, v in reduce))


def _pivot(n_rows: int, row: np.ndarray, source: np.ndarray, score: np.ndarray, rank: np.ndarray) -> tuple:
    """(scores, ranks), each (sources x rows), NaN where a source proposed nothing: the largest
    score and the smallest rank of each source's proposals of each row (row -1: skipped)."""
    scores = np.full((len(SOURCES), n_rows), np.nan)
    ranks = np.full((len(SOURCES), n_rows), np.nan)
    keep = row >= 0
    np.fmax.at(scores, (source[keep], row[keep]), score[keep])
    np.fmin.at(ranks, (source[keep], row[keep]), rank[keep])
    return scores, ranks


def _candidate_order(cust: np.ndarray, art: np.ndarray, best: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The order of the (customer, article) groups (given sorted by customer then article):
    by customer, best rank over quota, more proposals first, then the lower article id. One
    stable sort of a packed int64 key (a positive float orders as its bits), or a slower
    lexsort where the values do not fit it."""
    levels = np.unique(best.view(np.int64))
    fits = (len(cust) == 0 or (cust.min() >= 0 and cust.max() < 1 << 23 and best.min() > 0
                               and len(levels) < 1 << 32 and n.max() < 256))
    if not fits:
        return np.lexsort((art, -n, best, cust))
    level = np.searchsorted(levels, best.view(np.int64))
    return np.argsort((cust << 40) | (level << 8) | (255 - n), kind="stable")



def _temp_table(con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, np.ndarray]) -> None:
    con.register(f"{name}_view", columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_view")
    con.unregister(f"{name}_view")


RECALL_AT = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)


def source_recall(con: duckdb.DuckDBPyConnection, truth_pairs: dict[str, np.ndarray],
                  ns: tuple[int, ...] = RECALL_AT) -> dict:
    """recall@N of each source (its top-N by its own rank) and of the collected union (top-N by
    the collector's order) against true (customer_idx, article_id) pairs of the customers in
    wanted: the share of true purchases the ranker can reach at all.

    Returns:
        {"n": [...], "sources": {source: [recall at each n], ..., "union": [...]}, "purchases": int}
    """
    return recall_of(source_hits(con, truth_pairs, ns))


def source_hits(con: duckdb.DuckDBPyConnection, truth_pairs: dict[str, np.ndarray],
                ns: tuple[int, ...] = RECALL_AT) -> dict:
    """`source_recall`'s counts (true purchases found at each N), which add up over chunks of
    customers: {"n", "sources": {source: [hits at each n]}, "purchases"}."""
    con.register("truth_view", {k: np.asarray(v, np.int32) for k, v in truth_pairs.items()})
    con.execute("CREATE OR REPLACE TEMP TABLE truth AS SELECT DISTINCT * FROM truth_view "
                "SEMI JOIN wanted USING (customer_idx)")
    con.unregister("truth_view")
    total = con.execute("SELECT count(*) FROM truth").fetchone()[0]
    out = {"n": list(ns), "sources": {}, "purchases": int(total)}
    for source in SOURCES:
        out["sources"][source.name] = _hit_curve(
            con, f"SELECT customer_idx, article_id, rank FROM src WHERE source = '{source.name}' UNION ALL "
            f"SELECT w.customer_idx, b.article_id, b.rank FROM src_band b JOIN wanted w ON w.band = b.band "
            f"WHERE b.source = '{source.name}'", ns)
    out["sources"]["union"] = _hit_curve(con, "SELECT customer_idx, article_id, cand_rank AS rank FROM cand", ns)
    return out


def added_hits(parts: list[dict]) -> dict:
    """The `source_hits` of several chunks of customers as one."""
    return {"n": parts[0]["n"], "purchases": sum(p["purchases"] for p in parts),
            "sources": {s: [sum(v) for v in zip(*(p["sources"][s] for p in parts))] for s in parts[0]["sources"]}}


def recall_of(hits: dict) -> dict:
    """`source_hits` divided by the purchases: `source_recall`'s shape."""
    total = max(hits["purchases"], 1)
    return {"n": hits["n"], "purchases": hits["purchases"],
            "sources": {s: [float(h / total) for h in v] for s, v in hits["sources"].items()}}


def _hit_curve(con, rows_sql: str, ns: tuple[int, ...]) -> list[int]:
    ranks = con.execute(f"SELECT min(s.rank) AS rank FROM ({rows_sql}) s JOIN truth t "
                        "USING (customer_idx, article_id) GROUP BY s.customer_idx, s.article_id"
                        ).fetchnumpy()["rank"]
    ranks = np.asarray(ranks)
    return [int((ranks <= n).sum()) for n in ns]
