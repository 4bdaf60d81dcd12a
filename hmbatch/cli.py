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


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="hmbatch")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
