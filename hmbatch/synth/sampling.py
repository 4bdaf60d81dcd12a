"""Vectorised weighted sampling inside groups, the workhorse of the synthetic generator.

Many rows each draw from their own small distribution (a persona's categories in one week, the
live articles of one category in one week). Storing every distribution's cumulative weights in one
flat array, shifted by its group number, turns all draws into a single ``np.searchsorted``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GroupedCdf:
    """Cumulative weights of many groups in one sorted array.

    Attributes:
      keys: for the j-th item of group g, ``g + cumsum(w)[j] / sum(w)``; sorted ascending.
      starts: first item of each group (length n_groups + 1).
      items: the value returned for each item (an article or category index).
    """

    keys: np.ndarray
    starts: np.ndarray
    items: np.ndarray

    def empty(self) -> np.ndarray:
        """Boolean mask of the groups that have no item of positive weight."""
        return np.diff(self.starts) == 0

    def sample(self, groups: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Draw one item per row from the row's group.

        Args:
          groups: group number of each row (the group must not be empty).
          u: uniform numbers in [0, 1), one per row.

        Returns:
          The drawn item of each row.
        """
        pos = np.searchsorted(self.keys, groups + u, side="right")
        pos = np.clip(pos, self.starts[groups], self.starts[groups + 1] - 1)
        return self.items[pos]


def grouped_cdf(groups: np.ndarray, weights: np.ndarray, items: np.ndarray,
                n_groups: int) -> GroupedCdf:
    """Build a GroupedCdf from (group, weight, item) triples in any order.

    Args:
      groups: group number of each triple, in [0, n_groups).
      weights: non-negative weights; zero-weight triples are dropped.
      items: the value each triple stands for.
      n_groups: number of groups.

    Returns:
      The flat cumulative table.
    """
    keep = weights > 0
    groups, weights, items = groups[keep], weights[keep], items[keep]
    order = np.argsort(groups, kind="stable")
    groups, weights, items = groups[order], weights[order].astype(np.float64), items[order]
    counts = np.bincount(groups, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)])
    prefix = np.concatenate([[0.0], np.cumsum(weights)])
    total = np.maximum(prefix[starts[1:]] - prefix[starts[:-1]], 1e-300)
    keys = groups + (prefix[1:] - prefix[starts[:-1]][groups]) / total[groups]
    return GroupedCdf(keys=keys, starts=starts, items=items)


@dataclass(frozen=True)
class KeyedCdf:
    """A GroupedCdf whose groups are sparse int64 keys: only keys with items are stored.

    Attributes:
      keys: the distinct group keys, sorted.
      cdf: their cumulative weights (group i stands for ``keys[i]``).
      total: total weight of each group.
    """

    keys: np.ndarray
    cdf: GroupedCdf
    total: np.ndarray

    def find(self, key: np.ndarray) -> np.ndarray:
        """Group number of each key, or -1 where the key has no item."""
        if not len(self.keys):
            return np.full(np.shape(key), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
        return np.where(self.keys[pos] == key, pos, -1)


def keyed_cdf(keys: np.ndarray, weights: np.ndarray, items: np.ndarray) -> KeyedCdf:
    """Build a KeyedCdf from (key, weight, item) triples in any order (zero weights dropped)."""
    keep = weights > 0
    distinct, group = np.unique(keys[keep], return_inverse=True)
    return KeyedCdf(keys=distinct,
                    cdf=grouped_cdf(group, weights[keep], items[keep], len(distinct)),
                    total=np.bincount(group, weights[keep], len(distinct)))


def dense_cdf(probs: np.ndarray) -> GroupedCdf:
    """GroupedCdf of a (n_groups, n_items) matrix of weights; items are column numbers."""
    n_groups, n_items = probs.shape
    groups = np.repeat(np.arange(n_groups), n_items)
    items = np.tile(np.arange(n_items), n_groups)
    return grouped_cdf(groups, probs.ravel(), items, n_groups)


def categorical(rng: np.random.Generator, probs: np.ndarray, size: int) -> np.ndarray:
    """Draw ``size`` indices from one probability vector (fast inverse-CDF)."""
    cdf = np.cumsum(probs, dtype=np.float64)
    idx = np.searchsorted(cdf / cdf[-1], rng.random(size), side="right")
    return np.minimum(idx, len(probs) - 1)
