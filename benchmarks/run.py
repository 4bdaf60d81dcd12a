"""`make bench SCALE=...`: synth, build-db, train, evaluate, submit and query at one scale, each
in its own process with wall time and peak RSS, beside the comparisons; writes
benchmarks/results/<scale>.json and regenerates BENCHMARKS.md from every scale's results."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def measure(work: Path, name: str, target: str, *args: str) -> dict:
    """Runs `target args` in a new process through measure.py; returns its figures."""
    out = work / f"{name}.json"
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    print(f"[bench] {name}: {target} {' '.join(args)}", flush=True)
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "measure.py"), str(out), target, *args],
                          env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"[bench] {name} failed with exit code {proc.returncode}")
    figures = json.loads(out.read_text())
    print(f"[bench] {name}: {figures['wall_s']} s, peak RSS {figures['max_rss_mb']:.0f} MB", flush=True)
    return figures


def machine() -> dict:
    mem_kb = int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal")))
    return {"cores": os.cpu_count(), "memory_gb": round(mem_kb / 1024 ** 2, 1),
            "cpu": platform.processor() or platform.machine(), "python": platform.python_version()}


def run(scale: str, future: bool) -> dict:
    work = ROOT / "bench-work" / scale
    data, ws = work / "data", work / "ws"
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    res = {"scale": scale, "machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"), "stages": {}}
    st = res["stages"]
    st["synth"] = measure(work, "synth", "hmbatch", "synth", str(data), "--scale", scale, "--seed", "0")
    st["build-db"] = measure(work, "build-db", "hmbatch", "build-db", str(data), "--workspace", str(ws))
    st["pandas read_csv"] = measure(work, "pandas", "compare:pandas_read", str(data))
    st["duckdb read_csv"] = measure(work, "duckdb_read", "compare:duckdb_read", str(data))
    st["train"] = measure(work, "train", "hmbatch", "train", "--holdout-days", "7", "--workspace", str(ws))
    st["id-only TFRS"] = measure(work, "id_only", "compare:id_only_tfrs", str(ws), "1024", "12")
    st["evaluate --tune"] = measure(work, "evaluate", "hmbatch", "evaluate", "--tune", "--json",
                                    "--workspace", str(ws))
    st["submit"] = measure(work, "submit", "hmbatch", "submit", "--workspace", str(ws),
                           "--out", str(work / "submission.csv"))
    st["numpy top-12"] = measure(work, "numpy_topk", "compare:numpy_topk", str(ws))
    customer = open(data / "customers.csv").readlines()[1].split(",")[0]
    st["query"] = measure(work, "query", "compare:query_latency", str(ws), customer, "3")
    run_dir = ws / "models" / (ws / "models" / "CURRENT").read_text().strip()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    res["training"] = manifest["training"]
    res["retrieval"] = manifest.get("retrieval")
    res["evaluation"] = json.loads((run_dir / "evaluation.json").read_text())
    res["sizes"] = _sizes(data)
    if future:
        st["train (all weeks)"] = measure(work, "train_all", "hmbatch", "train", "--holdout-days", "0",
                                          "--workspace", str(ws))
        st["submit (final)"] = measure(work, "submit_final", "hmbatch", "submit", "--workspace", str(ws),
                                       "--out", str(work / "submission_final.csv"))
        res["future"] = measure(work, "score", "compare:score_submission", str(work / "submission_final.csv"),
                                str(data / "heldout_transactions.csv"))["result"]
    res["total_s"] = round(time.perf_counter() - started, 1)
    return res


def _sizes(data: Path) -> dict:
    def rows(name: str) -> int:
        with open(data / name, "rb") as handle:
            return sum(buf.count(b"\n") for buf in iter(lambda: handle.read(1 << 24), b"")) - 1
    return {n: rows(f) for n, f in (("articles", "articles.csv"), ("customers", "customers.csv"),
                                    ("transactions", "transactions_train.csv"))} | {
        "transactions_mb": round((data / "transactions_train.csv").stat().st_size / 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="medium", choices=("tiny", "small", "medium", "full"))
    parser.add_argument("--no-future", action="store_true", help="skip the retrain on all weeks")
    args = parser.parse_args()
    res = run(args.scale, future=not args.no_future)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.scale}.json").write_text(json.dumps(res, indent=2))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from render import render
    (ROOT / "BENCHMARKS.md").write_text(render(RESULTS))
    print(f"[bench] {args.scale} done in {res['total_s']} s; BENCHMARKS.md updated")


if __name__ == "__main__":
    main()
