"""Renders BENCHMARKS.md from benchmarks/results/<scale>.json (raw figures, no editing by hand)."""

from __future__ import annotations

import json
from pathlib import Path

ORDER = ("tiny", "small", "medium", "full")
GOALS_FULL = "build-db < 60 s and >= 3x faster than pandas; training >= 50,000 examples/s; submit < 150 s; query < 2 s; peak RSS < 8 GB per stage; whole bench < 45 min"


def _load(folder: Path) -> list[dict]:
    found = {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}
    return [found[s] for s in ORDER if s in found]


def _stage_rows(r: dict) -> list[str]:
    st, t = r["stages"], r["training"]
    best_epoch = max(e["examples_per_s"] for e in t["epochs"])
    submit_rate = r["sizes"]["customers"] / st["submit"]["wall_s"]
    notes = {
        "synth": f"{r['sizes']['transactions']:,} rows",
        "build-db": f"{r['sizes']['transactions'] / st['build-db']['wall_s']:,.0f} rows/s",
        "pandas read_csv": f"pandas time / build-db time = {st['pandas read_csv']['wall_s'] / st['build-db']['wall_s']:.1f}",
        "duckdb read_csv": (f"DuckDB's reader alone is {st['pandas read_csv']['wall_s'] / st['duckdb read_csv']['wall_s']:.1f}x "
                            "faster than pandas" if "duckdb read_csv" in st else ""),
        "train": f"{t['examples']:,} examples x {len(t['epochs'])} epochs; best epoch {best_epoch:,.0f} examples/s",
        "id-only TFRS": (f"{st['id-only TFRS']['result']['examples_per_s']:,.0f} examples/s over "
                         f"{st['id-only TFRS']['result']['examples']:,} examples (batch 1024, Keras Adam)"),
        "evaluate --tune": f"{r['evaluation']['buyers']:,} buyers",
        "submit": f"{submit_rate:,.0f} customers/s (process start and loading included)",
        "numpy top-12": (f"{st['numpy top-12']['result']['customers_per_s']:,.0f} customers/s (search only, "
                         f"{st['numpy top-12']['result']['customers']:,} customers)"),
        "query": f"median {st['query']['result']['median_s']:.2f} s per process, runs {st['query']['result']['runs_s']}",
        "train (all weeks)": "final model, --holdout-days 0",
        "submit (final)": "",
    }
    return [f"| {name} | {fig['wall_s']:.1f} | {fig['max_rss_mb'] / 1024:.2f} | {notes.get(name, '')} |"
            for name, fig in st.items()]


def _scale_section(r: dict) -> list[str]:
    m, s = r["machine"], r["sizes"]
    out = [f"## Scale `{r['scale']}` ({r['date']})", "",
           f"Machine: {m['cores']} cores, {m['memory_gb']} GB, {m['cpu']}, Python {m['python']}. Data: "
           f"{s['articles']:,} articles, {s['customers']:,} customers, {s['transactions']:,} transactions "
           f"({s['transactions_mb']} MB). Whole run: {r['total_s'] / 60:.1f} min.", "",
           "| stage | wall s | peak RSS GB | figures |", "|---|---:|---:|---|", *_stage_rows(r), ""]
    ev = r["evaluation"]
    out += [f"Held-out week after {ev['cutoff']} ({ev['buyers']:,} buyers); blend weights {ev['weights']}.", "",
            "| strategy | MAP@12 | recall@12 | coverage |", "|---|---:|---:|---:|"]
    out += [f"| {name} | {v['map@12']:.5f} | {v['recall@12']:.4f} | {v['coverage']:.4f} |"
            for name, v in ev["results"].items()]
    if "tuning" in ev:
        out += ["", f"Blend weights fitted on half the buyers score {ev['tuning']['map@12_other_half']:.5f} "
                    "MAP@12 on the other half (an out-of-sample check of the tuning)."]
    if r.get("retrieval"):
        out += ["", f"Two-tower retrieval alone: recall@12 {r['retrieval']['recall@12']:.4f}, "
                    f"recall@100 {r['retrieval']['recall@100']:.4f}."]
    if r.get("future"):
        out += ["", f"Final model (all weeks) scored on the synthetic true next week "
                    f"(heldout_transactions.csv): MAP@12 {r['future']['map@12']:.5f} over "
                    f"{r['future']['buyers']:,} buyers."]
    return out + [""]


def _growth(results: list[dict]) -> list[str]:
    stages = [s for s in results[-1]["stages"]]
    out = ["## Growth of cost with the data", "",
           "| stage | " + " | ".join(f"{r['scale']} s / GB" for r in results) + " |",
           "|---|" + "---:|" * len(results)]
    for stage in stages:
        cells = [f"{r['stages'][stage]['wall_s']:.1f} / {r['stages'][stage]['max_rss_mb'] / 1024:.2f}"
                 if stage in r["stages"] else "" for r in results]
        out.append(f"| {stage} | " + " | ".join(cells) + " |")
    out.append("| transactions | " + " | ".join(f"{r['sizes']['transactions']:,}" for r in results) + " |")
    return out + [""]


def render(folder: Path) -> str:
    results = _load(folder)
    lines = ["# BENCHMARKS", ""]
    if results:
        head = results[-1]
        st = head["stages"]
        lines += [f"build-db at scale `{head['scale']}` ({head['sizes']['transactions']:,} transactions): "
                  f"{st['build-db']['wall_s']:.1f} s, against {st['pandas read_csv']['wall_s']:.1f} s for "
                  f"`pandas.read_csv` of the same three files in the same run "
                  f"({st['pandas read_csv']['wall_s'] / st['build-db']['wall_s']:.1f}x).", ""]
    lines += ["Every figure below is written by `make bench SCALE=...` (benchmarks/run.py) from its own "
              "measured run: wall time and peak RSS of each stage in its own process. Goals at full scale: "
              f"{GOALS_FULL}.", ""]
    for r in reversed(results):
        lines += _scale_section(r)
    if len(results) > 1:
        lines += _growth(results)
    notes = Path(folder).parent / "NOTES.md"
    if notes.exists():
        lines += [notes.read_text()]
    return "\n".join(lines) + "\n"
