"""One opened run, one candidate pipeline, one `recommend`: what `query`, `submit`, its Ray
workers, `evaluate`, `report` and the Python API all call.

Every strategy is a scorer over the same candidates: the sources of `sql/candidates/`, collected
and given their features by `ranker.features_of` (sql/ranking/), for the customers of
one block:

- `two-tower`, `repurchase`, `popular`: one source's own ranking (its rank column), the articles
  the other sources proposed unranked;
- `blend`: a weighted sum of four signals of every candidate (`blend_signals`), its weights and
  the two-tower's popularity weight (beta) fitted by `evaluate --tune`;
- `ranker`: the run's LightGBM model.

A customer's list is the k best-scored candidates (ties: the collector's order), then the
customer's age band's best sellers of last week, then the articles on sale (the fill): k
distinct catalogue articles. A customer not in the database gets every buyer's best sellers,
then the fill. A single source of candidates.SOURCES becomes a strategy with one entry of
`SINGLE_SOURCES`; any other strategy is one branch of `scores`.
"""

from __future__ import annotations

import contextlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from queue import Queue
from typing import Iterable, Iterator

import duckdb
import numpy as np

from hmbatch import candidates, ranker
from hmbatch.candidates import TwoTowerSource
from hmbatch.errors import HmbatchError
from hmbatch.retrieve import CONTEXT, MAX_K, Retriever, check_strategy, first_distinct
from hmbatch.workspace import on_interrupt

# a single source's strategy ranks by the source's own rank (1 = best)
SINGLE_SOURCES = {"two-tower": "two_tower", "repurchase": "repurchase", "popular": "popular_band"}
RANK_COLUMNS = {k: candidates.SOURCE_BY_NAME[v].rank for k, v in SINGLE_SOURCES.items()}
# the score `query` shows for a single source's strategy
SHOWN_SCORES = {k: candidates.SOURCE_BY_NAME[v].score for k, v in SINGLE_SOURCES.items()}
BLEND_SIGNALS = ("dot", "log_pop", "rep", "pop")
# the candidate columns that say a source proposed the article
SOURCE_RANKS = {s.rank: s.label for s in candidates.SOURCES}
FILL = "popular (fill)"
BUILDERS = 2  # threads that build blocks of candidates while `recommend_blocks` scores one
SLIM_COLUMNS = ("customer_idx", "article_id", "band", "tt_rank", "rep_rank", "band_src_rank", "tt_score",
                "tt_dot", "sales_7d", "rep_score", "band_score")


def default_strategy(run_dir: Path) -> str:
    """The strategy used when none is given: the ranker when the run has one, else the blend."""
    return "ranker" if ranker.Ranker.exists(run_dir) else "blend"


class Layout:
    """Where each candidate row of a block sits in a (customers x candidates) grid: its
    customer's row and its slot in the collector's order (the rows of `features_of` come grouped
    by customer, in that order)."""

    def __init__(self, cols: dict[str, np.ndarray], customers: np.ndarray):
        cust = np.asarray(cols["customer_idx"], np.int64)
        self.customers = customers
        self.row = np.searchsorted(customers, cust)
        self.slot = np.arange(len(cust)) - np.searchsorted(cust, cust, side="left")
        self.width = int(self.slot.max()) + 1 if len(cust) else 1
        self.ids = self.grid(np.asarray(cols["article_id"], np.int64), -1)

    def grid(self, values: np.ndarray, empty: float) -> np.ndarray:
        out = np.full((len(self.customers), self.width), empty,
                      np.int64 if np.asarray(values).dtype.kind in "iu" else np.float64)
        out[self.row, self.slot] = values
        return out

    def top(self, score: np.ndarray, k: int) -> np.ndarray:
        """Per customer, the ids of the k best finite scores of the grid `score` (ties: the
        collector's order), -1 where fewer."""
        score = np.where(np.isfinite(score), score, -np.inf)
        order = np.argsort(-score, axis=1, kind="stable")[:, :k]
        ids = np.take_along_axis(self.ids, order, axis=1)
        ids[np.take_along_axis(score, order, axis=1) == -np.inf] = -1
        if ids.shape[1] < k:
            ids = np.concatenate([ids, np.full((len(ids), k - ids.shape[1]), -1, np.int64)], axis=1)
        return ids


