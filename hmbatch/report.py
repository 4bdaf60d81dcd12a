"""`hmbatch report`: one self-contained HTML page about the current model, readable offline.

Plotly draws every figure from plotly.js embedded in the page (nothing is fetched). Each section
reads what the run saved (evaluation.json, the manifest) or asks the database, and where the
input is missing (no held-out week, no evaluation, no ranker) it says what is missing and the
command that makes it. Every plot has a title, axis labels and a one-line reading.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hmbatch.errors import HmbatchError
from hmbatch.evaluate import BASELINES
from hmbatch.features import purchases_after
from hmbatch.query import describe, query
from hmbatch import candidates
from hmbatch.retrieve import STRATEGIES, Retriever
from hmbatch.serving import Serving
from hmbatch.sqlfiles import execute_file
from hmbatch.workspace import Workspace, atomic_write_text

RECALL_NS = tuple(range(10, 101, 10))
SAMPLE = 5000
TOP_SELLERS = 100
BASELINE_COLOUR, STRATEGY_COLOUR = "#9e9e9e", "#1f77b4"


@dataclass
class Section:
    """One part of the page: a figure (or an HTML table) with its one-line reading, or a note."""

    title: str
    reading: str = ""
    figure: object = None
    table: str = ""
    note: str = ""


def _layout(fig, title: str, x: str, y: str, height: int = 420):
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height, template="plotly_white",
                      margin={"t": 60, "b": 60, "l": 70, "r": 30},
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"})
    return fig


def evaluation_sections(evaluation: dict | None) -> list[Section]:
    """MAP@12 and recall@12 of every strategy beside the baselines, then MAP@12 by segment."""
    import plotly.graph_objects as go
    if evaluation is None:
        return [Section("Strategies against the baselines", note="No evaluation of this model yet: "
                        "run `hmbatch evaluate` (it writes evaluation.json), then `hmbatch report` again.")]
    results = evaluation["results"]
    names = list(results)
    colours = [BASELINE_COLOUR if n.startswith("baseline") else STRATEGY_COLOUR for n in names]
    fig = go.Figure([go.Bar(name=m, x=names, y=[results[n][m] for n in names], marker_color=colours,
                            marker_pattern_shape="" if m == "map@12" else "/",
                            text=[f"{results[n][m]:.4f}" for n in names],
                            textposition="outside", cliponaxis=False)
                     for m in ("map@12", "recall@12")])
    _layout(fig, f"MAP@12 and recall@12 on the held-out week ({evaluation['buyers']:,} buyers)",
            "strategy (grey: public baselines)", "score (plain: MAP@12, hatched: recall@12)", 460)
    best = max((n for n in names if not n.startswith("baseline")), key=lambda n: results[n]["map@12"])
    base = max((n for n in names if n in BASELINES), key=lambda n: results[n]["map@12"], default=None)
    reading = f"Best strategy: {best}, MAP@12 {results[best]['map@12']:.4f}"
    if base:
        gain = results[best]["map@12"] / max(results[base]["map@12"], 1e-12) - 1
        reading += f", {gain:+.0%} against the better simple baseline ({base}, {results[base]['map@12']:.4f})."
    segs = sorted({s for r in results.values() for s in r["segments"]})
    seg_fig = go.Figure([go.Bar(name=n, x=[f"{s} ({_buyers(results, s):,})" for s in segs],
                                y=[results[n]["segments"].get(s, {}).get("map@12") for s in segs]) for n in names])
    _layout(seg_fig, "MAP@12 by customer segment", "segment (buyers in the held-out week)", "MAP@12", 460)
    worst = min(segs, key=lambda s: results[best]["segments"].get(s, {}).get("map@12", 1.0))
    return [Section("Strategies against the baselines", reading, fig),
            Section("By customer segment", f"{best} does worst on '{worst}' buyers "
                    f"(MAP@12 {results[best]['segments'][worst]['map@12']:.4f}).", seg_fig)]


def _buyers(results: dict, segment: str) -> int:
    return next(r["segments"][segment]["buyers"] for r in results.values() if segment in r["segments"])


def computed_recall(s: Serving, idx: np.ndarray, truth: dict[int, set[int]]) -> dict:
    """recall@N of each candidate source and of the union on the buyers `idx`, counted on the
    candidates the run builds for them (`candidates.source_recall`, evaluation.json's shape)."""
    s.block(idx, s.default)  # the candidate tables of these customers
    pairs = [(c, a) for c in idx.tolist() for a in sorted(truth[c])]
    return candidates.source_recall(s.con, {"customer_idx": np.array([c for c, _ in pairs], np.int64),
                                            "article_id": np.array([a for _, a in pairs], np.int64)}, RECALL_NS)


def sample_buyers(r: Retriever, truth: dict[int, set[int]], size: int = SAMPLE) -> np.ndarray:
    """Up to `size` held-out buyers whose embedding was saved (no TensorFlow), sorted."""
    idx = np.array(sorted(c for c in truth if c < len(r.customer_emb)), np.int64)
    if len(idx) > size:
        idx = np.sort(np.random.default_rng(0).choice(idx, size, replace=False))
    return idx


def candidate_section(s: Serving, evaluation: dict | None, truth, idx) -> Section:
    """recall@N curves: from evaluation.json's candidate_recall, else computed here."""
    import plotly.graph_objects as go
    title = "Candidate sources: recall@N"
    curves = (evaluation or {}).get("candidate_recall")
    origin = "from evaluation.json"
    if curves is None:
        if not truth:
            return Section(title, note="No held-out week (the model was trained with --holdout-days 0), "
                           "so the candidate sources cannot be measured: train with --holdout-days 7.")
        curves, origin = computed_recall(s, idx, truth), f"computed on {len(idx):,} held-out buyers"
    fig = go.Figure([go.Scatter(x=curves["n"], y=ys, name=name, mode="lines+markers",
                                line={"width": 4 if name == "union" else 2, "dash": "dot" if name == "union" else None})
                     for name, ys in curves["sources"].items()])
    _layout(fig, f"Share of next week's purchases among each source's first N candidates ({origin})",
            "N (candidates per customer and source)", "recall@N")
    last = {name: ys[-1] for name, ys in curves["sources"].items()}
    best = max((n for n in last if n != "union"), key=last.get)
    reading = (f"At N = {curves['n'][-1]} the union finds {last.get('union', float('nan')):.1%} of the purchases; "
               f"the best single source is {best} ({last[best]:.1%}); a flat curve is a source that stops helping.")
    return Section(title, reading, fig)


def importance_section(manifest: dict) -> Section:
    """The ranker's feature importance (gain), when the run has a ranker."""
    import plotly.graph_objects as go
    gains = ((manifest.get("ranker") or {}).get("feature_importance")) or {}
    if not gains:
        return Section("Ranker: feature importance", note="This run has no ranker (its manifest has no "
                       "ranker.feature_importance): nothing to show.")
    items = sorted(gains.items(), key=lambda kv: kv[1])[-30:]
    fig = go.Figure(go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h"))
    _layout(fig, "LightGBM ranker: feature importance (total gain)", "gain", "feature", max(360, 22 * len(items)))
    total = sum(gains.values()) or 1.0
    return Section("Ranker: feature importance", f"{items[-1][0]} carries {items[-1][1] / total:.0%} of the "
                   f"total gain of {len(gains)} features.", fig)


def training_section(manifest: dict) -> Section:
    """Loss and examples/s per epoch."""
    from plotly.subplots import make_subplots
    import plotly.graph_objects as go
    epochs = manifest["training"]["epochs"]
    x = [e["epoch"] for e in epochs]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss per epoch", "examples per second"))
    fig.add_trace(go.Scatter(x=x, y=[e["loss"] for e in epochs], mode="lines+markers", name="loss"), 1, 1)
    fig.add_trace(go.Bar(x=x, y=[e["examples_per_s"] for e in epochs], name="examples/s"), 1, 2)
    _layout(fig, f"Two-tower training ({manifest['training']['examples']:,} examples per epoch)", "epoch", "loss")
    fig.update_xaxes(title_text="epoch", dtick=1)
    fig.update_layout(showlegend=False)  # the subplot titles name the two series
    fig.update_yaxes(title_text="examples per second", row=1, col=2)
    change = epochs[-1]["loss"] / epochs[0]["loss"] - 1 if len(epochs) > 1 else 0.0
    reading = (f"{len(epochs)} epoch(s); the loss went from {epochs[0]['loss']:.4f} to {epochs[-1]['loss']:.4f} "
               f"({change:+.1%}) at about {np.mean([e['examples_per_s'] for e in epochs]):,.0f} examples/s.")
    return Section("Training", reading, fig)


def data_sections(r: Retriever, weeks: int = 10) -> list[Section]:
    """Weekly transactions, and the weekly sales of the cut-off week's best sellers (the drift)."""
    import plotly.graph_objects as go
    execute_file(r.con, "report/weekly_sales.sql", {"cutoff": str(r.cutoff)})
    totals = r.con.execute("SELECT week, sum(n_sales) FROM report_weekly GROUP BY week ORDER BY week DESC").fetchall()
    end = lambda w: str(r.cutoff - dt.timedelta(days=7 * w))
    fig = go.Figure(go.Scatter(x=[end(w) for w, _ in totals], y=[n for _, n in totals], mode="lines+markers"))
    after = "; the last week is the held-out one, after the cut-off" if totals and totals[-1][0] < 0 else ""
    _layout(fig, f"Transactions per week (each week ends on the date shown{after})", "week ending", "transactions")
    busiest = max(totals, key=lambda t: t[1])
    tx = Section("Data: weekly transactions", f"{sum(n for _, n in totals):,} transactions over {len(totals)} weeks; "
                 f"the busiest week ended {end(busiest[0])} ({busiest[1]:,}).", fig)
    top = [a for (a,) in r.con.execute("SELECT article_id FROM report_weekly WHERE week = 0 "
                                       "ORDER BY n_sales DESC, article_id LIMIT 5").fetchall()]
    sales = dict(((w, a), n) for w, a, n in r.con.execute(
        "SELECT week, article_id, n_sales FROM report_weekly WHERE week BETWEEN -1 AND ? AND article_id IN "
        "(SELECT unnest(?))", [weeks - 1, top]).fetchall())
    shown = [w for w in range(weeks - 1, -2, -1) if any((w, a) in sales for a in top) or w >= 0]
    names = describe(r, np.array(top, np.int64))
    drift = go.Figure([go.Scatter(x=[end(w) for w in shown], y=[sales.get((w, a), 0) for w in shown],
                                  mode="lines+markers", name=f"{a:010d} {names.get(a, {}).get('name') or ''}")
                       for a in top])
    _layout(drift, "Weekly sales of the 5 best sellers of the week up to the cut-off", "week ending", "sales", 500)
    drift.update_layout(legend={"y": -0.25, "yanchor": "top", "x": 0, "xanchor": "left"})  # long names
    drift.add_vline(x=end(0), line_dash="dash", line_color="grey")
    before = sum(sales.get((1, a), 0) for a in top)
    now, after = sum(sales.get((0, a), 0) for a in top), sum(sales.get((-1, a), 0) for a in top)
    reading = (f"Together they sold {before:,} the week before, {now:,} in the cut-off week"
               + (f" and {after:,} in the held-out week ({after / max(now, 1) - 1:+.0%}): best sellers go stale."
                  if -1 in shown else "; the dashed line marks the cut-off (no held-out week)."))
    return [tx, Section("Data: drift of last week's best sellers", reading, drift)]


def bias_section(s: Serving, truth: dict[int, set[int]], idx: np.ndarray) -> Section:
    """Share of recommended slots given to the 100 best sellers of the cut-off week, per strategy,
    against their share of the true purchases; and the catalogue coverage of the lists."""
    r = s.first_stage
    from plotly.subplots import make_subplots
    import plotly.graph_objects as go
    top = np.array([a for (a,) in r.con.execute("SELECT article_id FROM band_pop WHERE band = -1 "
                                                "ORDER BY rank LIMIT ?", [TOP_SELLERS]).fetchall()])
    if not len(idx):  # no held-out week: the customers who bought in the 4 weeks up to the cut-off
        idx = np.array([c for (c,) in r.con.execute(
            "SELECT DISTINCT customer_idx FROM transactions WHERE t_dat > CAST(? AS DATE) - 28 AND t_dat <= ? "
            "AND customer_idx < ? ORDER BY customer_idx LIMIT ?",
            [r.cutoff, r.cutoff, len(r.customer_emb), SAMPLE]).fetchall()],
            np.int64)
    served = []
    for strategy in STRATEGIES:
        try:
            served.append(s.strategy(strategy))
        except HmbatchError:  # the ranker of a run trained without one
            continue
    shares, coverage = {}, {}
    for strategy, lists in s.recommend_each(idx, served, 12).items():  # one candidate set per two-tower beta
        valid = lists[lists >= 0]
        shares[strategy] = float(np.isin(valid, top).mean()) if len(valid) else 0.0
        coverage[strategy] = len(np.unique(valid)) / len(r.article_ids)
    if truth:
        bought = np.array([a for c in idx.tolist() for a in truth[c]])
        shares["true purchases"] = float(np.isin(bought, top).mean())
    fig = make_subplots(rows=1, cols=2, subplot_titles=(f"share going to the {TOP_SELLERS} best sellers",
                                                        "catalogue coverage"))
    fig.add_trace(go.Bar(x=list(shares), y=list(shares.values()), name="share of slots",
                         marker_color=[BASELINE_COLOUR if n == "true purchases" else STRATEGY_COLOUR
                                       for n in shares]), 1, 1)
    fig.add_trace(go.Bar(x=list(coverage), y=list(coverage.values()), name="coverage"), 1, 2)
    _layout(fig, f"Popularity bias over {len(idx):,} customers' top-12 lists", "strategy", "share of slots", 460)
    fig.update_yaxes(title_text="distinct articles recommended / catalogue", row=1, col=2)
    fig.update_xaxes(title_text="strategy")
    fig.update_layout(showlegend=False)
    main = s.default if s.default in shares else next(iter(shares))
    reading = f"{main} gives {shares[main]:.0%} of its slots to the {TOP_SELLERS} best sellers"
    reading += (f", which take {shares['true purchases']:.0%} of the true purchases; it covers "
                if truth else " (no held-out week: true purchases unknown); it covers ")
    return Section("Popularity bias and coverage", reading + f"{coverage[main]:.1%} of the catalogue.", fig)


def example_customers(r: Retriever, truth: dict[int, set[int]], n: int = 3) -> list[int]:
    """n customers with at least 3 purchases before the cut-off (held-out buyers when there are)."""
    pool = sorted(c for c in truth if c < len(r.customer_emb)) if truth else []
    rows = r.con.execute("SELECT customer_idx FROM transactions WHERE t_dat <= ? AND customer_idx < ? "
                         "GROUP BY customer_idx HAVING count(*) >= 3 ORDER BY customer_idx",
                         [r.cutoff, len(r.customer_emb)]).fetchall()
    regular = {c for (c,) in rows}
    chosen = [c for c in pool if c in regular] or sorted(regular)
    rng = np.random.default_rng(0)
    return sorted(rng.choice(chosen, min(n, len(chosen)), replace=False).tolist()) if chosen else []


def examples_section(ws: Workspace, s: Serving, truth: dict[int, set[int]], allow_stale: bool) -> Section:
    """Three customers: their last purchases and their list with names and sources."""
    r = s.first_stage
    chosen = example_customers(r, truth)
    if not chosen:
        return Section("Example customers", note="No customer with 3 purchases before the cut-off.")
    strategy = s.default
    ids = dict(r.con.execute("SELECT customer_idx, customer_id FROM customers WHERE customer_idx IN "
                             "(SELECT unnest(?))", [chosen]).fetchall())
    blocks = [_customer_block(r, ws, c, ids[c], truth.get(c) if truth else None, strategy, allow_stale)
              for c in chosen]
    reading = f"Each customer's last purchases before the cut-off and the {strategy} list" + (
        "; bold articles were bought in the held-out week." if truth else " (no held-out week to check it against).")
    return Section("Example customers", reading, table="".join(blocks))


def _customer_block(r: Retriever, ws: Workspace, idx: int, customer_id: str, bought: set[int] | None,
                    strategy: str, allow_stale: bool) -> str:
    last = r.con.execute("SELECT t.t_dat, t.article_id, a.prod_name FROM transactions t JOIN articles a "
                         "USING (article_id) WHERE t.customer_idx = ? AND t.t_dat <= ? "
                         "ORDER BY t.t_dat DESC, t.article_id LIMIT 8", [idx, r.cutoff]).fetchall()
    items = query(ws, customer_id, 12, strategy, allow_stale)["items"]
    esc = html.escape
    left = "".join(f"<tr><td>{d}</td><td>{a:010d}</td><td>{esc(name or '')}</td></tr>" for d, a, name in last)
    held = f" (articles bought in the held-out week: {len(bought)})" if bought is not None else ""
    bought = bought or set()
    right = "".join(f"<tr{' class=hit' if int(i['article_id']) in bought else ''}><td>{i['rank']}</td>"
                    f"<td>{i['article_id']}</td><td>{esc(i.get('name') or '')}</td>"
                    f"<td>{esc(', '.join(i['sources']))}</td></tr>" for i in items)
    return (f"<div class=customer><h3>customer {esc(customer_id[:16])}…{held}</h3><div class=pair><table>"
            f"<caption>last purchases</caption><tr><th>date</th>"
            f"<th>article</th><th>name</th></tr>{left}</table><table><caption>top 12 ({esc(strategy)})</caption>"
            f"<tr><th>#</th><th>article</th><th>name</th><th>source</th></tr>{right}</table></div></div>")


CSS = """body{font-family:system-ui,sans-serif;max-width:1280px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em}.meta{color:#555}section{margin:2.5em 0;border-top:1px solid #ddd;padding-top:1em}
.reading{font-size:1.05em;margin:.4em 0}.note{background:#fff4e0;border-left:4px solid #f0a020;padding:.6em 1em}
.pair{display:flex;gap:2em;flex-wrap:wrap;align-items:flex-start}table{border-collapse:collapse;font-size:.9em}
td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}caption{text-align:left;font-weight:600}
tr.hit td{font-weight:700;background:#e8f4e8}"""


def render(sections: list[Section], header: str) -> tuple[str, int]:
    """The page and its number of figures; plotly.js is embedded once, with the first figure."""
    import plotly.io as pio
    parts, figures = [], 0
    for s in sections:
        body = ""
        if s.figure is not None:
            body = pio.to_html(s.figure, full_html=False, include_plotlyjs=figures == 0,
                               div_id=f"figure-{figures}", config={"displaylogo": False, "responsive": True})
            figures += 1
        if s.reading:
            body += f"<p class=reading>{html.escape(s.reading)}</p>"
        body += s.table
        if s.note:
            body += f"<p class=note>{html.escape(s.note)}</p>"
        anchor = "".join(c if c.isalnum() else "-" for c in s.title.lower())
        parts.append(f"<section id={anchor}><h2>{html.escape(s.title)}</h2>{body}</section>")
    page = (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><meta name=hmbatch-figures "
            f"content={figures}><title>hmbatch report</title><style>{CSS}</style></head><body>"
            f"{header}{''.join(parts)}</body></html>")
    return page, figures


def build_report(ws: Workspace, out: Path | None = None, allow_stale: bool = False) -> dict:
    """Writes the report of the current model.

    Args:
        ws: the workspace.
        out: the HTML path (default: report.html in the current model's folder).
        allow_stale: go on with a model trained on another database.

    Returns:
        {"path", "figures", "notes" (what is missing), "model"}.
    """
    with Serving.open(ws, allow_stale) as r:
        sections, header = _sections(ws, r, allow_stale)
    page, figures = render(sections, header)
    out = Path(out) if out else r.run_dir / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, page)
    return {"path": str(out), "figures": figures, "model": r.run_dir.name,
            "notes": [f"{s.title}: {s.note}" for s in sections if s.note]}


def validation_of(ws: Workspace, manifest: dict) -> tuple[str, dict] | None:
    """(name, evaluation.json) of the evaluated run a final model continued, if it has one."""
    name = (manifest.get("warm_start") or {}).get("from")
    path = ws.models_dir / name / "evaluation.json" if name else None
    return (name, json.loads(path.read_text())) if path and path.exists() else None


def _sections(ws: Workspace, s: Serving, allow_stale: bool) -> tuple[list[Section], str]:
    r = s.first_stage
    manifest, days = r.manifest, r.manifest["config"]["holdout_days"]
    path = r.run_dir / "evaluation.json"
    evaluation = json.loads(path.read_text()) if path.exists() else None
    truth = purchases_after(r.con, r.cutoff, days) if days > 0 else {}
    idx = sample_buyers(r, truth)
    validation = validation_of(ws, manifest) if days == 0 else None
    if days > 0:
        sections = evaluation_sections(evaluation)
    elif validation:
        name, evaluation = validation
        sections = evaluation_sections(evaluation)
        for section in sections:  # the figures of the run this model continues, named as such
            section.title += f" (validation run {name}, which this model continues)"
    else:
        sections = [Section(
            "Strategies against the baselines", note="This model was trained with --holdout-days 0 from "
            "nothing: it has no held-out week, so MAP@12, recall and segments are missing. Train with "
            "--holdout-days 7, evaluate, then --holdout-days 0 (or `hmbatch run`) to carry them over.")]
    sections += [candidate_section(s, evaluation, truth, idx), importance_section(manifest),
                 training_section(manifest), *data_sections(r), bias_section(s, truth, idx),
                 examples_section(ws, s, truth, allow_stale)]
    held = f"held-out week {r.cutoff + dt.timedelta(days=1)} .. {r.cutoff + dt.timedelta(days=days)}" if days else \
        "no held-out week"
    header = (f"<h1>hmbatch report: model {html.escape(r.run_dir.name)}</h1><p class=meta>data cut-off "
              f"{r.cutoff}; {held}; database {html.escape(manifest['fingerprint'])}; trained "
              f"{html.escape(str(manifest.get('created')))}; "
              f"written {dt.datetime.now().isoformat(timespec='seconds')}</p>")
    return sections, header
