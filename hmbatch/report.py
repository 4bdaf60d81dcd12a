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
