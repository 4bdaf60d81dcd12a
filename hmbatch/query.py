"""`hmbatch query`: the top-k list of one customer with names, scores and sources, without
TensorFlow for customers whose embedding was saved at training time.
"""

from __future__ import annotations

import re

import numpy as np

from hmbatch.errors import HmbatchError
from hmbatch.retrieve import MAX_K, check_strategy
from hmbatch.serving import Serving
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


def describe(r: Serving, article_ids: np.ndarray) -> dict[int, dict]:
    """Name, product type and colour of each article."""
    rows = r.con.execute("""
        SELECT a.article_id, a.prod_name, pt.name, cg.name FROM articles a
        LEFT JOIN categories pt ON pt.feature = 'product_type' AND pt.code = a.product_type
        LEFT JOIN categories cg ON cg.feature = 'colour_group' AND cg.code = a.colour_group
        WHERE a.article_id IN (SELECT unnest(?))""", [article_ids.tolist()]).fetchall()
    return {r_[0]: {"name": r_[1], "product_type": r_[2], "colour": r_[3]} for r_ in rows}


def query(ws: Workspace, customer_id: str, k: int = 12, strategy: str | None = None,
          allow_stale: bool = False) -> dict:
    """The customer's top-k list; an unknown id gets the cold-start answer and a note.

    Raises:
        HmbatchError: a malformed id, a bad k or strategy, a missing or stale model.
    """
    if strategy:
        check_strategy(strategy)
    if not 1 <= k <= MAX_K:
        raise HmbatchError(f"--k must be between 1 and {MAX_K}, not {k}")
    with Serving.open(ws, allow_stale) as r:
        strategy = r.strategy(strategy)  # a run without the ranker asked for stops here, for any customer
        example = r.con.execute("SELECT customer_id FROM customers LIMIT 1").fetchone()[0]
        check_customer_id(customer_id, example)
        idx = r.customer_index([customer_id])
        explained = r.explain(int(idx[0]), k, strategy)
        info = describe(r, np.array([e["article_id"] for e in explained], np.int64))
        items = [{"rank": rank, "article_id": f"{e['article_id']:010d}", **info.get(e["article_id"], {}),
                  "score": e["score"], "sources": e["sources"]} for rank, e in enumerate(explained, 1)]
    note = None if idx[0] >= 0 else ("customer not in the database: cold-start answer "
                                     "(last week's best sellers)")
    return {"customer_id": customer_id, "known": bool(idx[0] >= 0), "strategy": strategy,
            "model": r.run_dir.name, "note": note, "items": items}
