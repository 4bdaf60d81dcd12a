"""Renders BENCHMARKS.md from benchmarks/results/<scale>.json (raw figures, no editing by hand):
`python benchmarks/render.py` renders again from the results already there.

A results file written before a figure existed (the ranker, its candidate recall, the ablation,
the oracle, the second seed) renders with what it has."""

from __future__ import annotations

import json
from pathlib import Path

ORDER = ("tiny", "small", "medium", "full")
RECENT = "baseline: recent purchases + best sellers"
BEST = "baseline: last week's best sellers"
GOALS_FULL = ("ranker training (its two-tower, candidates, features, fit) under 10 min; `submit` of the "
              "1.37M customers with the ranker under 4.5 min (>= 5,000 customers/s, process start "
              "included); peak RSS < 8 GB every stage; whole `make bench SCALE=full` under 60 min. "
              "Quality: the ranker >= +30% MAP@12 over \"recent purchases + best sellers\" at small, "
              ">= +25% at medium and full, and >= +10% over the tuned blend, on the world tuned on "
              "(seed 0) and on a second one (seed 1, small and medium). Earlier goals, still measured "
              "below: build-db < 60 s, query < 2 s")
# quality floors by scale: ranker over recent+best sellers, ranker over the blend
FLOOR_RECENT = {"small": 0.30, "medium": 0.25, "full": 0.25}
FLOOR_BLEND = {"small": 0.10, "medium": 0.10, "full": 0.10}
RANKER_LIMIT_S, SUBMIT_LIMIT_S, SUBMIT_RATE, RSS_LIMIT_MB, BENCH_LIMIT_S = 600, 270, 5000, 8 * 1024, 3600
RECALL_AT = (10, 20, 50, 100)


def _load(folder: Path) -> list[dict]:
    found = {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}
    return [found[s] for s in ORDER if s in found]


def _pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def _map(ev: dict, name: str) -> float | None:
    v = (ev.get("results") or {}).get(name)
    return v["map@12"] if v else None


def _gain(a: float | None, b: float | None) -> float | None:
    return a / b - 1 if a is not None and b else None


def _ranker_info(r: dict) -> dict | None:
    """The ranker's manifest summary (run.py), else the evaluation's copy of its figures."""
    if r.get("ranker"):
        return r["ranker"]
    ev = r.get("evaluation", {}).get("ranker")
    return {"figures": ev["figures"], "feature_importance": ev.get("top_features", {})} if ev else None


def _stage_notes(r: dict) -> dict:
    """name -> function giving the figures column of that stage (called only for stages present)."""
    st, t, s = r["stages"], r["training"], r["sizes"]
    ev = r["evaluation"]
    res = lambda name: st[name]["result"]  # noqa: E731
    ranked = "ranker" in ev.get("results", {})
    rk = _ranker_info(r)

    def train() -> str:
        best_epoch = max(e["examples_per_s"] for e in t["epochs"])
        text = f"{t['examples']:,} examples x {len(t['epochs'])} epochs; best epoch {best_epoch:,.0f} examples/s"
        if rk and rk.get("figures", {}).get("seconds") is not None:
            text += f"; the ranker {rk['figures']['seconds']:.1f} s of it"
        return text

    def ablation() -> str:
        a = res("ranker without two-tower")
        return (f"MAP@12 {a['map@12_without_two_tower']:.5f} without, {a['map@12_with_two_tower']:.5f} with "
                f"({_pct(a['gain'])}); ranker trained in {a['train_seconds']:.1f} s")

    def seed1_eval() -> str:
        ss = r.get("second_seed") or {}
        return f"{ss['buyers']:,} buyers" if ss.get("buyers") else ""

    return {
        "synth": lambda: f"{s['transactions']:,} rows",
        "build-db": lambda: f"{s['transactions'] / st['build-db']['wall_s']:,.0f} rows/s",
        "pandas read_csv": lambda: f"pandas time / build-db time = "
                                   f"{st['pandas read_csv']['wall_s'] / st['build-db']['wall_s']:.1f}",
        "duckdb read_csv": lambda: (f"DuckDB's reader alone is "
                                    f"{st['pandas read_csv']['wall_s'] / st['duckdb read_csv']['wall_s']:.1f}x "
                                    "faster than pandas"),
        "train": train,
        "id-only TFRS": lambda: (f"{res('id-only TFRS')['examples_per_s']:,.0f} examples/s over "
                                 f"{res('id-only TFRS')['examples']:,} examples (batch 1024, Keras Adam)"),
        "evaluate --tune": lambda: f"{ev['buyers']:,} buyers",
        "ranker without two-tower": ablation,
        "submit": lambda: (f"{s['customers'] / st['submit']['wall_s']:,.0f} customers/s "
                           f"{'with the ranker ' if ranked else ''}(process start and loading included)"),
        "numpy top-12": lambda: (f"{res('numpy top-12')['customers_per_s']:,.0f} customers/s (search only, "
                                 f"{res('numpy top-12')['customers']:,} customers)"),
        "query": lambda: (f"median {res('query')['median_s']:.2f} s per process, "
                          f"runs {res('query')['runs_s']}"),
        "oracle": lambda: (f"world of seed 0 generated again ({res('oracle')['rows']:,} rows, "
                           f"{res('oracle')['generate_seconds']:.1f} s of it), then scored by the oracle"),
        "seed 1: evaluate --tune": seed1_eval,
        "train (all weeks)": lambda: "final model, --holdout-days 0",
    }


