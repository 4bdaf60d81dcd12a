"""The `hmbatch` command line: parses options and calls one stage function per command."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Optional

import typer

from hmbatch.errors import HmbatchError
from hmbatch.workspace import Workspace

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Top-12 fashion recommendations per customer from H&M-layout CSV files.")
WorkspaceOpt = typer.Option(None, "--workspace", "-w", help="Workspace folder "
                            "(default: $HMBATCH_WORKSPACE, else ./hmbatch-work).")


def command(fn):
    """Registers a command whose project errors become one line and a non-zero exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from hmbatch.report import err_console
        try:
            return fn(*args, **kwargs)
        except HmbatchError as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(130 if type(exc).__name__ == "Interrupted" else 1)
        except KeyboardInterrupt:
            err_console.print("[red]interrupted:[/red] the previous state is kept")
            raise typer.Exit(130)

    return app.command()(wrapper)


@command
def build_db(data_dir: Path = typer.Argument(..., help="Folder with the competition's CSV files."),
             workspace: Optional[Path] = WorkspaceOpt) -> None:
    """Build the DuckDB database from articles.csv, customers.csv and transactions_train.csv."""
    from hmbatch import data, report
    report.build_summary(data.build_db(data_dir, Workspace.resolve(workspace)))


@command
def synth(out_dir: Path = typer.Argument(..., help="Folder to write the CSV files into."),
          scale: str = typer.Option("small", help="tiny | small | medium | full"),
          seed: int = typer.Option(0, help="Random seed; the same seed gives identical files.")) -> None:
    """Write a synthetic H&M world (and its held-out week) in the competition's layout."""
    from hmbatch import report, synth as synth_mod
    if scale not in synth_mod.SCALES:
        raise HmbatchError(f"unknown scale {scale!r}: choose one of {', '.join(synth_mod.SCALES)}")
    report.synth_summary(synth_mod.generate(out_dir, scale=scale, seed=seed), out_dir)


@command
def train(holdout_days: int = typer.Option(7, help="Days at the end kept out for evaluate (0 = train on all)."),
          epochs: int = typer.Option(2, help="Passes over the training examples."),
          weeks: int = typer.Option(12, help="Weeks of purchases before the cut-off to train on."),
          dim: int = typer.Option(64, help="Embedding size."),
          batch_size: int = typer.Option(1024, help="Examples per step (in-batch negatives)."),
          learning_rate: float = typer.Option(0.005, help="Adam learning rate."),
          temperature: float = typer.Option(1.0, help="Softmax temperature of the retrieval loss."),
          customer_id: bool = typer.Option(True, help="Give each customer an id embedding."),
          seed: int = typer.Option(0, help="Random seed."),
          workspace: Optional[Path] = WorkspaceOpt) -> None:
    """Train the two-tower model and export its FAISS index and embeddings."""
    import json
    from hmbatch import report, train as train_mod
    config = train_mod.TrainConfig(holdout_days=holdout_days, weeks=weeks, epochs=epochs, dim=dim,
                                   batch_size=batch_size, learning_rate=learning_rate,
                                   temperature=temperature, use_customer_id=customer_id, seed=seed)
    with report.TrainProgress(batch_size) as progress:
        run_dir = train_mod.train(Workspace.resolve(workspace), config, progress, report.console.print)
    report.train_summary(run_dir, json.loads((run_dir / "manifest.json").read_text()))


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="hmbatch")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
