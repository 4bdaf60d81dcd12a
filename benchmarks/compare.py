"""What hmbatch is compared with in `make bench`, each run in its own measured process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def pandas_read(data_dir: str) -> dict:
    """pandas.read_csv of the three raw files, as a user without hmbatch would start."""
    import pandas as pd
    started = time.perf_counter()
    rows = {name: len(pd.read_csv(Path(data_dir) / name, dtype={"article_id": str}))
            for name in ("articles.csv", "customers.csv", "transactions_train.csv")}
    return {"rows": rows, "seconds": round(time.perf_counter() - started, 2)}


def _current(ws: str) -> Path:
    root = Path(ws) / "models"
    return root / (root / "CURRENT").read_text().strip()


def numpy_topk(ws: str, chunk: str = "8192", limit: str = "300000") -> dict:
    """Plain NumPy brute-force top-12 over the same recent-article vectors, for the first `limit`
    customers (the rate is what counts; all 1.37M would add minutes to the bench)."""
    import faiss
    run = _current(ws)
    customers = np.load(run / "customer_embeddings.npy")[:int(limit)]
    index = faiss.read_index(str(run / "index_recent" / "index.faiss"))
    vectors = index.reconstruct_n(0, index.ntotal)
    queries = np.hstack([customers, np.ones((len(customers), 1), np.float32)])
    started = time.perf_counter()
    size = int(chunk)
    for start in range(0, len(queries), size):
        scores = queries[start:start + size] @ vectors.T
        top = np.argpartition(-scores, 11, axis=1)[:, :12]
        np.take_along_axis(scores, top, axis=1).argsort(axis=1)
    seconds = time.perf_counter() - started
    return {"customers": len(queries), "seconds": round(seconds, 2),
            "customers_per_s": round(len(queries) / seconds, 1)}


def id_only_tfrs(ws: str, batch_size: str = "1024", weeks: str = "12", max_steps: str = "600") -> dict:
    """A plain id-only TFRS two-tower (Keras fit, Keras Adam) on the same examples and batch size:
    one epoch, or its first `max_steps` batches when the epoch is longer."""
    import duckdb
    from hmbatch import features
    from hmbatch.model import tf, tfrs
    con = duckdb.connect(str(Path(ws) / "hmbatch.duckdb"), read_only=True)
    cutoff, _ = features.dates(con, 7)
    ex = con.execute("SELECT DISTINCT customer_idx, article_id FROM transactions WHERE t_dat <= ? AND "
                     "t_dat > ? ORDER BY 1, 2", [cutoff, cutoff - __import__("datetime").timedelta(weeks=int(weeks))]).fetchnumpy()
    cust, art = ex["customer_idx"].astype(np.int64), ex["article_id"].astype(np.int64)

    def tower(vocab):
        return tf.keras.Sequential([tf.keras.layers.IntegerLookup(vocabulary=np.unique(vocab), mask_token=None),
                                    tf.keras.layers.Embedding(len(np.unique(vocab)) + 1, 64)])

    class IdOnly(tfrs.Model):
        def __init__(self):
            super().__init__()
            self.q, self.c = tower(cust), tower(art)
            self.task = tfrs.tasks.Retrieval()

        def compute_loss(self, f, training=False):
            return self.task(self.q(f["c"]), self.c(f["a"]), compute_metrics=False)

    model = IdOnly()
    model.compile(optimizer=tf.keras.optimizers.Adam(0.005))
    data = tf.data.Dataset.from_tensor_slices({"c": cust, "a": art}).shuffle(len(cust), seed=0).batch(int(batch_size))
    model.fit(data.take(5), epochs=1, verbose=0)  # trace outside the timing
    steps = min(int(max_steps), -(-len(cust) // int(batch_size)))
    started = time.perf_counter()
    model.fit(data.take(steps), epochs=1, verbose=0)
    seconds = time.perf_counter() - started
    seen = min(len(cust), steps * int(batch_size))
    return {"examples": seen, "seconds": round(seconds, 2), "examples_per_s": round(seen / seconds, 1)}


def score_submission(submission: str, truth_csv: str) -> dict:
    """MAP@12 of a submission file against the synthetic true next week (hmbatch's own scorer)."""
    from hmbatch.evaluate import score_file
    return score_file(Path(submission), Path(truth_csv))


def query_latency(ws: str, customer_id: str, runs: str = "3") -> dict:
    """Wall time of `hmbatch query` as a user runs it: a new process each time."""
    exe = str(Path(sys.executable).with_name("hmbatch"))
    times = []
    for _ in range(int(runs)):
        started = time.perf_counter()
        subprocess.run([exe, "query", customer_id, "--workspace", ws, "--json"], check=True,
                       capture_output=True)
        times.append(round(time.perf_counter() - started, 3))
    return {"runs_s": times, "median_s": float(np.median(times))}


def duckdb_read(data_dir: str) -> dict:
    """DuckDB's CSV reader alone on the same three files (typed, into memory): the like-for-like
    counterpart of pandas_read, without build-db's joins, aggregates and database writes."""
    import duckdb
    con = duckdb.connect()
    started = time.perf_counter()
    rows = {}
    for name in ("articles.csv", "customers.csv", "transactions_train.csv"):
        table = name.split(".")[0]
        types = "" if name == "customers.csv" else ", types = {'article_id': 'VARCHAR'}"
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv(?, header = true{types})",
                    [str(Path(data_dir) / name)])
        rows[name] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return {"rows": rows, "seconds": round(time.perf_counter() - started, 2)}


