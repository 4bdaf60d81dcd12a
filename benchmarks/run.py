"""`make bench SCALE=...`: synth, build-db, train (two-tower and ranker), evaluate, the ranker
without its two-tower, submit and query at one scale, each in its own process with wall time and
peak RSS, beside the comparisons; at tiny, small and medium scale also the synthetic world's oracle
and a second world (seed 1) trained and evaluated the same way. Writes
benchmarks/results/<scale>.json and regenerates BENCHMARKS.md from every scale's results."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
# the oracle regenerates the world and the second seed builds a second one: not at full scale
EXTRA_SCALES = ("tiny", "small", "medium")
# comparisons that run last and only while the bench stays under --budget-min (full scale)
OPTIONAL = {"id-only TFRS": ("id_only", "compare:id_only_tfrs", "1024", "12"),
            "numpy top-12": ("numpy_topk", "compare:numpy_topk")}
OPTIONAL_DEFAULT_S = {"id-only TFRS": 200.0, "numpy top-12": 150.0}
RANKER_TOP_FEATURES = 15


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


def _current(ws: Path) -> Path:
    return ws / "models" / (ws / "models" / "CURRENT").read_text().strip()


def ranker_summary(info: dict | None) -> dict | None:
    """The run manifest's "ranker" without its bulky parts (feature list, per-source recall)."""
    if not info:
        return None
    top = dict(list((info.get("feature_importance") or {}).items())[:RANKER_TOP_FEATURES])
    return {"config": info.get("config"), "figures": info.get("figures"), "label_weeks": info.get("label_weeks"),
            "two_tower_cutoff": info.get("two_tower_cutoff"), "feature_importance": top,
            "n_features": len(info.get("features") or [])}


def second_seed(scale: str, st: dict) -> dict:
    """A second world (seed 1) in its own workspace: synth, build-db, train, evaluate --tune, as
    for seed 0; returns its evaluation's MAP@12 of the ranker, the blend and both baselines."""
    work = ROOT / "bench-work" / f"{scale}-seed1"
    shutil.rmtree(work, ignore_errors=True)
    data, ws = work / "data", work / "ws"
    work.mkdir(parents=True)
    st["seed 1: synth"] = measure(work, "synth", "hmbatch", "synth", str(data), "--scale", scale, "--seed", "1")
    st["seed 1: build-db"] = measure(work, "build-db", "hmbatch", "build-db", str(data), "--workspace", str(ws))
    st["seed 1: train"] = measure(work, "train", "hmbatch", "train", "--holdout-days", "7", "--workspace", str(ws))
    st["seed 1: evaluate --tune"] = measure(work, "evaluate", "hmbatch", "evaluate", "--tune", "--json",
                                            "--workspace", str(ws))
    ev = json.loads((_current(ws) / "evaluation.json").read_text())
    keep = ("ranker", "blend", "baseline: last week's best sellers", "baseline: recent purchases + best sellers")
    return {"seed": 1, "cutoff": ev["cutoff"], "buyers": ev["buyers"],
            "results": {k: {"map@12": ev["results"][k]["map@12"], "recall@12": ev["results"][k]["recall@12"]}
                        for k in keep if k in ev["results"]}}


def run(scale: str, future: bool, budget_s: float, previous: dict | None) -> dict:
    work = ROOT / "bench-work" / scale
    data, ws = work / "data", work / "ws"
    shutil.rmtree(work, ignore_errors=True)  # an earlier run's workspace would make `train` continue it
    work.mkdir(parents=True)
    started = time.perf_counter()
    res = {"scale": scale, "machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"), "stages": {},
           "budget_s": budget_s}
    st = res["stages"]
    st["synth"] = measure(work, "synth", "hmbatch", "synth", str(data), "--scale", scale, "--seed", "0")
    st["build-db"] = measure(work, "build-db", "hmbatch", "build-db", str(data), "--workspace", str(ws))
    st["pandas read_csv"] = measure(work, "pandas", "compare:pandas_read", str(data))
    st["duckdb read_csv"] = measure(work, "duckdb_read", "compare:duckdb_read", str(data))
    st["train"] = measure(work, "train", "hmbatch", "train", "--holdout-days", "7", "--workspace", str(ws))
    manifest = json.loads((_current(ws) / "manifest.json").read_text())
    res["training"] = manifest["training"]
    res["retrieval"] = manifest.get("retrieval")
    res["ranker"] = ranker_summary(manifest.get("ranker"))
    st["evaluate --tune"] = measure(work, "evaluate", "hmbatch", "evaluate", "--tune", "--json",
                                    "--workspace", str(ws))
    res["evaluation"] = json.loads((_current(ws) / "evaluation.json").read_text())
    if res["ranker"]:
        st["ranker without two-tower"] = measure(work, "ranker_ablation", "compare:ranker_ablation", str(ws))
        res["ablation"] = st["ranker without two-tower"]["result"]
    st["submit"] = measure(work, "submit", "hmbatch", "submit", "--workspace", str(ws),
                           "--out", str(work / "submission.csv"))
    customer = open(data / "customers.csv").readlines()[1].split(",")[0]
    st["query"] = measure(work, "query", "compare:query_latency", str(ws), customer, "3")
    res["sizes"] = _sizes(data)
    if scale in EXTRA_SCALES:
        st["oracle"] = measure(work, "oracle", "compare:oracle", scale, "0", str(work / "oracle-world"))
        res["oracle"] = st["oracle"]["result"]
        res["second_seed"] = second_seed(scale, st)
    if future:
        st["train (all weeks)"] = measure(work, "train_all", "hmbatch", "train", "--holdout-days", "0",
                                          "--workspace", str(ws))
        st["submit (final)"] = measure(work, "submit_final", "hmbatch", "submit", "--workspace", str(ws),
                                       "--out", str(work / "submission_final.csv"))
        res["future"] = measure(work, "score", "compare:score_submission", str(work / "submission_final.csv"),
                                str(data / "heldout_transactions.csv"))["result"]
    # the comparisons last, each only if the bench stays under the budget (its time in the last run
    # of this scale, else a default, as the estimate)
    res["skipped"] = {}
    for name, (file, target, *args) in OPTIONAL.items():
        estimate = ((previous or {}).get("stages", {}).get(name, {}).get("wall_s")
                    or OPTIONAL_DEFAULT_S[name] * (1 if scale == "full" else 0.1))
        elapsed = time.perf_counter() - started
        if elapsed + estimate > budget_s:
            res["skipped"][name] = (f"skipped: {elapsed / 60:.1f} min elapsed + about {estimate / 60:.1f} min "
                                    f"would pass the {budget_s / 60:.0f} min budget")
            print(f"[bench] {name}: {res['skipped'][name]}", flush=True)
            continue
        st[name] = measure(work, file, target, str(ws), *args)
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
    parser.add_argument("--budget-min", type=float, default=55.0,
                        help="the optional comparisons (id-only TFRS, numpy top-12) run last, and only "
                             "while the whole bench stays under this many minutes (default 55)")
    args = parser.parse_args()
    path = RESULTS / f"{args.scale}.json"
    previous = json.loads(path.read_text()) if path.exists() else None
    res = run(args.scale, future=not args.no_future, budget_s=args.budget_min * 60, previous=previous)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=2))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from render import render
    (ROOT / "BENCHMARKS.md").write_text(render(RESULTS))
    print(f"[bench] {args.scale} done in {res['total_s']} s; BENCHMARKS.md updated")


if __name__ == "__main__":
    main()
