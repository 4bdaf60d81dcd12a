"""The competition's metric and its companions, computed on NumPy arrays of top-k lists.

MAP@12 is the mean over the customers who bought anything in the evaluated week of AP@12, where
AP@12 = sum_k P(k) * rel(k) / min(number of distinct articles bought, 12). A list's repeated
article counts once (the first time), as in the competition's scoring of distinct purchases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def average_precision(predicted: list[int] | np.ndarray, actual: set[int], k: int = 12) -> float:
    """AP@k of one list against the set of articles bought."""
    if not actual:
        return 0.0
    hits, total, seen = 0, 0.0, set()
    for rank, item in enumerate(list(predicted)[:k], start=1):
        if item in actual and item not in seen:
            hits += 1
            total += hits / rank
        seen.add(item)
    return total / min(len(actual), k)


def map_at_k(predictions: dict[int, np.ndarray], truth: dict[int, set[int]], k: int = 12) -> float:
    """Mean AP@k over the customers in `truth` (those who bought); missing lists score 0."""
    if not truth:
        return 0.0
    return float(np.mean([average_precision(predictions.get(c, []), bought, k)
                          for c, bought in truth.items()]))


def recall_at_k(predictions: dict[int, np.ndarray], truth: dict[int, set[int]], k: int) -> float:
    """Mean over buyers of the share of their distinct purchases found in the top k."""
    if not truth:
        return 0.0
    return float(np.mean([len(bought & set(np.asarray(predictions.get(c, []))[:k].tolist())) / len(bought)
                          for c, bought in truth.items()]))


def coverage(predictions: dict[int, np.ndarray], n_articles: int, k: int = 12) -> float:
    """Share of the catalogue that appears in at least one top-k list."""
    if not predictions or n_articles == 0:
        return 0.0
    shown = np.unique(np.concatenate([np.asarray(p)[:k] for p in predictions.values()]))
    return float(len(shown[shown >= 0]) / n_articles)


@dataclass(frozen=True)
class Truth:
    """The held-out purchases of B buyers as flat arrays, for vectorised scoring."""

    customers: np.ndarray  # (B,) customer_idx, sorted
    keys: np.ndarray  # sorted row * 2**32 + article_id of every distinct purchase
    counts: np.ndarray  # (B,) distinct articles bought

    @classmethod
    def from_sets(cls, truth: dict[int, set[int]]) -> "Truth":
        customers = np.array(sorted(truth), dtype=np.int64)
        rows = np.repeat(np.arange(len(customers)), [len(truth[c]) for c in customers.tolist()])
        arts = np.array([a for c in customers.tolist() for a in sorted(truth[c])], dtype=np.int64)
        return cls(customers, np.sort(rows * 2**32 + arts), np.array([len(truth[c]) for c in customers.tolist()]))

    def hits(self, predicted: np.ndarray) -> np.ndarray:
        """(B, k) booleans: was the article at each rank bought, counting an article repeated in
        a row at its first rank only (its later ranks still take their places, as Kaggle scores)."""
        keys = np.arange(len(self.customers))[:, None] * 2**32 + predicted
        repeated = np.zeros(predicted.shape, bool)
        for j in range(1, predicted.shape[1]):
            repeated[:, j] = (predicted[:, j:j + 1] == predicted[:, :j]).any(axis=1)
        # self.keys is sorted: a binary search finds each key (3x faster than np.isin, which
        # hashes both arrays each call; `evaluate --tune` calls this once per weight combination)
        pos = np.minimum(np.searchsorted(self.keys, keys), max(len(self.keys) - 1, 0))
        found = self.keys[pos] == keys if len(self.keys) else np.zeros(keys.shape, bool)
        return found & (predicted >= 0) & ~repeated


def map_at_k_matrix(predicted: np.ndarray, truth: Truth, k: int = 12) -> np.ndarray:
    """AP@k of each buyer's row of distinct predicted ids (row order = truth.customers)."""
    hits = truth.hits(predicted[:, :k]).astype(np.float64)
    precision = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    return (precision * hits).sum(axis=1) / np.minimum(truth.counts, k)


def recall_matrix(predicted: np.ndarray, truth: Truth, k: int) -> np.ndarray:
    """Each buyer's share of distinct purchases found in the first k predictions."""
    return truth.hits(predicted[:, :k]).sum(axis=1) / truth.counts
