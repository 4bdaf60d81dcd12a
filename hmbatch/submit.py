"""`hmbatch submit`: a top-12 list for every customer, streamed in chunks into the competition's
CSV (`customer_id,prediction`, 12 space-separated 10-digit ids), written to a temporary file that
is renamed at the end so that an interrupted run leaves no half file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from hmbatch import ranker
from hmbatch.retrieve import Retriever, check_strategy
from hmbatch.workspace import Workspace, clean_dead_partials, pause_point, remove_path, signals_as_interrupt

CHUNK = 16384


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


def default_strategy(run_dir: Path) -> str:
    """The strategy used when none is given: the ranker when the run has one, else the blend."""
    return "ranker" if ranker.Ranker.exists(run_dir) else "blend"


def resolve_strategy(r: Retriever, strategy: str | None) -> str:
    """`strategy`, checked, or the run's default."""
    return check_strategy(strategy) if strategy else default_strategy(r.run_dir)


def prepare_serving(r: Retriever, strategy: str) -> None:
    """Loads once what the strategy reads for every customer: the ranker and its context, or the
    first stage's repurchase lists of all customers."""
    if strategy == "ranker":
        ranker.for_retriever(r)
    else:
        r.load_repurchase()


def recommend_lists(r: Retriever, customer_idx: np.ndarray, strategy: str, k: int = 12) -> np.ndarray:
    """The top-k article ids of a block of customers (-1 = unknown customer_idx gets cold start):
    the one function behind `submit`, its Ray workers, `query`, `evaluate` and the Python API, so
    all give one answer."""
    idx = np.asarray(customer_idx, np.int64)
    if strategy == "ranker":
        return ranker.for_retriever(r).recommend(idx, k)[0]
    return r.recommend(idx, strategy, k)[0]


def block_lines(r: Retriever, customer_ids: list[str], customer_idx: np.ndarray, strategy: str,
                id_text: dict[int, str]) -> str:
    """The submission's CSV lines of one block of customers."""
    return format_lines(customer_ids, recommend_lists(r, customer_idx, strategy), id_text)


def article_text(r: Retriever) -> dict[int, str]:
    """Each article id as the competition writes it: 10 digits with the leading zero."""
    return {int(a): f"{int(a):010d}" for a in r.article_ids}


def submit(ws: Workspace, out: Path | None = None, strategy: str | None = None, allow_stale: bool = False,
           progress=None) -> dict:
    """Writes the submission for every customer and returns its path and figures.

    Args:
        ws: the workspace.
        out: the CSV path (default: WORKSPACE/submissions/submission-<model>-<strategy>.csv).
        strategy: one of retrieve.STRATEGIES; default: the ranker when the run has one, else blend.
        allow_stale: go on when the model was trained on another database.
        progress: optional callback(done, total).
    """
    if strategy:
        check_strategy(strategy)
    started = time.perf_counter()
    with signals_as_interrupt():
        r = Retriever.open(ws, allow_stale)
        strategy = resolve_strategy(r, strategy)
        ids, idx = submission_customers(r)
        out = out or ws.submissions_dir / f"submission-{r.run_dir.name}-{strategy}.csv"
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            prepare_serving(r, strategy)
            id_text = article_text(r)
            starts = range(0, len(idx), CHUNK)
            if strategy == "ranker":  # the same lists as block_lines, the next block prepared meanwhile
                lists = ranker.for_retriever(r).recommend_blocks(idx[s:s + CHUNK] for s in starts)
                blocks = ((min(s + CHUNK, len(idx)), format_lines(ids[s:s + CHUNK], block, id_text))
                          for s, block in zip(starts, lists))
            else:
                lists = None
                blocks = ((min(s + CHUNK, len(idx)),
                           block_lines(r, ids[s:s + CHUNK], idx[s:s + CHUNK], strategy, id_text))
                          for s in starts)
            try:
                write_submission(out, blocks, len(idx), progress)
            finally:
                if lists is not None:
                    lists.close()  # waits for the block being prepared before the connection closes
        finally:
            r.con.close()
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