def _stage_rows(r: dict) -> list[str]:
    notes = _stage_notes(r)
    rows = []
    for name, fig in r["stages"].items():
        try:
            note = notes[name]() if name in notes else ""
        except (KeyError, TypeError, ZeroDivisionError):
            note = ""
        rows.append(f"| {name} | {fig['wall_s']:.1f} | {fig['max_rss_mb'] / 1024:.2f} | {note} |")
    for name, why in (r.get("skipped") or {}).items():
        rows.append(f"| {name} | | | {why} |")
    return rows


def _strategy_lines(ev: dict) -> list[str]:
    out = ["| strategy | MAP@12 | recall@12 | coverage |", "|---|---:|---:|---:|"]
    out += [f"| {name} | {v['map@12']:.5f} | {v['recall@12']:.4f} | {v['coverage']:.4f} |"
            for name, v in ev["results"].items()]
    ranker, recent, blend = _map(ev, "ranker"), _map(ev, RECENT), _map(ev, "blend")
    if ranker is not None and recent:
        out += ["", f"Ranker against \"recent purchases + best sellers\": {ranker:.5f} / {recent:.5f} = "
                    f"{ranker / recent:.2f}x ({_pct(ranker / recent - 1)})"
                + (f"; against the tuned blend ({blend:.5f}): {_pct(ranker / blend - 1)}." if blend else ".")]
    return out


def _recall_lines(ev: dict) -> list[str]:
    cr = ev.get("candidate_recall")
    if not cr:
        return []
    ns = list(cr["n"])
    n_cand = cr.get("n_candidates")
    wanted = sorted({n for n in (*RECALL_AT, n_cand) if n in ns})
    head = [f"@{n}" + (" (candidates kept)" if n == n_cand else "") for n in wanted]
    out = ["", f"Candidate recall on the held-out week: the share of the {cr['purchases']:,} true "
               "(buyer, article) purchases found in each source's top N, and in the top N of the "
               f"collected union that the ranker reorders ({n_cand} candidates per customer).", "",
           "| source | " + " | ".join(head) + " |", "|---|" + "---:|" * len(wanted)]
    for source, values in cr["sources"].items():
        label = f"**{source}**" if source == "union" else source
        out.append(f"| {label} | " + " | ".join(f"{values[ns.index(n)]:.3f}" for n in wanted) + " |")
    return out


