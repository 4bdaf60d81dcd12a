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

    def __init__(self, batch_size: int):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        self.batch_size = batch_size
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

    def __call__(self, epoch: int, step: int, steps: int, loss: float) -> None:
        if epoch not in self.tasks:
            self.tasks[epoch] = self.progress.add_task("", total=steps, epoch=epoch + 1, loss=loss, rate=0.0)
        task = self.progress.tasks[self.tasks[epoch]]
        elapsed = task.elapsed or 1e-9
        self.progress.update(self.tasks[epoch], completed=step, loss=loss,
                             rate=step * self.batch_size / elapsed)


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