def blend_signals(cols: dict[str, np.ndarray], layout: Layout) -> dict[str, np.ndarray]:
    """The blend's four signals of every candidate, as grids: the two-tower's dot product (0 for
    a customer it cannot embed), ln(1 + last week's sales), the repurchase score (recency-weighted
    count of the customer's own purchases, 0 if none) and the age band's popularity
    (ln(1 + sales in the band) over the same for the band's best seller among the candidates)."""
    band = layout.grid(np.nan_to_num(np.asarray(cols["band_score"], np.float64), nan=0.0), 0.0)
    top = np.maximum(np.log1p(band.max(axis=1, keepdims=True)), 1e-9)
    return {"dot": layout.grid(np.nan_to_num(np.asarray(cols["tt_dot"], np.float64), nan=0.0), 0.0),
            "log_pop": layout.grid(np.log1p(np.asarray(cols["sales_7d"], np.float64)), 0.0),
            "rep": layout.grid(np.nan_to_num(np.asarray(cols["rep_score"], np.float64), nan=0.0), 0.0),
            "pop": np.log1p(band) / top}


def blend(signals: dict[str, np.ndarray], weights: dict[str, float], filled: np.ndarray) -> np.ndarray:
    """The blend's score grid (-inf in the empty slots: where `filled`, the grid of the slots
    holding a candidate, is False)."""
    score = sum(weights[name] * signals[name] for name in BLEND_SIGNALS)
    return np.where(filled, score, -np.inf)


class Block:
    """The candidates of a block of known customers (sorted) with their features."""

    def __init__(self, cols: dict[str, np.ndarray], customers: np.ndarray):
        self.cols, self.customers = cols, customers
        self.layout = Layout(cols, customers)
        self._signals: dict[str, np.ndarray] | None = None

    def signals(self) -> dict[str, np.ndarray]:
        if self._signals is None:
            self._signals = blend_signals(self.cols, self.layout)
        return self._signals

    def slim(self) -> "Block":
        """The same candidates with only the columns the strategies but the ranker read."""
        return Block({c: self.cols[c] for c in SLIM_COLUMNS}, self.customers)

    def take(self, rows: np.ndarray) -> "Block":
        """The candidates of the customers at positions `rows` (sorted) of `customers`."""
        keep = np.isin(self.layout.row, rows)
        return Block({c: v[keep] for c, v in self.cols.items()}, self.customers[rows])

    def bands(self) -> np.ndarray:
        """Each customer's age band (-1: no age, or no candidate at all)."""
        band = self.layout.grid(np.asarray(self.cols["band"], np.float64), np.nan)[:, 0]
        return np.where(np.isnan(band), -1, band).astype(np.int64)