def _ranker_lines(r: dict) -> list[str]:
    rk = _ranker_info(r)
    if not rk:
        return []
    f = rk.get("figures") or {}
    weeks = rk.get("label_weeks") or []
    parts = []
    if weeks:
        parts.append(f"{len(weeks)} label weeks (the weeks after {', '.join(weeks)})")
    if rk.get("two_tower_cutoff"):
        parts.append(f"scored by a two-tower trained up to {rk['two_tower_cutoff']}")
    elif rk.get("config") and not rk["config"].get("two_tower", True):
        parts.append("without the two-tower")
    if "groups" in f:
        parts.append(f"{f['groups']:,} customer-weeks (groups), {f['rows']:,} rows")
    if "best_round" in f:
        parts.append(f"best round {f['best_round']}")
    secs = [f"{label} {f[key]:.1f} s" for key, label in (("feature_seconds", "candidates and features"),
                                                         ("fit_seconds", "fit"), ("seconds", "total"))
            if f.get(key) is not None]
    if secs:
        parts.append(", ".join(secs))
    n = f" ({rk['n_features']} features)" if rk.get("n_features") else ""
    out = ["", f"Ranker training{n}: " + "; ".join(parts) + "."]
    top = list((rk.get("feature_importance") or {}).items())[:10]
    if top:
        out += ["", "Top 10 features (share of the total gain): "
                + ", ".join(f"{name} {share * 100:.1f}%" for name, share in top) + "."]
    return out


def _ablation_lines(r: dict) -> list[str]:
    a = r.get("ablation")
    if not a:
        return []
    return ["", f"Ranker without the two-tower (neither a candidate source nor features; trained again "
                f"on the same weeks in {a['train_seconds']:.1f} s): MAP@12 {a['map@12_without_two_tower']:.5f}, "
                f"against {a['map@12_with_two_tower']:.5f} with it: the two-tower adds {_pct(a['gain'])}."]


def _oracle_lines(r: dict) -> list[str]:
    o = r.get("oracle")
    if not o:
        return []
    fut = (r.get("future") or {}).get("map@12")
    reach = (f"; the final model's submission ({'the ranker' if 'ranker' in r['evaluation']['results'] else 'blend'}"
             f", scored on the same week) {fut:.4f}, {fut / o['oracle'] * 100:.0f}% of the oracle"
             if fut is not None and o["oracle"] else "")
    return ["", f"Oracle (benchmarks/oracle.py: knows every customer's hidden taste), on the week after the "
                f"data (heldout_transactions.csv, {o['heldout_buyers']:,} buyers): MAP@12 {o['oracle']:.4f}; "
                f"last week's best sellers {o['bestsellers']:.4f} (oracle / best sellers = "
                f"{o['oracle_ratio']:.2f}){reach}."]


def _second_seed_lines(r: dict) -> list[str]:
    ss = r.get("second_seed")
    if not ss:
        return []
    ev = r["evaluation"]
    out = ["", f"Second world (seed {ss['seed']}, not tuned on; same commands, `evaluate --tune`; "
               f"{ss['buyers']:,} buyers after {ss['cutoff']}):", "",
           "| strategy | MAP@12 seed 0 | MAP@12 seed 1 |", "|---|---:|---:|"]
    for name, v in ss["results"].items():
        seed0 = _map(ev, name)
        out.append(f"| {name} | {'' if seed0 is None else f'{seed0:.5f}'} | {v['map@12']:.5f} |")
    one = {k: v["map@12"] for k, v in ss["results"].items()}
    g_recent, g_blend = _gain(one.get("ranker"), one.get(RECENT)), _gain(one.get("ranker"), one.get("blend"))
    if g_recent is not None:
        out += ["", f"Seed 1: ranker {_pct(g_recent)} over \"recent purchases + best sellers\""
                + (f", {_pct(g_blend)} over the blend." if g_blend is not None else ".")]
    return out


def _scale_section(r: dict) -> list[str]:
    m, s = r["machine"], r["sizes"]
    out = [f"## Scale `{r['scale']}` ({r['date']})", "",
           f"Machine: {m['cores']} cores, {m['memory_gb']} GB, {m['cpu']}, Python {m['python']}. Data: "
           f"{s['articles']:,} articles, {s['customers']:,} customers, {s['transactions']:,} transactions "
           f"({s['transactions_mb']} MB). Whole run: {r['total_s'] / 60:.1f} min.", "",
           "| stage | wall s | peak RSS GB | figures |", "|---|---:|---:|---|", *_stage_rows(r), ""]
    ev = r["evaluation"]
    out += [f"Held-out week after {ev['cutoff']} ({ev['buyers']:,} buyers); blend weights {ev['weights']}.", ""]
    out += _strategy_lines(ev)
    if "tuning" in ev:
        out += ["", f"The blend and two-tower figures are out of sample: each half of the buyers is ranked "
                    f"with beta and weights fitted on the other half (blend {ev['tuning']['map@12_other_half']:.5f}; "
                    f"{ev['tuning']['map@12_fitted']:.5f} on the buyers the kept weights were fitted on)."]
    if r.get("retrieval"):
        out += ["", f"Two-tower retrieval alone: recall@12 {r['retrieval']['recall@12']:.4f}, "
                    f"recall@100 {r['retrieval']['recall@100']:.4f}."]
    out += _recall_lines(ev)
    out += _ranker_lines(r)
    out += _ablation_lines(r)
    out += _oracle_lines(r)
    out += _second_seed_lines(r)
    if r.get("future"):
        out += ["", f"Final model (all weeks) scored on the synthetic true next week "
                    f"(heldout_transactions.csv): MAP@12 {r['future']['map@12']:.5f} over "
                    f"{r['future']['buyers']:,} buyers."]
    return out + [""]


