"""`make bench-worlds SCALE=...`: the two kinds of synthetic world side by side.

For each collection strength (`synth --collections S`: 0 = today's world, where taste follows the
categories; 1 = the documented default; 2 = twice it) and each seed: synth, build-db,
`train --holdout-days 7`, `evaluate --tune` (every strategy, both simple baselines and implicit's
ALS with a popularity prior), and the ranker retrained without the two-tower (neither its sources
nor its features) on the same run: the two-tower's part. Each stage in its own process with wall
time and peak RSS (measure.py). Writes benchmarks/results/worlds-<scale>.json and regenerates
BENCHMARKS.md. No strength is "the" right one: the three are reported, none is picked.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import RESULTS, ROOT, _current, machine, measure  # noqa: E402

KEEP = ("ranker", "blend", "two-tower", "repurchase", "popular", "baseline: last week's best sellers",
        "baseline: recent purchases + best sellers", "baseline: implicit ALS + popularity")
DEFAULT_WORLDS = {"small": ("0:0,1", "1:0,1,2", "2:0,1"), "medium": ("0:0", "1:0,1"),
                  "full": ("1:0",), "tiny": ("0:0", "1:0")}


def one_world(scale: str, strength: float, seed: int, train_args: tuple[str, ...] = (),
              ranker_seeds: str = "0") -> dict:
    """synth, build-db, train, evaluate --tune and the ablation of one world; its figures."""
    work = ROOT / "bench-work" / f"worlds-{scale}-c{strength:g}-s{seed}"
    shutil.rmtree(work, ignore_errors=True)
    data, ws = work / "data", work / "ws"
    work.mkdir(parents=True)
    st = {"synth": measure(work, "synth", "hmbatch", "synth", str(data), "--scale", scale, "--seed", str(seed),
                           "--collections", str(strength))}
    st["build-db"] = measure(work, "build-db", "hmbatch", "build-db", str(data), "--workspace", str(ws))
    st["train"] = measure(work, "train", "hmbatch", "train", "--holdout-days", "7", "--workspace", str(ws),
                          *train_args)
    st["evaluate --tune"] = measure(work, "evaluate", "hmbatch", "evaluate", "--tune", "--json",
                                    "--workspace", str(ws))
    st["ranker without two-tower"] = measure(work, "ablation", "compare:ranker_ablation", str(ws),
                                                  ranker_seeds)
    run = _current(ws)
    ev = json.loads((run / "evaluation.json").read_text())
    manifest = json.loads((run / "manifest.json").read_text())
    shutil.rmtree(work, ignore_errors=True)
    return {"strength": strength, "seed": seed, "buyers": ev["buyers"],
            "map@12": {k: ev["results"][k]["map@12"] for k in KEEP if k in ev["results"]},
            "ablation": st["ranker without two-tower"]["result"],
            "ranker_seconds": (manifest.get("ranker") or {}).get("figures", {}).get("seconds"),
            "two_tower_seconds": manifest["training"].get("seconds"),
            "stages": {k: {"wall_s": v["wall_s"], "max_rss_mb": v["max_rss_mb"]} for k, v in st.items()}}


def parse_worlds(specs: list[str]) -> list[tuple[float, int]]:
    """"S:seed,seed" items -> [(strength, seed), ...]."""
    out = []
    for spec in specs:
        strength, seeds = spec.split(":")
        out += [(float(strength), int(seed)) for seed in seeds.split(",")]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="small", choices=("tiny", "small", "medium", "full"))
    parser.add_argument("--worlds", nargs="*", help="STRENGTH:SEED[,SEED...] items (default by scale: "
                        + "; ".join(f"{k} {' '.join(v)}" for k, v in DEFAULT_WORLDS.items()) + ")")
    parser.add_argument("--train-args", default="", help="more options for every `hmbatch train`, with "
                        "an equals sign: --train-args=--no-customer-id (see --name)")
    parser.add_argument("--ranker-seeds", default="0,1,2", help="LightGBM seeds of the two-tower's part: "
                        "each world's part is the ratio of the rankers' mean MAP@12 over them")
    parser.add_argument("--name", default="", help="suffix of the results file (keeps the default run's)")
    args = parser.parse_args()
    started = time.perf_counter()
    worlds = [one_world(args.scale, s, seed, tuple(args.train_args.split()), args.ranker_seeds)
              for s, seed in parse_worlds(args.worlds or DEFAULT_WORLDS[args.scale])]
    res = {"scale": args.scale, "machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"),
           "worlds": worlds, "total_s": round(time.perf_counter() - started, 1), "train_args": args.train_args,
           "ranker_seeds": args.ranker_seeds}
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"worlds-{args.scale}-{args.name}" if args.name else f"worlds-{args.scale}"
    (RESULTS / f"{name}.json").write_text(json.dumps(res, indent=2))
    from render import render
    (ROOT / "BENCHMARKS.md").write_text(render(RESULTS))
    print(f"[bench] worlds at {args.scale} done in {res['total_s']} s; BENCHMARKS.md updated")


if __name__ == "__main__":
    main()
