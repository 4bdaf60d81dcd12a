"""Candidates and top-12 lists shared by `query`, `submit` and `evaluate`.

For a chunk of customers three sources propose articles: the two-tower index (restricted to the
articles on sale recently), the customer's own recent purchases, and last week's best sellers of
the customer's age group. Every candidate then gets all four score components (two-tower dot
product, log of last week's sales, repurchase score, age-group popularity), so that duplicates
score alike, and a strategy ranks them: one source first then popular to fill, or the blend, a
weighted sum whose weights `evaluate --tune` fits. Lists hold exactly K distinct articles.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from hmbatch.errors import HmbatchError
from hmbatch.index import FaissIndex
from hmbatch.sqlfiles import execute_file

STRATEGIES = ("ranker", "blend", "two-tower", "repurchase", "popular")
SOURCES = {1: "two-tower", 2: "repurchase", 4: "popular"}
# beta weighs ln(1 + last week's sales) against the dot product in the two-tower retrieval (it is
# the query's last coordinate, so FAISS applies it); the others weigh the blend's four signals.
DEFAULT_BLEND = {"beta": 1.0, "dot": 1.0, "log_pop": 1.0, "rep": 5.0, "pop": 1.0}
TT_CANDIDATES, REP_CANDIDATES, POP_CANDIDATES = 24, 12, 24
REPURCHASE_DAYS = 56
MAX_K = 100  # the longest list `query`, `submit` and the API give
ON_SALE_DAYS = 28  # an article is on sale when it sold in these days before the cut-off
PRIMARY = 1e6


@dataclass
class Candidates:
    """Per customer (rows) and candidate (columns): id, score components and source bits."""

    ids: np.ndarray
    dot: np.ndarray
    log_pop: np.ndarray
    rep: np.ndarray
    pop: np.ndarray
    source: np.ndarray

    def score(self, strategy: str, weights: dict[str, float]) -> np.ndarray:
        """The ranking score of each candidate under `strategy` (-inf for empty slots)."""
        fill = np.where(self.source & 4, self.pop, -np.inf)
        if strategy == "blend":
            score = (weights["dot"] * self.dot + weights["log_pop"] * self.log_pop +
                     weights["rep"] * self.rep + weights["pop"] * self.pop)
        elif strategy == "two-tower":
            beta = weights.get("beta", 1.0)
            score = np.where(self.source & 1, PRIMARY + self.dot + beta * self.log_pop, fill)
        elif strategy == "repurchase":
            score = np.where(self.source & 2, PRIMARY + self.rep, fill)
        elif strategy == "popular":
            score = fill
        else:
            check_strategy(strategy)  # raises for an unknown name
            raise HmbatchError(f"strategy {strategy!r} is not a score of the first-stage candidates "
                               "(the ranker is served by hmbatch.ranker)")
        return np.where(self.ids >= 0, score, -np.inf)


def top_distinct(ids: np.ndarray, score: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k best distinct ids by score (ties: smaller id first), an id repeated in a row
    counting at its best score only; returns (ids, positions)."""
    by_id = np.lexsort((-score, ids), axis=-1)  # each id's copies side by side, its best first
    ids_by_id = np.take_along_axis(ids, by_id, axis=1)
    later = np.zeros_like(ids, dtype=bool)
    later[:, 1:] = ids_by_id[:, 1:] == ids_by_id[:, :-1]
    repeated = np.zeros_like(later)
    np.put_along_axis(repeated, by_id, later, axis=1)
    order = np.lexsort((ids, -score), axis=-1)
    ids_sorted = np.take_along_axis(ids, order, axis=1)
    score_sorted = np.take_along_axis(score, order, axis=1)
    keep = ~np.take_along_axis(repeated, order, axis=1) & np.isfinite(score_sorted)
    rank = np.where(keep, np.cumsum(keep, axis=1), k + 1)
    rows, cols = np.nonzero(rank <= k)
    out_ids = np.full((ids.shape[0], k), -1, dtype=np.int64)
    out_pos = np.full((ids.shape[0], k), -1, dtype=np.int64)
    out_ids[rows, rank[rows, cols] - 1] = ids_sorted[rows, cols]
    out_pos[rows, rank[rows, cols] - 1] = order[rows, cols]
    return out_ids, out_pos