def _verdict(value: str, ok: bool | None) -> str:
    return value if ok is None else f"{value}: {'met' if ok else '**not met**'}"


def _goal_cells(r: dict) -> dict[str, str]:
    """The goal figures of one scale's results, each with met / not met where the goal applies."""
    scale, st, ev = r["scale"], r["stages"], r["evaluation"]
    ranked = "ranker" in ev.get("results", {})
    full = scale == "full"
    before = "(run before the ranker)"
    cells = {}
    rk = _ranker_info(r)
    secs = (rk or {}).get("figures", {}).get("seconds")
    cells["ranker training < 10 min (full)"] = (
        _verdict(f"{secs / 60:.1f} min", secs < RANKER_LIMIT_S if full else None) if secs is not None else before)
    if "submit" in st:
        wall = st["submit"]["wall_s"]
        rate = r["sizes"]["customers"] / wall
        text = f"{wall:.0f} s, {rate:,.0f}/s"
        cells["submit < 4.5 min, >= 5,000 customers/s (full)"] = (
            _verdict(text, wall < SUBMIT_LIMIT_S and rate >= SUBMIT_RATE if full else None) if ranked
            else f"{text} {before}")
    peak = max(st.items(), key=lambda kv: kv[1]["max_rss_mb"])
    cells["peak RSS < 8 GB every stage"] = _verdict(f"{peak[1]['max_rss_mb'] / 1024:.1f} GB ({peak[0]})",
                                                    peak[1]["max_rss_mb"] < RSS_LIMIT_MB)
    total = f"{r['total_s'] / 60:.1f} min"
    cells["whole bench < 60 min (full)"] = (_verdict(total, r["total_s"] < BENCH_LIMIT_S if full else None)
                                            if ranked else f"{total} {before}")

    def quality(ranker, recent, blend, suffix):
        g = _gain(ranker, recent)
        floor = FLOOR_RECENT.get(scale)
        key = f"ranker over recent + best sellers{suffix} (>= +30% small, +25% medium, full)"
        cells[key] = _verdict(_pct(g), g >= floor if floor is not None else None) if g is not None else before
        g = _gain(ranker, blend)
        floor = FLOOR_BLEND.get(scale)
        cells[f"ranker over the blend{suffix} (>= +10%)"] = (
            _verdict(_pct(g), g >= floor if floor is not None else None) if g is not None else before)

    quality(_map(ev, "ranker"), _map(ev, RECENT), _map(ev, "blend"), ", seed 0")
    ss = r.get("second_seed")
    if ss:
        one = {k: v["map@12"] for k, v in ss["results"].items()}
        quality(one.get("ranker"), one.get(RECENT), one.get("blend"), ", seed 1")
    a = r.get("ablation")
    if a:
        cells["two-tower's part in the ranker (ablation)"] = _pct(a["gain"])
    o, fut = r.get("oracle"), (r.get("future") or {}).get("map@12")
    if o and fut is not None and ranked and o["oracle"]:
        cells["final submission / oracle MAP@12 (week after the data)"] = f"{fut / o['oracle'] * 100:.0f}%"
    return cells