def ranker_ablation(ws: str, seeds: str = "0") -> dict:
    """The run's ranker trained again without the two-tower (neither as a candidate source nor as
    features), on a copy of the run folder, and scored on the same held-out week: MAP@12 with and
    without the two-tower.

    `seeds` ("0,1,2"): LightGBM seeds (bagging and feature sampling). The run's own seed is its
    ranker as trained and evaluated; each other seed refits both rankers (with and without the
    two-tower) on their saved label-week sets, whose sampled negatives stay those of the run's
    seed. The part is then the ratio of the means over the seeds, so that one fit's luck (up to
    2.3% of MAP@12 at full) does not decide it."""
    import dataclasses
    import json
    import shutil
    import tempfile
    from hmbatch.evaluate import held_out, ranker_lists
    from hmbatch.metrics import map_at_k_matrix
    from hmbatch.ranker import Ranker, RankerConfig, fit, label_weeks, reusable_sets, train_ranker
    from hmbatch.candidates import attach_context
    from hmbatch.retrieve import Retriever
    from hmbatch.serving import Serving
    from hmbatch.workspace import Workspace
    r = Retriever.open(Workspace(Path(ws)))
    info = r.manifest.get("ranker")
    if not info:
        raise SystemExit(f"model {r.run_dir.name} has no ranker to compare")
    evaluation = json.loads((r.run_dir / "evaluation.json").read_text())
    own = RankerConfig(**info["config"])
    with_tt = {own.seed: evaluation["results"]["ranker"]["map@12"]}
    original = r.run_dir
    tmp = Path(tempfile.mkdtemp(prefix="ranker-ablation-", dir=Path(ws).parent))
    try:
        copy = tmp / r.run_dir.name
        shutil.copytree(r.run_dir, copy)
        r.run_dir = copy
        config = dataclasses.replace(own, two_tower=False)
        started = time.perf_counter()
        trained = train_ranker(copy, r.con, r.cutoff, r.manifest, config,
                               log=lambda *a: print(*a, flush=True))
        train_s = time.perf_counter() - started
        attach_context(r.con, copy / "context")  # training left its last label week's context
        truth = held_out(r)

        def score(run_dir: Path, booster=None) -> float:
            r.run_dir = run_dir
            serving = Serving(r)
            if booster is not None:
                serving._ranker = Ranker(run_dir)
                serving._ranker.booster = booster
            return float(map_at_k_matrix(ranker_lists(serving, truth.customers)[0], truth).mean())

        started = time.perf_counter()
        without = {own.seed: score(copy)}
        score_s = time.perf_counter() - started

        weeks = label_weeks(r.cutoff, own.weeks)

        def refit(run_dir: Path, cfg: RankerConfig, seed: int):
            sets = reusable_sets(run_dir, cfg, weeks)  # the ones the warm start reads
            if not all(w in sets for w in weeks):
                raise SystemExit(f"{run_dir.name}: the ranker's label-week sets are not all saved")
            return fit([sets[w] for w in weeks], sets["features"], dataclasses.replace(cfg, seed=seed),
                       log=lambda *a: None)[0]

        for seed in (int(s) for s in seeds.split(",")):
            if seed == own.seed:
                continue
            with_tt[seed] = score(original, refit(original, own, seed))
            without[seed] = score(copy, refit(copy, config, seed))
    finally:
        r.run_dir = original
        shutil.rmtree(tmp, ignore_errors=True)
    order = sorted(with_tt)
    mean_with = float(np.mean([with_tt[s] for s in order]))
    mean_without = float(np.mean([without[s] for s in order]))
    per_seed = [{"seed": s, "with": with_tt[s], "without": without[s],
                 "gain": with_tt[s] / max(without[s], 1e-12) - 1} for s in order]
    return {"map@12_without_two_tower": mean_without, "map@12_with_two_tower": mean_with,
            "gain": mean_with / max(mean_without, 1e-12) - 1, "seeds": per_seed,
            "buyers": len(truth.customers),
            "train_seconds": round(train_s, 2), "score_seconds": round(score_s, 2),
            "best_round": trained["figures"].get("best_round"),
            "top_features": dict(list(trained["feature_importance"].items())[:10])}


def oracle(scale: str, seed: str = "0", out_dir: str | None = None) -> dict:
    """benchmarks/oracle.py: the world of (scale, seed) generated again, scored by the oracle that
    knows every customer's hidden taste and by the popularity baselines (folder deleted after)."""
    import importlib
    found = importlib.import_module("oracle")
    if out_dir:
        import shutil
        shutil.rmtree(out_dir, ignore_errors=True)
    return found.measure(scale, int(seed), Path(out_dir) if out_dir else None)
