"""implicit's ALS as a yardstick for the two-tower: a plain matrix factorisation of the last weeks'
purchases, scored over last week's sold articles with a popularity prior.

It is what a learned model of (customer, article) ids must beat: if the two-tower, with its
features and history, scores below a 64-factor ALS fitted in seconds, it has not learnt the
item-level structure the data holds. `implicit` is a development dependency (`make install` brings
it); `evaluate` scores this baseline when it is installed and says so when it is not.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy as np

NAME = "baseline: implicit ALS + popularity"


@dataclass(frozen=True)
class AlsConfig:
    """Options of the ALS baseline.

    Attributes:
        factors: latent dimensions.
        weeks: weeks of purchases before the cut-off in the matrix.
        iterations, regularization: ALS's.
        alpha: confidence weight of a purchase (implicit feedback: 1 + alpha * count).
        prior: weight of ln(1 + last week's sales) added to the normalised ALS score.
        seed: random seed of the factors' initialisation.
    """

    factors: int = 64
    weeks: int = 12
    iterations: int = 15
    regularization: float = 0.05
    alpha: float = 10.0
    prior: float = 1.0
    seed: int = 0


def available() -> bool:
    """Whether `implicit` can be imported (it is a development dependency)."""
    try:
        import implicit  # noqa: F401
    except ImportError:
        return False
    return True


def recommend(con: duckdb.DuckDBPyConnection, cutoff: dt.date, customers: np.ndarray,
              k: int = 12, config: AlsConfig = AlsConfig()) -> np.ndarray:
    """Fits ALS on the purchases of the `weeks` weeks up to `cutoff` and lists, for each of
    `customers` (sorted customer_idx), the k best of last week's sold articles by
    ALS score / its spread + prior * ln(1 + sales last week); customers without a purchase in the
    window get last week's best sellers.

    Returns:
        (len(customers), k) article ids.
    """
    from implicit.cpu.als import AlternatingLeastSquares
    from scipy.sparse import csr_matrix
    from threadpoolctl import threadpool_limits
    rows = con.execute(
        "SELECT customer_idx, article_id, count(*) AS n FROM transactions WHERE t_dat <= ? AND t_dat > ? "
        "GROUP BY ALL", [cutoff, cutoff - dt.timedelta(days=7 * config.weeks)]).fetchnumpy()
    users, u = np.unique(np.asarray(rows["customer_idx"], np.int64), return_inverse=True)
    items, i = np.unique(np.asarray(rows["article_id"], np.int64), return_inverse=True)
    matrix = csr_matrix((1.0 + config.alpha * np.asarray(rows["n"], np.float32), (u, i)),
                        shape=(len(users), len(items)))
    with threadpool_limits(1, "blas"):  # implicit's own threads do the work (it warns otherwise)
        model = AlternatingLeastSquares(factors=config.factors, regularization=config.regularization,
                                        iterations=config.iterations, random_state=config.seed)
        model.fit(matrix, show_progress=False)
    sold = con.execute("SELECT article_id, count(*) AS n FROM transactions WHERE t_dat <= ? AND t_dat > ? "
                       "GROUP BY ALL ORDER BY article_id", [cutoff, cutoff - dt.timedelta(days=7)]).fetchnumpy()
    sold_ids = np.asarray(sold["article_id"], np.int64)
    prior = config.prior * np.log1p(np.asarray(sold["n"], np.float32))
    pos = np.searchsorted(items, sold_ids)  # every article sold last week is in the window
    item_f = np.asarray(model.item_factors)[pos]
    best = sold_ids[np.lexsort((sold_ids, -prior))[:k]]
    out = np.tile(best, (len(customers), 1))
    row = np.searchsorted(users, customers)
    known = (row < len(users)) & (users[np.minimum(row, len(users) - 1)] == customers)
    user_f = np.asarray(model.user_factors)
    for start in range(0, int(known.sum()), 4096):
        who = row[known][start:start + 4096]
        score = user_f[who] @ item_f.T
        score = score / np.maximum(score.std(axis=1, keepdims=True), 1e-9) + prior
        top = np.argpartition(-score, k, axis=1)[:, :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(score, top, 1), axis=1), 1)
        out[np.flatnonzero(known)[start:start + 4096]] = sold_ids[top]
    return out