def _goals_table(results: list[dict]) -> list[str]:
    per = [_goal_cells(r) for r in results]
    names = list(dict.fromkeys(k for cells in per for k in cells))
    out = ["## Goals by scale", "",
           "Computed from each scale's latest results (time goals are judged at full scale only; the "
           "quality floors at small, medium and full).", "",
           "| goal | " + " | ".join(f"{r['scale']} ({r['date'][:10]})" for r in results) + " |",
           "|---|" + "---|" * len(results)]
    out += [f"| {name} | " + " | ".join(cells.get(name, "not measured") for cells in per) + " |"
            for name in names]
    return out + [""]


def _growth(results: list[dict]) -> list[str]:
    base = max(results, key=lambda r: len(r["stages"]))  # the newest layout sets the order
    stages = list(dict.fromkeys(s for r in (base, *results) for s in r["stages"]))
    out = ["## Growth of cost with the data", "",
           "| stage | " + " | ".join(f"{r['scale']} s / GB" for r in results) + " |",
           "|---|" + "---:|" * len(results)]
    for stage in stages:
        cells = [f"{r['stages'][stage]['wall_s']:.1f} / {r['stages'][stage]['max_rss_mb'] / 1024:.2f}"
                 if stage in r["stages"] else "" for r in results]
        out.append(f"| {stage} | " + " | ".join(cells) + " |")
    out.append("| transactions | " + " | ".join(f"{r['sizes']['transactions']:,}" for r in results) + " |")
    return out + [""]


ALS = "baseline: implicit ALS + popularity"


def _part(ablation: dict) -> str:
    """The two-tower's part, and each LightGBM seed's when there are several."""
    seeds = ablation.get("seeds") or []
    each = f" ({', '.join(_pct(x['gain']) for x in seeds)})" if len(seeds) > 1 else ""
    return _pct(ablation["gain"]) + each


def _without(ablation: dict) -> str:
    """The ranker without the two-tower; over several seeds, its mean and the ranker's beside it."""
    if len(ablation.get("seeds") or []) > 1:
        return (f"{ablation['map@12_without_two_tower']:.5f} (ranker over the same seeds "
                f"{ablation['map@12_with_two_tower']:.5f})")
    return f"{ablation['map@12_without_two_tower']:.5f}"


