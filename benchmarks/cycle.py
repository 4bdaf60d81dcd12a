"""`make bench-cycle SCALE=...`: the weekly cycle, warm against cold.

One synthetic world is delivered week by week: the files as they were `--weeks` weeks before the
end, then one more week each time, up to the whole. Each delivery goes through `hmbatch run` twice:
in one workspace that keeps its runs from one week to the next (every run continues the one
before: warm), and in a fresh workspace (`--cold-start`). Each final submission is scored with
`evaluate --submission` on the week after its delivery (the synthetic true next week for the
last one). Wall time and peak RSS of every `hmbatch run` (measure.py). Writes
benchmarks/results/cycle-<scale>.json and regenerates BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import RESULTS, ROOT, machine, measure  # noqa: E402


def deliveries(data: Path, work: Path, weeks: int) -> list[tuple[Path, Path]]:
    """(files as of week k before the end, the true purchases of the week after) for k = weeks..0.
    The transactions are streamed (two passes), not held in memory: at full scale they would take
    12 GB of this process, beside the runs it measures."""
    source = data / "transactions_train.csv"
    with open(source) as handle:
        header = handle.readline()
        last = dt.date.fromisoformat(max(line[:10] for line in handle))
    ends, out, files, truths = {}, [], {}, {}
    for k in range(weeks, -1, -1):
        end = (last - dt.timedelta(days=7 * k)).isoformat()
        nxt = (last - dt.timedelta(days=7 * (k - 1))).isoformat()
        folder = work / f"delivery-{k}"
        folder.mkdir(parents=True)
        for name in ("articles.csv", "customers.csv", "sample_submission.csv"):
            shutil.copy(data / name, folder / name)
        files[k] = open(folder / "transactions_train.csv", "w")
        files[k].write(header)
        truth = data / "heldout_transactions.csv" if k == 0 else folder / "truth.csv"
        if k:
            truths[k] = open(truth, "w")
            truths[k].write(header)
        ends[k] = (end, nxt)
        out.append((folder, truth))
    with open(source) as handle:
        handle.readline()
        for line in handle:
            day = line[:10]
            for k, (end, nxt) in ends.items():
                if day <= end:
                    files[k].write(line)
                elif k and day <= nxt:
                    truths[k].write(line)
    for handle in (*files.values(), *truths.values()):
        handle.close()
    return out


def one_run(work: Path, name: str, folder: Path, truth: Path, ws: Path, *flags: str) -> dict:
    sub = work / f"{name}.csv"
    figures = measure(work, name, "hmbatch", "run", str(folder), "--workspace", str(ws), "--out", str(sub), *flags)
    score = measure(work, f"{name}-score", "compare:score_submission", str(sub), str(truth))["result"]
    return {"wall_s": figures["wall_s"], "max_rss_mb": figures["max_rss_mb"], "map@12": score["map@12"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="small", choices=("tiny", "small", "medium", "full"))
    parser.add_argument("--collections", type=float, default=0.0, help="synth --collections strength")
    parser.add_argument("--weeks", type=int, default=None,
                        help="weekly refreshes after the first delivery (default 4 at tiny and small, 1 above)")
    parser.add_argument("--warm-only", action="store_true",
                        help="the warm chain only (the first delivery from nothing, then each weekly refresh), "
                        "no cold run beside each: the end-to-end and refresh times at full scale in half the time")
    parser.add_argument("--data", type=Path, default=None,
                        help="a synth folder to deliver (its heldout_transactions.csv included) instead of a new one")
    args = parser.parse_args()
    args.weeks = args.weeks if args.weeks is not None else (4 if args.scale in ("tiny", "small") else 1)
    started = time.perf_counter()
    work = ROOT / "bench-work" / f"cycle-{args.scale}-c{args.collections:g}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    data = args.data or work / "data"
    if args.data is None:
        measure(work, "synth", "hmbatch", "synth", str(data), "--scale", args.scale, "--seed", "0",
                "--collections", str(args.collections))
    weeks = []
    for i, (folder, truth) in enumerate(deliveries(data, work, args.weeks)):
        warm = one_run(work, f"warm-{i}", folder, truth, work / "ws-warm")
        cold = None
        if not args.warm_only:
            cold = one_run(work, f"cold-{i}", folder, truth, work / f"ws-cold-{i}", "--cold-start")
            shutil.rmtree(work / f"ws-cold-{i}", ignore_errors=True)
        weeks.append({"delivery": folder.name, "warm": warm, "cold": cold})
        print(f"[bench] {folder.name}: warm {warm['map@12']:.5f} in {warm['wall_s']:.0f} s"
              + (f", cold {cold['map@12']:.5f} in {cold['wall_s']:.0f} s" if cold else ""), flush=True)
    res = {"scale": args.scale, "collections": args.collections, "machine": machine(),
           "date": time.strftime("%Y-%m-%d %H:%M"), "weeks": weeks, "total_s": round(time.perf_counter() - started, 1)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"cycle-{args.scale}-c{args.collections:g}" + ("-warm" if args.warm_only else "")
    (RESULTS / f"{name}.json").write_text(json.dumps(res, indent=2))
    from render import render
    (ROOT / "BENCHMARKS.md").write_text(render(RESULTS))
    shutil.rmtree(work, ignore_errors=True)
    print(f"[bench] cycle at {args.scale} done in {res['total_s']} s; BENCHMARKS.md updated")


if __name__ == "__main__":
    main()
