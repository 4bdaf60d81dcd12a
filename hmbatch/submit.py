"""`hmbatch submit`: a top-12 list for every customer, streamed in chunks into the competition's
CSV (`customer_id,prediction`, 12 space-separated 10-digit ids), written to a temporary file that
is renamed at the end so that an interrupted run leaves no half file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from hmbatch.retrieve import check_strategy
from hmbatch.serving import Serving
from hmbatch.workspace import Workspace, clean_dead_partials, pause_point, remove_path, signals_as_interrupt

CHUNK = 16384


def submission_customers(r: Serving) -> tuple[list[str], np.ndarray]:
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


def submit(ws: Workspace, out: Path | None = None, strategy: str | None = None, allow_stale: bool = False,
           progress=None) -> dict:
    """Writes the submission for every customer and returns its path and figures.

    Args:
        ws: the workspace.
        out: the CSV path (default: WORKSPACE/submissions/submission-<model>-<strategy>.csv).
        strategy: one of retrieve.STRATEGIES; default: the ranker when the run has one, else blend
            (`serving.Serving`, which answers every strategy).
        allow_stale: go on when the model was trained on another database.
        progress: optional callback(done, total).
    """
    if strategy:
        check_strategy(strategy)
    started = time.perf_counter()
    with signals_as_interrupt():
        r = Serving.open(ws, allow_stale)
        try:
            strategy = r.strategy(strategy)
            ids, idx = submission_customers(r)
            out = out or ws.submissions_dir / f"submission-{r.run_dir.name}-{strategy}.csv"
            out.parent.mkdir(parents=True, exist_ok=True)
            id_text = r.article_text()
            starts = range(0, len(idx), CHUNK)
            lists = r.recommend_blocks((idx[s:s + CHUNK] for s in starts), 12, strategy)
            blocks = ((min(s + CHUNK, len(idx)), format_lines(ids[s:s + CHUNK], block, id_text))
                      for s, block in zip(starts, lists))
            try:
                write_submission(out, blocks, len(idx), progress)
            finally:
                lists.close()  # waits for the block being prepared before the connection closes
        finally:
            r.close()
    return summary(out, idx, started, r.run_dir.name, strategy)


def write_submission(out: Path, blocks, total: int, progress=None) -> None:
    """Writes the header and each block's lines, in order, to `.NAME.<pid>.tmp` renamed to `out`
    at the end: a failed or interrupted run leaves the previous file and no partial one.

    Args:
        out: the CSV path.
        blocks: (customers done so far, CSV lines) per block, in the file's order.
        total: the number of customers, for `progress`.
        progress: optional callback(done, total).
    """
    clean_dead_partials(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", newline="") as handle:
            handle.write("customer_id,prediction\n")
            for done, lines in blocks:
                handle.write(lines)
                pause_point("submit:chunk")
                if progress:
                    progress(done, total)
        os.replace(tmp, out)
    finally:
        remove_path(tmp)


def summary(out: Path, idx: np.ndarray, started: float, model: str, strategy: str) -> dict:
    """The figures `submit` returns (and `output.submit_summary` prints)."""
    seconds = time.perf_counter() - started
    return {"path": str(out), "customers": len(idx), "unknown": int((idx < 0).sum()),
            "seconds": round(seconds, 2), "customers_per_s": round(len(idx) / max(seconds, 1e-9), 1),
            "model": model, "strategy": strategy}
