"""The `hmbatch` command line: parses options and calls one stage function per command."""

from __future__ import annotations

import errno
import functools
import sys
from pathlib import Path
from typing import Optional

import typer

from hmbatch.candidates import SOURCES, parse_quotas
from hmbatch.errors import HmbatchError, Interrupted
from hmbatch.ranker import RankerConfig
from hmbatch.train import TrainConfig
from hmbatch.workspace import Workspace, signal_received

TD, RD = TrainConfig(), RankerConfig()  # each option's default is its stage config's

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Top-12 fashion recommendations per customer from H&M-layout CSV files.")
WorkspaceOpt = typer.Option(None, "--workspace", "-w", help="Workspace folder "
                            "(default: $HMBATCH_WORKSPACE, else ./hmbatch-work).")


def os_error_message(exc: OSError) -> str:
    """One line for a file-system failure: what, where, and what to do."""
    where = f"{exc.filename}: " if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return f"{where}no space left on the device; free some space and run again (the previous state is kept)"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"{where}{exc.strerror}; choose a writable --workspace (the previous state is kept)"
    return f"{where}{exc.strerror or exc}"


def command(fn):
    """Registers a command whose project errors become one line and a non-zero exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from hmbatch.output import err_console
        try:
            return fn(*args, **kwargs)
        except (KeyboardInterrupt, Exception) as exc:
            if signal_received() or isinstance(exc, (KeyboardInterrupt, Interrupted)):
                err_console.print(f"[red]interrupted:[/red] stopped by {signal_received() or 'SIGINT'}; "
                                  "the previous state is kept", highlight=False)
                raise typer.Exit(130) from None
            if isinstance(exc, HmbatchError):
                message = str(exc)
            elif isinstance(exc, OSError):
                message = os_error_message(exc)
            else:
                raise
            from rich.markup import escape  # a message may hold brackets: hmbatch[ray], a path
            err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return app.command()(wrapper)


@command
def build_db(data_dir: Path = typer.Argument(..., help="Folder with the competition's CSV files."),
             workspace: Optional[Path] = WorkspaceOpt) -> None:
    """Build the DuckDB database from articles.csv, customers.csv and transactions_train.csv."""
    from hmbatch import data, output
    output.build_summary(data.build_db(data_dir, Workspace.resolve(workspace)))


@command
def synth(out_dir: Path = typer.Argument(..., help="Folder to write the CSV files into."),
          scale: str = typer.Option("small", help="tiny | small | medium | full"),
          seed: int = typer.Option(0, help="Random seed; the same seed gives identical files."),
          collections: float = typer.Option(0.0, help="Strength of the latent collections that "
                                            "baskets follow (0 = none, the same files as without "
                                            "the option; 1 = the documented rates; 2 = twice).")) -> None:
    """Write a synthetic H&M world (and its held-out week) in the competition's layout."""
    from hmbatch import output, synth as synth_mod
    if scale not in synth_mod.SCALES:
        raise HmbatchError(f"unknown scale {scale!r}: choose one of {', '.join(synth_mod.SCALES)}")
    if not collections >= 0:
        raise HmbatchError(f"--collections must be 0 or more (a strength), not {collections}")
    output.synth_summary(synth_mod.generate(out_dir, scale=scale, seed=seed,
                                            collections=collections), out_dir)


