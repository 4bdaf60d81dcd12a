"""One opened run and one `recommend`: what `query`, `submit`, its Ray workers, `evaluate`,
`report` and the Python API all call.

`Serving.open(ws)` opens the workspace's current run read-only: the database, the FAISS indexes,
the saved embeddings, the manifest and the stale check (`retrieve.Retriever`, the first stage),
and the run's ranker when a strategy needs it. `recommend(customer_idx, k, strategy)` answers
every strategy for known, cold and unknown customers alike, k distinct catalogue articles each;
nothing outside this module chooses between the ranker and the first stage's strategies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from hmbatch import ranker
from hmbatch.errors import HmbatchError
from hmbatch.retrieve import MAX_K, PRIMARY, SOURCES, Retriever, check_strategy

# the ranker's candidate columns that say a source proposed the article
SOURCE_RANKS = {"rep_rank": "repurchase", "sp_rank": "same product", "bt_rank": "bought together",
                "pop_src_rank": "popular", "band_src_rank": "popular (age band)", "rising_rank": "rising",
                "tt_rank": "two-tower", "ts_rank": "like what you bought lately"}
FILL = "popular (fill)"


def default_strategy(run_dir: Path) -> str:
    """The strategy used when none is given: the ranker when the run has one, else the blend."""
    return "ranker" if ranker.Ranker.exists(run_dir) else "blend"


class Serving:
    """A trained run opened for serving.

    Attributes:
        first_stage: the run's Retriever (connection, indexes, embeddings, popular lists).
        run_dir, manifest, cutoff: the run's folder, manifest and data cut-off.
        default: the strategy used when none is given.
    """

    def __init__(self, first_stage: Retriever):
        self.first_stage = first_stage
        self.run_dir, self.manifest, self.cutoff = first_stage.run_dir, first_stage.manifest, first_stage.cutoff
        self.default = default_strategy(self.run_dir)
        self._ranker: ranker.Ranker | None = None
        self._everyone_loaded = False
        self._id_text: dict[int, str] | None = None

    @classmethod
    def open(cls, ws, allow_stale: bool = False) -> "Serving":
        """Opens the workspace's current run; raises when it was trained on another database
        (unless `allow_stale`) or when there is no database or model, naming the fix."""
        return cls(Retriever.open(ws, allow_stale))

    @property
    def con(self):
        return self.first_stage.con

    @property
    def article_ids(self) -> np.ndarray:
        return self.first_stage.article_ids

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
            self._ranker = ranker.Ranker(self.first_stage)
        return self._ranker

    def prepare(self, strategy: str | None = None) -> str:
        """Loads once what `strategy` reads for every customer (the ranker and its context, or
        the first stage's repurchase lists of all customers), before a whole batch; returns the
        strategy resolved."""
        strategy = self.strategy(strategy)
        if strategy != "ranker":
            self.first_stage.load_repurchase()
            self._everyone_loaded = True
        return strategy

    def customer_index(self, customer_ids: list[str]) -> np.ndarray:
        """customer_idx of each id, -1 for an id not in the database."""
        return self.first_stage.customer_index(customer_ids)

    def article_text(self) -> dict[int, str]:
        """Each article id as the competition writes it: 10 digits with the leading zero."""
        if self._id_text is None:
            self._id_text = {int(a): f"{int(a):010d}" for a in self.article_ids}
        return self._id_text

    def _first_stage_for(self, idx: np.ndarray) -> None:
        if not self._everyone_loaded:  # these customers' own purchases, read once per call
            self.first_stage.load_repurchase(idx)

    def recommend(self, customer_idx: np.ndarray, k: int = 12, strategy: str | None = None) -> np.ndarray:
        """The top-k article ids of each customer (rows in input order; -1 = a customer not in the
        database, who gets the cold-start list): k distinct catalogue articles per row."""
        strategy = self.strategy(strategy)
        _check_k(k)
        idx = np.asarray(customer_idx, np.int64)
        if strategy == "ranker":
            return self.ranker().recommend(idx, k)[0]
        self._first_stage_for(idx)
        return self.first_stage.recommend(idx, strategy, k)[0]

    def recommend_blocks(self, blocks: Iterable[np.ndarray], k: int = 12,
                         strategy: str | None = None) -> Iterator[np.ndarray]:
        """`recommend` of each block of customers in turn. The ranker builds the next block's
        candidates and features in a second thread while it scores this one (both cores busy);
        close the iterator when stopping early."""
        strategy = self.strategy(strategy)
        _check_k(k)
        if strategy == "ranker":
            return self.ranker().recommend_blocks(blocks, k)
        return (self.recommend(idx, k, strategy) for idx in blocks)

    def explain(self, customer_idx: int, k: int = 12, strategy: str | None = None) -> list[dict]:
        """One customer's list with each article's score and the sources that proposed it
        (`query`): [{"article_id", "score" (None for a slot filled from the articles on sale),
        "sources"}, ...], the same articles as `recommend`."""
        strategy = self.strategy(strategy)
        _check_k(k)
        idx = np.array([customer_idx], np.int64)
        if strategy == "ranker" and idx[0] >= 0:
            ids, cols = self.ranker().recommend(idx, k)
            rows = {a: i for i, a in enumerate(np.asarray(cols["article_id"]).tolist())}
            out = []
            for article in ids[0].tolist():
                row = rows.get(article)
                out.append({"article_id": article, "score": None, "sources": [FILL]} if row is None else
                           {"article_id": article, "score": round(float(cols["ranker_score"][row]), 5),
                            "sources": [name for col, name in SOURCE_RANKS.items() if np.isfinite(cols[col][row])]})
            return out
        first = "popular" if strategy == "ranker" else strategy  # the ranker's cold start
        self._first_stage_for(idx)
        ids, cand, pos = self.first_stage.recommend(idx, first, k)
        scores = cand.score(first, self.first_stage.weights)[0, pos[0]]
        out = []
        for article, score, bits, at in zip(ids[0].tolist(), scores.tolist(),
                                            cand.source[0, pos[0]].tolist(), pos[0].tolist()):
            filled = at < 0  # past the sources' candidates: from the articles on sale
            out.append({"article_id": article,
                        "score": None if filled else round(score - PRIMARY if score > PRIMARY / 2 else score, 5),
                        "sources": [FILL] if filled else [name for bit, name in SOURCES.items() if bits & bit]})
        return out


def _check_k(k: int) -> None:
    if not 1 <= k <= MAX_K:
        raise HmbatchError(f"k must be between 1 and {MAX_K}, not {k}")
