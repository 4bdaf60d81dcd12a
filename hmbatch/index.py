"""The vector store: article embeddings behind `build / search / save / load`, with an exact twin.

`FaissIndex` keeps the vectors in a FAISS flat inner-product index (exact). `NumpyIndex` is the
brute-force NumPy twin used as the oracle in tests and as the yardstick in benchmarks. Both map
row positions back to article ids and return (scores, ids) with -1 ids for empty slots.
"""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np

from hmbatch.errors import HmbatchError


def check_finite(vectors: np.ndarray, what: str) -> np.ndarray:
    """Returns `vectors` as contiguous float32, or raises if any value is NaN or infinite."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if not np.isfinite(vectors).all():
        bad = int((~np.isfinite(vectors)).any(axis=1).sum())
        raise HmbatchError(f"{bad} {what} embeddings are NaN or infinite: training diverged; "
                           "retrain with a lower --learning-rate")
    return vectors


class FaissIndex:
    """Exact inner-product search over article vectors with FAISS."""

    kind = "faiss-flat-ip"

    def __init__(self) -> None:
        self.index: faiss.Index | None = None
        self.ids = np.zeros(0, np.int64)

    def build(self, embeddings: np.ndarray, ids: np.ndarray) -> "FaissIndex":
        """Indexes `embeddings` (n, d) whose rows are the articles `ids` (n,)."""
        vectors = check_finite(embeddings, "article")
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(vectors)
        self.ids = np.asarray(ids, dtype=np.int64)
        return self

    @property
    def dim(self) -> int:
        return self.index.d

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k articles by inner product: (scores, article ids), each (n_queries, k)."""
        scores, rows = self.index.search(check_finite(queries, "customer"), k)
        return scores, np.where(rows >= 0, self.ids[np.maximum(rows, 0)], -1)

    def save(self, folder: Path, manifest: dict | None = None) -> None:
        """Writes index.faiss, ids.npy and index.json into `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(folder / "index.faiss"))
        np.save(folder / "ids.npy", self.ids)
        info = {"kind": self.kind, "dim": self.dim, "metric": "inner_product", "size": len(self.ids)}
        (folder / "index.json").write_text(json.dumps({**info, **(manifest or {})}, indent=2))

    @classmethod
    def load(cls, folder: Path) -> "FaissIndex":
        """Reads what `save` wrote."""
        out = cls()
        try:
            out.index = faiss.read_index(str(folder / "index.faiss"))
        except RuntimeError as exc:
            raise HmbatchError(f"{folder}: cannot read the FAISS index ({str(exc).splitlines()[0]}); "
                               "run `hmbatch train` again") from None
        out.ids = np.load(folder / "ids.npy")
        return out


class NumpyIndex:
    """The exact twin: brute-force inner products and a stable top-k in NumPy."""

    kind = "numpy-exact"

    def build(self, embeddings: np.ndarray, ids: np.ndarray) -> "NumpyIndex":
        self.vectors = check_finite(embeddings, "article")
        self.ids = np.asarray(ids, dtype=np.int64)
        return self

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = check_finite(queries, "customer") @ self.vectors.T
        k_eff = min(k, scores.shape[1])
        part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
        rows = np.take_along_axis(part, order, axis=1)
        top = np.take_along_axis(scores, rows, axis=1)
        pad = k - k_eff
        return (np.pad(top, ((0, 0), (0, pad)), constant_values=-np.inf),
                np.pad(self.ids[rows], ((0, 0), (0, pad)), constant_values=-1))