@command
def train(holdout_days: int = typer.Option(TD.holdout_days, min=0, help="Days at the end kept out for evaluate (0 = train on all)."),
          epochs: int = typer.Option(TD.epochs, min=1, help="Passes over the training examples."),
          weeks: int = typer.Option(TD.weeks, min=1, help="Weeks of purchases before the cut-off to train on."),
          dim: int = typer.Option(TD.dim, min=2, max=1024, help="Embedding size."),
          batch_size: int = typer.Option(TD.batch_size, min=2, help="Examples per step (in-batch negatives)."),
          learning_rate: float = typer.Option(TD.learning_rate, min=1e-6, max=1.0, help="Adam learning rate."),
          temperature: float = typer.Option(TD.temperature, min=1e-3, help="Softmax temperature of the retrieval loss."),
          customer_id: bool = typer.Option(TD.use_customer_id, help="Give each customer an id embedding "
                                           "(default: none; the customer is their attributes and purchases)."),
          id_shortcut: bool = typer.Option(TD.id_shortcut, help="Add each tower's id part (article id, pooled "
                                           "history) to its output, so the ids score directly."),
          half_life_weeks: float = typer.Option(TD.half_life_weeks, min=0.0, help="Weeks over which an example's weight "
                                                "halves, counted back from the cut-off (0 = equal weights)."),
          seed: int = typer.Option(TD.seed, help="Random seed."),
          warm_start: Optional[bool] = typer.Option(None, "--warm-start/--cold-start",
                                                    help="Continue the current run (its two-tower's weights, "
                                                    "the ranker's unchanged label weeks) or train from nothing; "
                                                    "default: continue when the current run has the same model "
                                                    "shape and a cut-off 0-4 whole weeks earlier."),
          ranker: str = typer.Option("lightgbm", help="lightgbm (the second stage) | none."),
          candidates: Optional[int] = typer.Option(None, "--candidates", min=12, max=300,
                                                   help="Candidates per customer for the ranker "
                                                   f"(default {RD.n_candidates}, or the current model's with --holdout-days 0)."),
          ranker_weeks: Optional[int] = typer.Option(None, "--ranker-weeks", min=2, max=12,
                                                     help=f"Label weeks the ranker trains on (default {RD.weeks})."),
          ranker_two_tower: Optional[bool] = typer.Option(None, "--ranker-two-tower/--no-ranker-two-tower",
                                                          help="Two-tower candidates and features in the ranker."),
          quota: Optional[list[str]] = typer.Option(None, "--quota", help="NAME=K: candidates per customer from "
                                                    "source NAME (repeatable; 0 turns it off; default: "
                                                    + ", ".join(f"{s.name}={s.quota}" for s in SOURCES) + ")."),
          workspace: Optional[Path] = WorkspaceOpt) -> None:
    """Train the two-tower model, then the ranker; export the FAISS index, embeddings and ranker."""
    import json
    from hmbatch import output, ranker as ranker_mod, train as train_mod
    quotas = parse_quotas(quota) or None
    config = train_mod.TrainConfig(holdout_days=holdout_days, weeks=weeks, epochs=epochs, dim=dim,
                                   batch_size=batch_size, learning_rate=learning_rate,
                                   temperature=temperature, use_customer_id=customer_id, id_shortcut=id_shortcut,
                                   half_life_weeks=half_life_weeks, seed=seed)
    with output.TrainProgress() as progress:
        run_dir = ranker_mod.train_run(Workspace.resolve(workspace), config, ranker, warm_start, progress,
                                       output.console.print, n_candidates=candidates, weeks=ranker_weeks,
                                       two_tower=ranker_two_tower, seed=seed, quotas=quotas)
    output.train_summary(run_dir, json.loads((run_dir / "manifest.json").read_text()))


StrategyOpt = typer.Option(None, help="ranker | blend | two-tower | repurchase | popular "
                           "(default: ranker when the model has one, else blend)")
StaleOpt = typer.Option(False, "--allow-stale", help="Use a model trained on an older database.")


