"""`hmbatch query`: the top-k list of one customer with names, scores and sources, without
TensorFlow for customers whose embedding was saved at training time.
"""

from __future__ import annotations

import re

import numpy as np

from hmbatch.errors import HmbatchError
from hmbatch import ranker
from hmbatch.retrieve import PRIMARY, SOURCES, Retriever, check_strategy
from hmbatch.submit import resolve_strategy
from hmbatch.workspace import Workspace

HEX64 = re.compile(r"^[0-9a-f]{64}$")
ID_SAFE = re.compile(r"^[0-9A-Za-z_.:-]{1,128}$")


def check_customer_id(customer_id: str, example: str | None) -> None:
    """Raises for an id that cannot be a customer id of this database (format of `example`)."""
    if example and HEX64.match(example):
        if not HEX64.match(customer_id):
            raise HmbatchError(f"malformed customer id {customer_id[:80]!r}: this database's ids are "
                               "64 lowercase hexadecimal digits")
    elif not ID_SAFE.match(customer_id):
        raise HmbatchError(f"malformed customer id {customer_id[:80]!r}: expected 1-128 letters, "
                           "digits, '_', '.', ':' or '-'")


def describe(r: Retriever, article_ids: np.ndarray) -> dict[int, dict]:
    """Name, product type and colour of each article."""
    rows = r.con.execute("""
        SELECT a.article_id, a.prod_name, pt.name, cg.name FROM articles a
        LEFT JOIN categories pt ON pt.feature = 'product_type' AND pt.code = a.product_type
        LEFT JOIN categories cg ON cg.feature = 'colour_group' AND cg.code = a.colour_group
        WHERE a.article_id IN (SELECT unnest(?))""", [article_ids.tolist()]).fetchall()
    return {r_[0]: {"name": r_[1], "product_type": r_[2], "colour": r_[3]} for r_ in rows}


# the ranker's candidate columns that say a source proposed the article
SOURCE_RANKS = {"rep_rank": "repurchase", "sp_rank": "same product", "bt_rank": "bought together",
                "pop_src_rank": "popular", "band_src_rank": "popular (age band)", "rising_rank": "rising",
                "tt_rank": "two-tower", "ts_rank": "like what you bought lately"}


def ranker_items(r: Retriever, idx: np.ndarray, k: int) -> tuple[np.ndarray, list[float | None], list[list[str]]]:
    """The ranker's list of one customer with each article's ranker score and sources."""
    ids, cols = ranker.for_retriever(r).recommend(idx, k)
    rows = {a: i for i, a in enumerate(np.asarray(cols["article_id"]).tolist())}
    scores, sources = [], []
    for article in ids[0].tolist():
        row = rows.get(article)
        if row is None:  # filled from the age band's best sellers
            scores.append(None)
            sources.append(["popular (fill)"])
            continue
        scores.append(round(float(cols["ranker_score"][row]), 5))
        sources.append([name for col, name in SOURCE_RANKS.items() if np.isfinite(cols[col][row])])
    return ids, scores, sources


def query(ws: Workspace, customer_id: str, k: int = 12, strategy: str | None = None,
          allow_stale: bool = False) -> dict:
    """The customer's top-k list; an unknown id gets the cold-start answer and a note.

    Raises:
        HmbatchError: a malformed id, a bad k or strategy, a missing or stale model.
    """
    if strategy:
        check_strategy(strategy)
    if not 1 <= k <= 100:
        raise HmbatchError(f"--k must be between 1 and 100, not {k}")
    r = Retriever.open(ws, allow_stale)
    try:
        strategy = resolve_strategy(r, strategy)
        if strategy == "ranker":
            ranker.for_retriever(r)  # a run without a ranker stops here, for any customer
        example = r.con.execute("SELECT customer_id FROM customers LIMIT 1").fetchone()[0]
        check_customer_id(customer_id, example)
        idx = r.customer_index([customer_id])
        if strategy == "ranker" and idx[0] >= 0:
            ids, scores, sources = ranker_items(r, idx, k)
            info = describe(r, ids[0])
            items = [{"rank": rank, "article_id": f"{article:010d}", **info.get(article, {}),
                      "score": score, "sources": src}
                     for rank, (article, score, src) in enumerate(zip(ids[0].tolist(), scores, sources), 1)]
            return {"customer_id": customer_id, "known": True, "strategy": strategy,
                    "model": r.run_dir.name, "note": None, "items": items}
        first_stage = "popular" if strategy == "ranker" else strategy  # the ranker's cold start
        ids, cand, pos = r.recommend(idx, first_stage, k)
        info = describe(r, ids[0])
        scores = cand.score(first_stage, r.weights)[0, pos[0]]
        items = []
        for rank, (article, score, bits, at) in enumerate(zip(ids[0].tolist(), scores.tolist(),
                                                              cand.source[0, pos[0]].tolist(), pos[0].tolist()), 1):
            filled = at < 0  # past the sources' candidates: from the fill order
            items.append({"rank": rank, "article_id": f"{article:010d}", **info.get(article, {}),
                          "score": None if filled else round(score - PRIMARY if score > PRIMARY / 2 else score, 5),
                          "sources": ["popular (fill)"] if filled else
                          [name for bit, name in SOURCES.items() if bits & bit]})
    finally:
        r.con.close()
    note = None if idx[0] >= 0 else ("customer not in the database: cold-start answer "
                                     "(last week's best sellers)")
    return {"customer_id": customer_id, "known": bool(idx[0] >= 0), "strategy": strategy,
            "model": r.run_dir.name, "note": note, "items": items}
