"""Oracle and baseline MAP@12 of a synthetic world:
`python benchmarks/oracle.py SCALE SEED [OUT_DIR] [--realism] [--keep]`.

Generates the world (into OUT_DIR, default a folder under /tmp), scores the held-out week with
the oracle that knows every customer's hidden taste (``hmbatch.synth.oracle.oracle_map12``)
and with the two popularity baselines (``hmbatch.synth.eval.baseline_map12``), and prints one
JSON object. ``--realism`` adds the realism figures compared with the real aggregates (TVDs by
category, online share, repeats, basket size, top-200 share); ``--keep`` keeps the folder.
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from hmbatch import synth
from hmbatch.synth.eval import baseline_map12
from hmbatch.synth.oracle import oracle_map12

REF = Path(__file__).resolve().parent.parent / "tests" / "data" / "hm-reference"


def _ref_shares(name: str, key: str) -> dict[str, float]:
    """Real shares from one reference metrics file."""
    import csv
    with open(REF / name, newline="", encoding="utf-8") as handle:
        return {r[key]: float(r["share"]) for r in csv.DictReader(handle)}


def _tvd(a: dict[str, float], b: dict[str, float]) -> float:
    """Total variation distance of two share dicts."""
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))


def realism_summary(out_dir: Path) -> dict:
    """The realism figures the generator is tuned against, as one flat dict."""
    from hmbatch.synth.calibrate.realism import realism
    fig = realism(out_dir)
    pairs = {"product_group": ("transaction_product_group_metrics.csv", "product_group_name"),
             "index_group": ("transaction_index_group_metrics.csv", "index_group_name"),
             "colour": ("transaction_color_metrics.csv", "colour_group_name"),
             "age_bucket": ("age_bucket_metrics.csv", "age_bucket")}
    out = {f"tvd_{k}": round(_tvd(fig[k], _ref_shares(*v)), 4) for k, v in pairs.items()}
    for key in ("online_share", "repeated_rows", "basket_mean", "basket_median", "top200_share",
                "rebuy_week", "other_colour_week", "articles_for_80pct", "fresh_share"):
        out[key] = round(fig[key], 4)
    return out


def measure(scale: str, seed: int, out_dir: Path | None = None, with_realism: bool = False,
            keep: bool = False) -> dict:
    """Generate one world and return its oracle and baseline MAP@12 (and realism figures)."""
    folder = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix=f"hm-{scale}-{seed}-"))
    found: dict = {}

    def score(world) -> None:
        started = time.perf_counter()
        found["oracle"] = oracle_map12(world)
        found["oracle_seconds"] = round(time.perf_counter() - started, 1)

    summary = synth.generate(folder, scale, seed=int(seed), inspect=score)
    base = baseline_map12(folder)
    result = {"scale": scale, "seed": int(seed), "rows": summary["transactions"],
              "generate_seconds": round(summary["seconds"] - found["oracle_seconds"], 1),
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
              "oracle": round(found["oracle"], 4), "bestsellers": round(base["bestsellers"], 4),
              "repurchase": round(base["repurchase"], 4), "taste": round(base["taste"], 4),
              "oracle_ratio": round(found["oracle"] / max(base["bestsellers"], 1e-12), 2),
              "heldout_buyers": base["customers"]}
    if with_realism:
        result.update(realism_summary(folder))
    if keep:
        result["folder"] = str(folder)
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def main(argv: list[str]) -> int:
    flags = {a for a in argv if a.startswith("--")}
    args = [a for a in argv if not a.startswith("--")]
    if len(args) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(args[2]) if len(args) == 3 else None
    print(json.dumps(measure(args[0], int(args[1]), out, "--realism" in flags, "--keep" in flags)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
