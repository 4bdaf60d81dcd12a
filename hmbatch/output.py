"""Rich output of each command: summaries and tables, kept out of the CLI and the stages."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def build_summary(summary: dict) -> None:
    """Prints build-db's summary: rows per table, dates, buyers, skipped rows and time."""
    table = Table(title="hmbatch build-db")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in summary["tables"].items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    report = summary["load_report"]
    console.print(f"dates {summary['first_date']} .. {summary['last_date']}; "
                  f"customers with purchases {summary['customers_with_purchases']:,}; "
                  f"fingerprint {summary['fingerprint']}")
    skipped = report["unknown_customer_rows"] + report["unknown_article_rows"]
    if skipped:
        console.print(f"[yellow]skipped transactions: {report['unknown_customer_rows']:,} rows with a "
                      f"customer not in customers.csv, {report['unknown_article_rows']:,} rows with "
                      f"an article not in articles.csv (of {report['rows_read']:,} read)[/yellow]")
    console.print(f"built in {summary['seconds']:.1f} s")


def synth_summary(summary: dict, out_dir) -> None:
    """Prints what `hmbatch synth` wrote."""
    console.print(f"wrote {out_dir}: {summary['articles']:,} articles, {summary['customers']:,} "
                  f"customers, {summary['transactions']:,} transactions "
                  f"({summary['first_date']} .. {summary['last_date']}), "
                  f"{summary['heldout_transactions']:,} held-out rows "
                  f"({summary['heldout_start']} .. {summary['heldout_end']}) "
                  f"in {summary['seconds']:.1f} s")


class TrainProgress:
    """A rich progress bar per epoch with the running loss and examples/s."""

    def __init__(self):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        self.progress = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(),
                                 TextColumn("{task.completed}/{task.total} steps"),
                                 TextColumn("loss {task.fields[loss]:.4f}"),
                                 TextColumn("{task.fields[rate]:,.0f} ex/s"), TimeElapsedColumn(),
                                 console=console, transient=False)
        self.tasks: dict[int, int] = {}

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def __call__(self, epoch: int, step: int, steps: int, loss: float, rate: float) -> None:
        if epoch not in self.tasks:
            self.tasks[epoch] = self.progress.add_task("", total=steps, epoch=epoch + 1, loss=loss, rate=rate)
        self.progress.update(self.tasks[epoch], completed=step, loss=loss, rate=rate)


def train_summary(run_dir, manifest: dict) -> None:
    """Prints the run folder, figures per epoch and the held-out retrieval recall."""
    t = manifest["training"]
    console.print(f"model {run_dir.name}: {t['examples']:,} examples, {t['articles']:,} articles "
                  f"({t['recent_articles']:,} on sale recently), {t['customers']:,} customers; "
                  f"data cut-off {manifest['cutoff']}")
    for e in t["epochs"]:
        console.print(f"  epoch {e['epoch']}: loss {e['loss']:.4f}, {e['examples_per_s']:,.0f} examples/s")
    r = manifest.get("retrieval") or {}
    if r:
        console.print(f"held-out week: {r['buyers']:,} buyers; two-tower recall@12 {r['recall@12']:.4f}, "
                      f"recall@100 {r['recall@100']:.4f}")
    rk = manifest.get("ranker")
    if rk:
        f = rk["figures"]
        console.print(f"ranker: LightGBM LambdaRank on {len(rk['label_weeks'])} label weeks, {f['groups']:,} "
                      f"customer-weeks, {f['rows']:,} rows, {f['best_round']} rounds; "
                      f"{rk['config']['n_candidates']} candidates per customer; {f['seconds']:.0f} s")


def evaluation(out: dict) -> None:
    """Prints MAP@12, recall@12 and coverage per strategy and baseline, then by segment."""
    table = Table(title=f"held-out week after {out['cutoff']}: {out['buyers']:,} buyers "
                        f"(model {out['model']})")
    for column in ("strategy", "MAP@12", "recall@12", "coverage"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for name, res in out["results"].items():
        table.add_row(name, f"{res['map@12']:.5f}", f"{res['recall@12']:.4f}", f"{res['coverage']:.4f}")
    console.print(table)
    seg_names = sorted({s for res in out["results"].values() for s in res["segments"]})
    seg_table = Table(title="MAP@12 by segment (buyers)")
    seg_table.add_column("strategy")
    for s in seg_names:
        n = next(res["segments"][s]["buyers"] for res in out["results"].values() if s in res["segments"])
        seg_table.add_column(f"{s} ({n:,})", justify="right")
    for name, res in out["results"].items():
        seg_table.add_row(name, *[f"{res['segments'].get(s, {}).get('map@12', float('nan')):.5f}"
                                  for s in seg_names])
    console.print(seg_table)
    if "candidate_recall" in out:
        _candidate_recall(out["candidate_recall"])
    if "ranker" in out:
        top = ", ".join(f"{name} {gain:.3f}" for name, gain in out["ranker"]["top_features"].items())
        console.print(f"ranker's top features (share of gain): {top}")
    if "tuning" in out:
        t = out["tuning"]
        console.print(f"weights tuned and saved: {out['weights']} (blend MAP@12 {t['map@12_fitted']:.5f} "
                      f"on the buyers they were fitted on; the table's blend and two-tower figures, "
                      f"blend {t['map@12_other_half']:.5f}, rank each half with weights fitted on the other)")


def _candidate_recall(recall: dict) -> None:
    table = Table(title=f"candidate recall on the held-out week ({recall['purchases']:,} true purchases; "
                        f"the ranker keeps {recall['n_candidates']} per customer)")
    table.add_column("source")
    shown = [i for i, n in enumerate(recall["n"]) if n in (10, 20, 50, 100) or n == recall["n_candidates"]]
    for i in shown:
        table.add_column(f"recall@{recall['n'][i]}", justify="right")
    for source, curve in recall["sources"].items():
        table.add_row(source, *[f"{curve[i]:.4f}" for i in shown])
    console.print(table)


def query_result(out: dict) -> None:
    """Prints one customer's list as a table."""
    if out["note"]:
        console.print(f"[yellow]note:[/yellow] {out['note']}")
    table = Table(title=f"{out['customer_id'][:16]}… top {len(out['items'])} ({out['strategy']}, "
                        f"model {out['model']})")
    for column in ("#", "article_id", "name", "product type", "colour", "score", "source"):
        table.add_column(column, justify="right" if column in ("#", "score") else "left")
    for item in out["items"]:
        score = "-" if item["score"] is None else f"{item['score']:.4f}"
        table.add_row(str(item["rank"]), item["article_id"], item.get("name") or "",
                      item.get("product_type") or "", item.get("colour") or "", score,
                      ", ".join(item["sources"]))
    console.print(table)


class ChunkProgress:
    """A rich progress bar over customers for submit."""

    def __init__(self, label: str):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        self.progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console)
        self.task = None

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def __call__(self, done: int, total: int) -> None:
        if self.task is None:
            self.task = self.progress.add_task("", total=total)
        self.progress.update(self.task, completed=done)


