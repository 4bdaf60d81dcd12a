"""`hmbatch submit`: a top-12 list for every customer, streamed in chunks into the competition's
CSV (`customer_id,prediction`, 12 space-separated 10-digit ids), written to a temporary file that
is renamed at the end so that an interrupted run leaves no half file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from hmbatch.retrieve import Retriever, check_strategy
from hmbatch.workspace import Workspace, clean_dead_partials, pause_point, remove_path, signals_as_interrupt

CHUNK = 8192


def submission_customers(r: Retriever) -> tuple[list[str], np.ndarray]:
    """sample_submission.csv's customers in its order if it was loaded, else every customer."""
    rows = r.con.execute("SELECT customer_id, coalesce(customer_idx, -1) AS idx FROM submission_customers "
                         "ORDER BY position").fetchnumpy()
    if len(rows["customer_id"]) == 0:
        rows = r.con.execute("SELECT customer_id, customer_idx AS idx FROM customers "
                             "ORDER BY customer_idx").fetchnumpy()
    return rows["customer_id"].tolist(), np.asarray(rows["idx"], np.int64)


def format_lines(customer_ids: list[str], lists: np.ndarray, id_text: dict[int, str]) -> str:
    """CSV lines `customer_id,id id ... id` for one chunk."""
    return "".join(f"{c},{' '.join(id_text[a] for a in row)}\n"
                   for c, row in zip(customer_ids, lists.tolist()))


def submit(ws: Workspace, out: Path | None = None, strategy: str = "blend", allow_stale: bool = False,
           progress=None) -> dict:
    """Writes the submission for every customer and returns its path and figures.

    Args:
        ws: the workspace.
        out: the CSV path (default: WORKSPACE/submissions/submission-<model>-<strategy>.csv).
        strategy: blend, two-tower, repurchase or popular.
        allow_stale: go on when the model was trained on another database.
        progress: optional callback(done, total).
    """
    check_strategy(strategy)
    started = time.perf_counter()
    with signals_as_interrupt():
        r = Retriever.open(ws, allow_stale)
        ids, idx = submission_customers(r)
        out = out or ws.submissions_dir / f"submission-{r.run_dir.name}-{strategy}.csv"
        out.parent.mkdir(parents=True, exist_ok=True)
        clean_dead_partials(out)
        r.load_repurchase()
        id_text = {int(a): f"{int(a):010d}" for a in r.article_ids}
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", newline="") as handle:
                handle.write("customer_id,prediction\n")
                for start in range(0, len(idx), CHUNK):
                    lists = r.recommend(idx[start:start + CHUNK], strategy)[0]
                    handle.write(format_lines(ids[start:start + CHUNK], lists, id_text))
                    pause_point("submit:chunk")
                    if progress:
                        progress(min(start + CHUNK, len(idx)), len(idx))
            os.replace(tmp, out)
        finally:
            remove_path(tmp)
            r.con.close()
    seconds = time.perf_counter() - started
    return {"path": str(out), "customers": len(idx), "unknown": int((idx < 0).sum()),
            "seconds": round(seconds, 2), "customers_per_s": round(len(idx) / max(seconds, 1e-9), 1),
            "model": r.run_dir.name, "strategy": strategy}