@command
def evaluate(strategy: str = typer.Option("all", help="all, or one of ranker, blend, two-tower, repurchase, popular."),
             tune: bool = typer.Option(False, "--tune", help="Fit the weights on the held-out week."),
             json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
             submission: Optional[Path] = typer.Option(None, help="Score this submission CSV instead..."),
             truth: Optional[Path] = typer.Option(None, help="...against these true purchases "
                                                  "(transactions layout, e.g. heldout_transactions.csv)."),
             allow_stale: bool = StaleOpt, workspace: Optional[Path] = WorkspaceOpt) -> None:
    """Score every strategy and both baselines on the current model's held-out week."""
    import json
    from hmbatch import evaluate as evaluate_mod, output, retrieve
    if submission or truth:
        if not (submission and truth):
            raise HmbatchError("--submission and --truth go together: the file to score and the purchases")
        out = evaluate_mod.score_file(submission, truth)
        print(json.dumps(out)) if json_out else output.score_summary(out, submission, truth)
        return
    strategies = retrieve.STRATEGIES if strategy == "all" else (retrieve.check_strategy(strategy),)
    out = evaluate_mod.evaluate(Workspace.resolve(workspace), strategies, tune, allow_stale)
    print(json.dumps(out)) if json_out else output.evaluation(out)


@command
def query(customer_id: str = typer.Argument(..., help="The customer's id (64 hex digits in H&M data)."),
          k: int = typer.Option(12, "--k", help="How many articles."),
          strategy: Optional[str] = StrategyOpt,
          json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
          allow_stale: bool = StaleOpt, workspace: Optional[Path] = WorkspaceOpt) -> None:
    """Show one customer's top-k articles with names, scores and sources."""
    import json
    from hmbatch import query as query_mod, output
    out = query_mod.query(Workspace.resolve(workspace), customer_id, k, strategy, allow_stale)
    print(json.dumps(out)) if json_out else output.query_result(out)


@command
def submit(out: Optional[Path] = typer.Option(None, "--out", help="CSV path (default: in the workspace)."),
           strategy: Optional[str] = StrategyOpt, allow_stale: bool = StaleOpt,
           engine: str = typer.Option("local", help="local (this process) | ray (the cluster at "
                                      "$RAY_ADDRESS, else a local one); the file is the same."),
           workers: Optional[int] = typer.Option(None, "--workers", help="Ray actors "
                                                 "(default: this machine's cores, or the cluster's CPUs)."),
           workspace: Optional[Path] = WorkspaceOpt) -> None:
    """Write the competition's CSV: 12 articles for every customer."""
    from hmbatch import engine as engine_mod, output
    with output.ChunkProgress("submit") as progress:
        result = engine_mod.submit(Workspace.resolve(workspace), out, strategy, allow_stale, progress,
                                   engine, workers)
    output.submit_summary(result)


@command
def status(json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
           workspace: Optional[Path] = WorkspaceOpt) -> None:
    """The workspace at a glance: database, model runs, the current one, submissions."""
    import json
    from hmbatch import output, status as status_mod
    out = status_mod.status(Workspace.resolve(workspace))
    print(json.dumps(out)) if json_out else output.status(out)


@command
def report(out: Optional[Path] = typer.Option(None, "--out", help="HTML path (default: report.html "
                                              "in the current model's folder)."),
           allow_stale: bool = StaleOpt, workspace: Optional[Path] = WorkspaceOpt) -> None:
    """Write one self-contained HTML page about the current model (plots readable offline)."""
    from hmbatch import output, report as report_mod
    output.report_written(report_mod.build_report(Workspace.resolve(workspace), out, allow_stale))


@command
def run(data_dir: Path = typer.Argument(..., help="Folder with the raw files (as for build-db)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Submission CSV path (default: in the workspace)."),
        warm_start: Optional[bool] = typer.Option(None, "--warm-start/--cold-start",
                                                  help="Continue the earlier runs (default: when they can be)."),
        workspace: Optional[Path] = WorkspaceOpt) -> None:
    """The weekly cycle: build-db, train with a held-out week, evaluate --tune, train on all, submit, report."""
    from hmbatch import cycle, output
    hooks = cycle.Hooks(step=output.cycle_step, train_progress=output.TrainProgress,
                        submit_progress=lambda: output.ChunkProgress("submit"), log=output.console.print)
    output.cycle_summary(cycle.run(Workspace.resolve(workspace), data_dir, out, warm_start, hooks))


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="hmbatch")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