def _worlds_section(r: dict) -> list[str]:
    """The two kinds of world (benchmarks/worlds.py): per collection strength and seed, MAP@12 of
    the two-tower alone and the ranker beside the baselines and ALS, and the two-tower's part."""
    lines = [f"### Collections worlds at {r['scale']} scale ({r['date']}, {r['total_s'] / 60:.1f} min)", "",
             "`synth --collections S` (0: today's world, taste follows categories; 1: the documented default; "
             "2: twice it). MAP@12 on the held-out week; x = against last week's best sellers; "
             "the two-tower's part = the ranker against the same ranker retrained without the two-tower "
             "(neither its two sources nor its features)"
             + (f"; with several LightGBM seeds ({r['ranker_seeds']}), the part is the ratio of the two rankers' "
                "mean MAP@12 over the seeds, the per-seed parts in brackets (each seed refits both rankers on "
                "the same saved label-week sets)" if "," in r.get("ranker_seeds", "") else "") + ".", "",
             "| S | seed | buyers | best sellers | recent + best sellers | ALS + popularity | two-tower alone | "
             "ranker | ranker without two-tower | two-tower's part | ranker vs stronger simple baseline | "
             "train (s) | train peak RSS (GB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for w in r["worlds"]:
        m, ab = w["map@12"], w["ablation"]
        best = m.get(BEST) or 1e-12
        strong = max(m.get(BEST, 0), m.get(RECENT, 0)) or 1e-12
        als = m.get(ALS)
        als_txt = f"{als:.5f} ({als / best:.2f}x)" if als is not None else "not installed"
        tt = m.get("two-tower", 0)
        seed = f"{w['seed']} ({w['note']})" if w.get("note") else f"{w['seed']}"
        lines.append(f"| {w['strength']:g} | {seed} | {w['buyers']:,} | {m.get(BEST, 0):.5f} | "
                     f"{m.get(RECENT, 0):.5f} ({m.get(RECENT, 0) / best:.2f}x) | {als_txt} | "
                     f"{tt:.5f} ({tt / best:.2f}x) | {m['ranker']:.5f} ({m['ranker'] / best:.2f}x) | "
                     f"{_without(ab)} | {_part(ab)} | {m['ranker'] / strong:.2f}x | "
                     f"{w['stages']['train']['wall_s']:.0f} | {w['stages']['train']['max_rss_mb'] / 1024:.1f} |")
    return lines + [""]


def _cycle_section(r: dict) -> list[str]:
    """The weekly cycle (benchmarks/cycle.py): warm against cold `hmbatch run`, delivery by delivery."""
    lines = [f"### Weekly cycle at {r['scale']} scale, collections {r['collections']:g} ({r['date']}, "
             f"{r['total_s'] / 60:.1f} min)", "",
             "`hmbatch run` on the files as they were k weeks before the end, then one more week each time; "
             "warm: one workspace kept from week to week (each run continues the one before); cold: a fresh "
             "workspace and `--cold-start`. MAP@12 of the final submission on the week after the delivery.", "",
             "| delivery | warm MAP@12 | cold MAP@12 | warm vs cold | warm run (s) | cold run (s) | "
             "warm peak RSS (GB) | cold peak RSS (GB) |", "|---|---|---|---|---|---|---|---|"]
    if all(w["cold"] is None for w in r["weeks"]):  # cycle.py --warm-only
        lines[-4] = ("`hmbatch run` on the files as they were k weeks before the end (from nothing), then one "
                     "more week each time in the same workspace (each run continues the one before: the weekly "
                     "refresh); no cold run beside them (`--warm-only`). MAP@12 of the final submission on the "
                     "week after the delivery.")
        lines[-2:] = ["| delivery | MAP@12 | run (s) | peak RSS (GB) |", "|---|---|---|---|"]
    for w in r["weeks"]:
        a, b = w["warm"], w["cold"]
        if b is None:
            lines.append(f"| {w['delivery']} | {a['map@12']:.5f} | {a['wall_s']:.0f} | {_gb(a['max_rss_mb'])} |")
            continue
        lines.append(f"| {w['delivery']} | {a['map@12']:.5f} | {b['map@12']:.5f} | {_pct(a['map@12'] / b['map@12'] - 1)} | "
                     f"{a['wall_s']:.0f} | {b['wall_s']:.0f} | {_gb(a['max_rss_mb'])} | {_gb(b['max_rss_mb'])} |")
    notes = [w["warm"]["rss_note"] for w in r["weeks"] if w["warm"].get("rss_note")]
    return lines + [""] + ([f"Peak RSS: {' '.join(notes)}", ""] if notes else [])


def _gb(mb: float | None) -> str:
    """A peak RSS in GB, or "not measured" (a figure known to be wrong is left out, not shown)."""
    return "not measured" if mb is None else f"{mb / 1024:.1f}"


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
              f"{GOALS_FULL}.", "",
              "The oracle and the second world (seed 1) are measured at tiny, small and medium scale only "
              "(each generates a world again). The id-only TFRS and NumPy top-12 comparisons run last, and "
              "only while the whole bench stays under its budget (55 min by default): at full scale they "
              "may be skipped, which the stage table then says.", ""]
    if results:
        lines += _goals_table(results)
    for r in reversed(results):
        lines += _scale_section(r)
    if len(results) > 1:
        lines += _growth(results)
    worlds = [json.loads((Path(folder) / f"worlds-{scale}.json").read_text()) for scale in ORDER
              if (Path(folder) / f"worlds-{scale}.json").exists()]
    if worlds:
        lines += ["## Two kinds of world: categories and hidden collections", "",
                  "Written by `benchmarks/worlds.py` (`make bench` runs it after the per-scale bench above; each "
                  "section is dated: the per-scale sections show the code of their own date). S = 0 is the world "
                  "the per-scale sections measure, so its rows compare this version with theirs on the same data.",
                  ""]
        for r in worlds:
            lines += _worlds_section(r)
    cycles = [json.loads(f.read_text()) for f in sorted(Path(folder).glob("cycle-*.json"))]
    if cycles:
        lines += ["## The weekly cycle: warm against cold", ""]
        for r in cycles:
            lines += _cycle_section(r)
    notes = Path(folder).parent / "NOTES.md"
    if notes.exists():
        lines += [notes.read_text()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    root = Path(__file__).resolve().parent
    (root.parent / "BENCHMARKS.md").write_text(render(root / "results"))