class Serving:
    """A trained run opened for serving.

    Attributes:
        first_stage: the opened run (`retrieve.Retriever`: connection, indexes, embeddings, the
            candidate context, best sellers, fill).
        run_dir, manifest, cutoff: the run's folder, manifest and data cut-off.
        default: the strategy used when none is given.
    """

    def __init__(self, first_stage: Retriever):
        self.first_stage = first_stage
        self.run_dir, self.manifest, self.cutoff = first_stage.run_dir, first_stage.manifest, first_stage.cutoff
        self.default = default_strategy(self.run_dir)
        self.config = first_stage.candidate_config
        self._ranker: ranker.Ranker | None = None
        self._sources: dict[float, TwoTowerSource] = {}
        self._id_text: dict[int, str] | None = None

    @classmethod
    def open(cls, ws, allow_stale: bool = False) -> "Serving":
        """Opens the workspace's current run; raises when it was trained on another database
        (unless `allow_stale`) or when there is no database or model, naming the fix."""
        return cls(Retriever.open(ws, allow_stale))

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.first_stage.con

    @property
    def article_ids(self) -> np.ndarray:
        return self.first_stage.article_ids

    @property
    def weights(self) -> dict[str, float]:
        """The blend's weights and the two-tower's beta (tuned, or the defaults)."""
        return self.first_stage.weights

    def close(self) -> None:
        self.first_stage.con.close()

    def __enter__(self) -> "Serving":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def strategy(self, name: str | None = None) -> str:
        """`name`, checked (a run without a ranker refuses "ranker", naming the fix), or the default."""
        if not name:
            return self.default
        check_strategy(name)
        if name == "ranker":
            self.ranker()
        return name

    def ranker(self) -> ranker.Ranker:
        """The run's ranker, opened once."""
        if self._ranker is None:
            if not ranker.Ranker.exists(self.run_dir):
                raise HmbatchError(f"model {self.run_dir.name} has no ranker: train with `hmbatch train "
                                   "--ranker lightgbm`, or choose another --strategy")
            self._ranker = ranker.Ranker(self.run_dir)
        return self._ranker

    def customer_index(self, customer_ids: list[str]) -> np.ndarray:
        """customer_idx of each id, -1 for an id not in the database."""
        return self.first_stage.customer_index(customer_ids)

    def article_text(self) -> dict[int, str]:
        """Each article id as the competition writes it: 10 digits with the leading zero."""
        if self._id_text is None:
            self._id_text = {int(a): f"{int(a):010d}" for a in self.article_ids}
        return self._id_text

    def two_tower(self, strategy: str) -> TwoTowerSource | None:
        """The two-tower source a strategy's candidates come with: the ranker's as it was trained
        (its beta, or none), the tuned beta for the others."""
        if strategy == "ranker":
            rk = self.ranker()
            if not rk.two_tower:
                return None
            beta = rk.beta
        else:
            beta = float(self.weights["beta"])
        if beta not in self._sources:
            self._sources[beta] = self.first_stage.two_tower(beta)
        return self._sources[beta]

    def block(self, customer_idx: np.ndarray, strategy: str, con: duckdb.DuckDBPyConnection | None = None) -> Block:
        """The candidates and features of the known customers among `customer_idx` (on `con`,
        default the run's connection), as `strategy` sees them."""
        uniq = np.unique(np.asarray(customer_idx, np.int64))
        uniq = uniq[uniq >= 0]
        if len(uniq) == 0:
            empty = {name: np.zeros(0) for name in ("customer_idx", "article_id", "band")}
            return Block(empty, uniq)
        return Block(ranker.features_of(con or self.con, uniq, self.config, self.two_tower(strategy)), uniq)

    def scores(self, block: Block, strategy: str, weights: dict[str, float] | None = None) -> np.ndarray:
        """The grid of `strategy`'s score of each candidate (-inf or NaN: not ranked by it)."""
        layout = block.layout
        if len(block.cols["customer_idx"]) == 0:  # no known customer, or none with a candidate
            return np.full((len(block.customers), layout.width), -np.inf)
        if strategy in RANK_COLUMNS:
            rank = layout.grid(np.asarray(block.cols[RANK_COLUMNS[strategy]], np.float64), np.nan)
            return -rank
        if strategy == "blend":
            return blend(block.signals(), weights or self.weights, layout.ids >= 0)
        if strategy == "ranker":
            if "ranker_score" not in block.cols:
                block.cols["ranker_score"] = self.ranker().score(block.cols)
            return layout.grid(block.cols["ranker_score"], -np.inf)
        raise HmbatchError(f"unknown strategy {strategy!r}")  # check_strategy keeps this unreached

    def lists(self, customer_idx: np.ndarray, block: Block, score: np.ndarray, k: int) -> np.ndarray:
        """Each customer's (input order) top-k: the best-scored candidates, then the age band's
        best sellers, then the fill; a customer not in the database (-1) gets every buyer's."""
        r = self.first_stage
        idx = np.asarray(customer_idx, np.int64)
        ranked = block.layout.top(score, k)
        known = first_distinct(np.concatenate([ranked, r.pop_lists[block.bands() + 1]], axis=1), k)
        out = np.empty((len(idx), k), np.int64)
        inside = idx >= 0
        out[inside] = known[np.searchsorted(block.customers, idx[inside])] if len(block.customers) else -1
        out[~inside] = first_distinct(r.pop_lists[:1], k)
        return r.filled(out)

    def recommend(self, customer_idx: np.ndarray, k: int = 12, strategy: str | None = None) -> np.ndarray:
        """The top-k article ids of each customer (rows in input order; -1 = a customer not in the
        database, who gets the cold-start list): k distinct catalogue articles per row."""
        strategy = self.strategy(strategy)
        return self.recommend_each(customer_idx, [strategy], k)[strategy]

    def recommend_each(self, customer_idx: np.ndarray, strategies: Iterable[str], k: int = 12) -> dict[str, np.ndarray]:
        """`recommend` of each strategy for the same customers, the candidates and features built
        once per candidate set (the ranker's two-tower beta may differ from the tuned one the
        others use), not once per strategy: {strategy: lists}, the same lists as `recommend`.
        A strategy this run cannot serve raises, as in `recommend`."""
        _check_k(k)
        built: dict[int, Block] = {}
        out = {}
        for strategy in strategies:
            strategy = self.strategy(strategy)
            key = id(self.two_tower(strategy))  # id(None) when the strategy's set has no two-tower
            if key not in built:
                built[key] = self.block(customer_idx, strategy)
            out[strategy] = self.lists(customer_idx, built[key], self.scores(built[key], strategy), k)
        return out

    def recommend_blocks(self, blocks: Iterable[np.ndarray], k: int = 12, strategy: str | None = None,
                         builders: int = BUILDERS) -> Iterator[np.ndarray]:
        """`recommend` of each block of customers in turn (in order), the next blocks' candidates
        and features built meanwhile by `builders` threads, each on a DuckDB connection of its
        own, while this block is scored: most of a block's building (NumPy, FAISS, DuckDB) lets
        go of the GIL, so building and scoring keep every core busy. Close the iterator when
        stopping early (it waits for the blocks being built)."""
        strategy = self.strategy(strategy)
        _check_k(k)
        self.two_tower(strategy)  # opened here, once, not by two builders at the same time
        free: Queue = Queue()
        cons = [self.con.cursor() for _ in range(builders)]
        for con in cons:
            candidates.attach_context(con, self.run_dir / CONTEXT)
            free.put(con)

        def build(idx: np.ndarray) -> Block:
            con = free.get()
            try:
                return self.block(idx, strategy, con)
            finally:
                free.put(con)

        try:
            with contextlib.ExitStack() as stack, ThreadPoolExecutor(max_workers=builders) as pool:
                for con in cons:
                    stack.enter_context(on_interrupt(con.interrupt))
                pending: deque = deque()
                for idx in blocks:
                    pending.append((idx, pool.submit(build, idx)))
                    if len(pending) > builders:
                        yield self._scored(*pending.popleft(), strategy, k)
                while pending:
                    yield self._scored(*pending.popleft(), strategy, k)
        finally:
            for con in cons:
                con.close()

    def _scored(self, customer_idx: np.ndarray, built, strategy: str, k: int) -> np.ndarray:
        """`recommend`'s lists of a block whose candidates a worker thread built (`built`: its future)."""
        block = built.result()
        return self.lists(customer_idx, block, self.scores(block, strategy), k)

    def explain(self, customer_idx: int, k: int = 12, strategy: str | None = None) -> list[dict]:
        """One customer's list (`recommend`'s) with each article's score under the strategy and
        the sources that proposed it (`query`): [{"article_id", "score" (None where the strategy
        did not score it: the band's best sellers and the fill), "sources"}, ...]."""
        strategy = self.strategy(strategy)
        _check_k(k)
        idx = np.array([customer_idx], np.int64)
        block = self.block(idx, strategy)
        score = self.scores(block, strategy)
        ids = self.lists(idx, block, score, k)[0]
        has_rows = len(block.cols["customer_idx"]) > 0
        at = {a: i for i, a in enumerate(block.layout.ids[0].tolist()) if a >= 0} if has_rows else {}
        shown = (block.layout.grid(np.asarray(block.cols[SHOWN_SCORES[strategy]], np.float64), np.nan)
                 if strategy in SHOWN_SCORES and has_rows else score)
        rows = {a: i for i, a in enumerate(np.asarray(block.cols["article_id"]).tolist())}
        out = []
        for article in ids.tolist():
            slot = at.get(article)
            value = float(shown[0, slot]) if slot is not None and np.isfinite(score[0, slot]) else None
            sources = ([name for col, name in SOURCE_RANKS.items() if np.isfinite(block.cols[col][rows[article]])]
                       if slot is not None else [FILL])
            out.append({"article_id": article, "score": None if value is None or not np.isfinite(value)
                        else round(value, 5), "sources": sources or [FILL]})
        return out


def _check_k(k: int) -> None:
    if not 1 <= k <= MAX_K:
        raise HmbatchError(f"k must be between 1 and {MAX_K}, not {k}")