def first_distinct(ids: np.ndarray, k: int) -> np.ndarray:
    """Per row, the first k distinct ids in column order, skipping empty slots (-1): lists merged
    in turn, the earlier list first."""
    order = np.where(ids >= 0, -np.arange(ids.shape[1], dtype=np.float64), -np.inf)
    return top_distinct(ids, order, k)[0]


def age_group(age: np.ndarray) -> np.ndarray:
    """Age bucket as in sql/serving/popular.sql: 0..4, or -1 when the age is missing."""
    age = np.asarray(age, dtype=np.float64)
    group = np.clip((np.nan_to_num(age, nan=0) - 15) // 10, 0, 4).astype(np.int64)
    return np.where(np.isnan(age), -1, group)


class Retriever:
    """A trained run opened for serving: index, embeddings, popularity and repurchase lists."""

    def __init__(self, run_dir: Path, manifest: dict, con: duckdb.DuckDBPyConnection):
        self.run_dir, self.manifest, self.con = run_dir, manifest, con
        self.cutoff = dt.date.fromisoformat(manifest["cutoff"])
        self.recent = FaissIndex.load(run_dir / "index_recent")
        full = FaissIndex.load(run_dir / "index_all")
        self.article_ids = full.ids
        self.vectors = full.index.reconstruct_n(0, full.index.ntotal)
        self.dim = self.vectors.shape[1] - 1
        self.customer_emb = np.load(run_dir / "customer_embeddings.npy", mmap_mode="r")
        self.weights = {**DEFAULT_BLEND, **(manifest.get("blend") or {})}
        self._repurchase: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._load_popular()

    @classmethod
    def open(cls, ws, allow_stale: bool = False) -> "Retriever":
        """Opens the workspace's current model and checks that it matches the database."""
        from hmbatch.data import connect_read_only, read_meta
        run_dir = ws.current_model()
        manifest = json.loads((run_dir / "manifest.json").read_text())
        con = connect_read_only(ws)
        fingerprint = read_meta(con)["fingerprint"]
        if manifest["fingerprint"] != fingerprint and not allow_stale:
            con.close()
            raise HmbatchError(
                f"the current model {run_dir.name} was trained on database {manifest['fingerprint']}, "
                f"but the workspace's database is now {fingerprint}: run `hmbatch train` again, "
                "or pass --allow-stale to use the old model anyway")
        return cls(run_dir, manifest, con)

    def _load_popular(self) -> None:
        execute_file(self.con, "serving/popular.sql", {"cutoff": str(self.cutoff)})
        rows = self.con.execute("SELECT age_group, article_id, n_sales FROM popular").fetchnumpy()
        pos = np.searchsorted(self.article_ids, rows["article_id"])
        sales = np.zeros((6, len(self.article_ids)), np.float32)
        sales[np.asarray(rows["age_group"]) + 1, pos] = rows["n_sales"]
        self.pop_score = np.log1p(sales) / np.maximum(np.log1p(sales.max(axis=1, keepdims=True)), 1e-9)
        self.fill_order = self._fill_order()
        fill = list(np.searchsorted(self.article_ids, self.fill_order[:POP_CANDIDATES]))
        # each age group's articles sold last week, best first, then the fill order
        ranked = [order[row[order] > 0] for row, order in
                  ((row, np.lexsort((self.article_ids, -row))[:POP_CANDIDATES]) for row in sales)]
        self.pop_lists = np.stack([self.article_ids[np.array(list(dict.fromkeys(list(order) + fill))[:POP_CANDIDATES])]
                                   for order in ranked])

    def _fill_order(self) -> np.ndarray:
        """The MAX_K articles every list is filled from (sql/serving/fill.sql): those on sale,
        then, in a shop with fewer on sale, those sold before, then the rest of the catalogue."""
        params = {"cutoff": str(self.cutoff), "days": ON_SALE_DAYS, "k": MAX_K}
        order = execute_file(self.con, "serving/fill.sql", params).execute(
            "SELECT article_id FROM fill_order").fetchnumpy()["article_id"].astype(np.int64)
        if len(order) < MAX_K:
            tail = execute_file(self.con, "serving/fill_catalogue.sql", params).execute(
                "SELECT article_id FROM fill_tail").fetchnumpy()["article_id"].astype(np.int64)
            order = np.array(list(dict.fromkeys(order.tolist() + tail.tolist()))[:MAX_K], np.int64)
        return order

    def filled(self, lists: np.ndarray) -> np.ndarray:
        """`lists` (rows of ids, -1 = empty) with every empty slot taken by the fill order's next
        article not already in the row: k distinct articles in each row (k <= MAX_K)."""
        short = (lists < 0).any(axis=1)
        if not short.any():
            return lists
        rows = lists[short]
        out = lists.copy()
        out[short] = first_distinct(np.concatenate(
            [rows, np.broadcast_to(self.fill_order, (len(rows), len(self.fill_order)))], axis=1), lists.shape[1])
        return out

    def best_sellers(self, k: int = 12) -> np.ndarray:
        """Last week's k best sellers over all customers (the baseline's list)."""
        return self.pop_lists[0][:k]

    def customer_index(self, customer_ids: list[str]) -> np.ndarray:
        """customer_idx for each id, -1 for ids not in the database."""
        rows = self.con.execute("SELECT a.pos, c.customer_idx FROM (SELECT unnest(?) AS customer_id, "
                                "unnest(range(?)) AS pos) a JOIN customers c USING (customer_id)",
                                [list(customer_ids), len(customer_ids)]).fetchnumpy()
        out = np.full(len(customer_ids), -1, np.int64)
        out[rows["pos"]] = rows["customer_idx"]
        return out

    def ages(self, customer_idx: np.ndarray) -> np.ndarray:
        """Age (NaN when missing) of each known customer; NaN for -1."""
        idx = np.asarray(customer_idx, dtype=np.int64)
        if len(idx) > 1000 and not hasattr(self, "_ages"):
            age = self.con.execute("SELECT age FROM customers ORDER BY customer_idx").fetchnumpy()["age"]
            self._ages = np.ma.filled(np.ma.asarray(age).astype(np.float64), np.nan)
        if hasattr(self, "_ages"):
            return np.where(idx >= 0, self._ages[np.maximum(idx, 0)], np.nan)
        rows = self.con.execute("SELECT customer_idx, age FROM customers WHERE customer_idx IN "
                                "(SELECT unnest(?))", [idx.tolist()]).fetchnumpy()
        lookup = dict(zip(rows["customer_idx"].tolist(),
                          np.ma.filled(np.ma.asarray(rows["age"]).astype(np.float64), np.nan).tolist()))
        return np.array([lookup.get(i, np.nan) for i in idx.tolist()], dtype=np.float64)

    def load_repurchase(self, customer_idx: np.ndarray | None = None) -> None:
        """Reads the repurchase lists of the given customers (default: every customer) at once."""
        set_wanted(self.con, customer_idx)
        execute_file(self.con, "serving/repurchase.sql",
                     {"cutoff": str(self.cutoff), "days": REPURCHASE_DAYS, "k": REP_CANDIDATES})
        rows = self.con.execute("SELECT customer_idx, article_id, score FROM repurchase").fetchnumpy()
        self._repurchase = tuple(np.asarray(rows[c]) for c in ("customer_idx", "article_id", "score"))

    def repurchase_lists(self, customer_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of shape (n, REP_CANDIDATES), -1 / 0 where a customer has fewer."""
        if self._repurchase is None:
            self.load_repurchase(customer_idx)
        cust, art, score = self._repurchase
        start = np.searchsorted(cust, customer_idx, side="left")
        count = np.searchsorted(cust, customer_idx, side="right") - start
        slot = np.arange(REP_CANDIDATES)
        valid = (slot[None, :] < count[:, None]) & (np.asarray(customer_idx)[:, None] >= 0)
        take = np.minimum(start[:, None] + slot[None, :], max(len(cust) - 1, 0))
        if len(cust) == 0:
            return np.full(valid.shape, -1, np.int64), np.zeros(valid.shape, np.float32)
        return np.where(valid, art[take], -1).astype(np.int64), np.where(valid, score[take], 0).astype(np.float32)

    def embeddings(self, customer_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, known) for customers: the saved embedding, or the towers for later ones."""
        idx = np.asarray(customer_idx, np.int64)
        known = (idx >= 0) & (idx < len(self.customer_emb))
        vectors = np.zeros((len(idx), self.dim), np.float32)
        vectors[known] = self.customer_emb[idx[known]]
        late = (idx >= len(self.customer_emb))
        if late.any():
            vectors[late] = self._embed_with_towers(idx[late])
            known = known | late
        return vectors, known

    def _embed_with_towers(self, customer_idx: np.ndarray) -> np.ndarray:
        from hmbatch import features
        from hmbatch.model import embed, load_model  # imports TensorFlow: only for customers added later
        tower = load_model(self.run_dir, self.manifest).query_model
        cols = features.customer_features_at(self.con, self.cutoff + dt.timedelta(days=1), customer_idx)
        order = np.searchsorted(cols["customer_idx"], customer_idx)
        return embed(tower, cols)[order] / self.manifest["config"]["temperature"]

    def candidates(self, customer_idx: np.ndarray) -> Candidates:
        """All candidates of a chunk of customers with every score component."""
        idx = np.asarray(customer_idx, np.int64)
        queries, known = self.embeddings(idx)
        tt_ids = np.full((len(idx), TT_CANDIDATES), -1, np.int64)
        if known.any():
            tt_ids[known] = self.recent.search(self._with_beta(queries[known]), TT_CANDIDATES)[1]
        rep_ids, rep_scores = self.repurchase_lists(idx)
        group = age_group(self.ages(idx)) + 1
        pop_ids = self.pop_lists[group]
        ids = np.concatenate([tt_ids, rep_ids, pop_ids], axis=1)
        pos = np.clip(np.searchsorted(self.article_ids, ids), 0, len(self.article_ids) - 1)
        vec = self.vectors[pos]
        in_tt = (ids[:, :, None] == tt_ids[:, None, :]).any(-1) & (ids >= 0)
        rep_match = ids[:, :, None] == rep_ids[:, None, :]
        in_pop = (ids[:, :, None] == pop_ids[:, None, :]).any(-1)
        source = in_tt * 1 + rep_match.any(-1) * 2 + in_pop * 4
        return Candidates(ids=ids, dot=np.einsum("cmd,cd->cm", vec[:, :, :self.dim], queries),
                          log_pop=vec[:, :, self.dim], rep=(rep_match * rep_scores[:, None, :]).sum(-1),
                          pop=self.pop_score[group[:, None], pos], source=source.astype(np.int8))

    def _with_beta(self, queries: np.ndarray) -> np.ndarray:
        """Query vectors with beta as the last coordinate: FAISS then adds beta * ln(1 + sales)."""
        return np.hstack([queries, np.full((len(queries), 1), self.weights["beta"], np.float32)])

    def recommend(self, customer_idx: np.ndarray, strategy: str = "blend",
                  k: int = 12) -> tuple[np.ndarray, Candidates, np.ndarray]:
        """Top-k distinct articles per customer: (ids, candidates, chosen positions; -1 where
        the slot was filled from the fill order)."""
        cand = self.candidates(customer_idx)
        ids, pos = top_distinct(cand.ids, cand.score(strategy, self.weights), k)
        return self.filled(ids), cand, pos


def check_strategy(name: str) -> str:
    """Returns `name` if it is a strategy, else raises naming the choices."""
    if name not in STRATEGIES:
        raise HmbatchError(f"unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)}")
    return name


def set_wanted(con: duckdb.DuckDBPyConnection, customer_idx: np.ndarray | None = None) -> None:
    """Temp table wanted(customer_idx) read by sql/serving/: the given customers, or all of them."""
    if customer_idx is None:
        con.execute("CREATE OR REPLACE TEMP TABLE wanted AS SELECT customer_idx FROM customers")
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE wanted AS SELECT CAST(unnest(?) AS INTEGER) AS customer_idx",
                    [np.asarray(customer_idx, np.int64).tolist()])
