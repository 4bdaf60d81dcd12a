"""The opened run, below every strategy: the database (read-only), the FAISS indexes, the saved
embeddings, the manifest, the stale check, the candidate context of the run's cut-off (saved as
Parquet at training), last week's best sellers per age band and the fill order; and the top-k
kernels the lists are cut with. `serving.Serving` scores the candidates (`candidates.generate`)
with each strategy and makes the lists.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import numpy as np

from hmbatch import candidates
from hmbatch.candidates import CandidateConfig, TwoTowerSource
from hmbatch.errors import HmbatchError
from hmbatch.index import FaissIndex
from hmbatch.sqlfiles import execute_file

STRATEGIES = ("ranker", "blend", "two-tower", "repurchase", "popular")
# beta weighs ln(1 + last week's sales) against the dot product in the two-tower retrieval (it is
# the query's last coordinate, so FAISS applies it); the others weigh the blend's four signals.
DEFAULT_BLEND = {"beta": 1.0, "dot": 1.0, "log_pop": 1.0, "rep": 5.0, "pop": 1.0}
POP_LIST = 24  # each age band's best sellers kept for the lists that run out of candidates
CONTEXT = "context"  # the run's folder of candidate context tables (Parquet)
MAX_K = 100  # the longest list `query`, `submit` and the API give
ON_SALE_DAYS = 28  # an article is on sale when it sold in these days before the cut-off


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


class Retriever:
    """A trained run opened for serving: indexes, embeddings, the candidate context, best sellers
    and the fill order."""

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
        if "candidates" not in manifest or not (run_dir / CONTEXT).exists():
            raise HmbatchError(f"model {run_dir.name} has no saved candidate context (an earlier "
                               "hmbatch trained it): run `hmbatch train` again")
        self.candidate_config = CandidateConfig.from_manifest(manifest["candidates"])
        candidates.attach_context(con, run_dir / CONTEXT)
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
        try:
            return cls(run_dir, manifest, con)
        except BaseException:
            con.close()
            raise

    def _load_popular(self) -> None:
        """pop_lists[band + 1]: each age band's POP_LIST best sellers of last week (band -1: every
        buyer's), from the context's band_pop, then the fill order."""
        self.fill_order = self._fill_order()
        rows = self.con.execute("SELECT band, article_id FROM band_pop WHERE rank <= ? ORDER BY band, rank",
                                [POP_LIST]).fetchnumpy()
        band, ids = np.asarray(rows["band"]), np.asarray(rows["article_id"], np.int64)
        lists = np.full((6, POP_LIST), -1, np.int64)
        for b in range(-1, 5):
            mine = ids[band == b]
            lists[b + 1, :len(mine)] = mine
        self.pop_lists = first_distinct(np.concatenate(
            [lists, np.broadcast_to(self.fill_order, (6, len(self.fill_order)))], axis=1), POP_LIST)

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
        row = np.concatenate([self.pop_lists[:1], np.full((1, max(k - POP_LIST, 0)), -1)], axis=1)[:, :k]
        return self.filled(row)[0]

    def customer_index(self, customer_ids: list[str]) -> np.ndarray:
        """customer_idx for each id, -1 for ids not in the database."""
        rows = self.con.execute("SELECT a.pos, c.customer_idx FROM (SELECT unnest(?) AS customer_id, "
                                "unnest(range(?)) AS pos) a JOIN customers c USING (customer_id)",
                                [list(customer_ids), len(customer_ids)]).fetchnumpy()
        out = np.full(len(customer_ids), -1, np.int64)
        out[rows["pos"]] = rows["customer_idx"]
        return out

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

    def two_tower(self, beta: float) -> TwoTowerSource:
        """The run's two-tower as a candidate source and feature, searching with popularity
        weight `beta`."""
        return TwoTowerSource(self.embeddings, self.article_ids, self.vectors[:, :self.dim], self.recent, beta)


def check_strategy(name: str) -> str:
    """Returns `name` if it is a strategy, else raises naming the choices."""
    if name not in STRATEGIES:
        raise HmbatchError(f"unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)}")
    return name