def submit_summary(out: dict) -> None:
    """Prints where the submission is and how fast it was written."""
    console.print(f"wrote {out['customers']:,} customers ({out['unknown']:,} unknown to the database, "
                  f"given the cold-start list) with {out['strategy']} from model {out['model']} in "
                  f"{out['seconds']:.1f} s ({out['customers_per_s']:,.0f} customers/s)")
    console.print(f"submission: {out['path']}")


def score_summary(out: dict, submission, truth) -> None:
    """Prints the MAP@12 of a submission file against true purchases."""
    console.print(f"{submission}: MAP@12 {out['map@12']:.5f} over the {out['buyers']:,} buyers of {truth} "
                  f"({out['buyers_with_a_list']:,} of them have a list)")


def status(out: dict) -> None:
    """Prints the workspace at a glance: database, model runs, submissions, the next step."""
    db = out["database"]
    console.print(f"workspace {out['workspace']}" + ("" if out["exists"] else " (does not exist yet)"),
                  highlight=False)
    if not db["exists"]:
        console.print("database: none", highlight=False)
    elif "error" in db:
        console.print(f"database {db['path']}: {db['error']}", highlight=False)
    else:
        rows = ", ".join(f"{t} {n:,}" for t, n in db["tables"].items())
        console.print(f"database {db['size_bytes'] / 2**20:,.1f} MiB, {db['first_date']} .. {db['last_date']}, "
                      f"fingerprint {db['fingerprint']}, built {db['built']}\n  {rows}", highlight=False)
    console.print(f"models: {len(out['models']) or 'none'}", highlight=False)
    for m in out["models"]:
        mark = "[bold]*[/bold]" if m["current"] else " "
        if not m["complete"]:
            console.print(f"{mark} {m['name']}: incomplete (no manifest)", highlight=False)
            continue
        o = m["options"]
        match = {True: "trained on this database", False: "[red]stale[/red]: trained on another database",
                 None: "no database to compare"}[m["matches_database"]]
        console.print(f"{mark} {m['name']}: cut-off {m['cutoff']}, {m['holdout_days']} days held out, dim "
                      f"{o.get('dim')}, {o.get('weeks')} weeks, {o.get('epochs')} epochs; {match}", highlight=False)
        scores = ", ".join(f"{k.removeprefix('baseline: ')} {v:.4f}" for k, v in (m["evaluation"] or {}).items())
        console.print(f"    MAP@12: {scores or 'not evaluated'}", highlight=False)
    console.print(f"current: {out['current'] or 'none'}", highlight=False)
    for s in out["submissions"]:
        console.print(f"submission {s['name']}: {s['size_bytes'] / 2**20:,.1f} MiB, written {s['written']}",
                      highlight=False)
    if not out["submissions"]:
        console.print("submissions: none", highlight=False)
    if out["next"]:
        console.print(f"next: {out['next']}", highlight=False)


def report_written(out: dict) -> None:
    """Prints where the report is and what it could not show."""
    for note in out["notes"]:
        console.print(f"[yellow]missing:[/yellow] {note}", highlight=False, soft_wrap=True)
    console.print(f"report of model {out['model']} ({out['figures']} figures): {out['path']}", highlight=False,
                  soft_wrap=True)


def cycle_step(number: int, total: int, name: str) -> None:
    """The header of one step of `hmbatch run`."""
    console.rule(f"[bold]{number}/{total}[/bold] {name}", align="left")


def cycle_summary(out: dict) -> None:
    """What `hmbatch run` did: the held-out MAP@12 beside the baselines, where the files are."""
    res = out["results"]
    ev = res["evaluate --tune"]
    console.rule("[bold]done[/bold]", align="left")
    console.print(f"held-out week after {ev['cutoff']} ({ev['buyers']:,} buyers), MAP@12:", highlight=False)
    for name, figures in ev["results"].items():
        console.print(f"  {name}: {figures['map@12']:.5f}", highlight=False)
    steps = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in out["seconds"].items())
    console.print(f"steps: {steps} (total {sum(out['seconds'].values()):.0f} s)", highlight=False, soft_wrap=True)
    console.print(f"submission: {res['submit']['path']}", highlight=False, soft_wrap=True)
    console.print(f"report: {res['report']['path']}", highlight=False, soft_wrap=True)
