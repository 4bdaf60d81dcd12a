"""`hmbatch run DATA_DIR`: the weekly cycle in one command.

build-db, a validation run with the last week held out, `evaluate --tune` on it (out of sample:
the blend is fitted on half the buyers and scored on the other half), the final run on every
week, submit and report. The runs continue each other (`train.warm_start`): the final run carries
the validation run's two-tower one week further and reuses the ranker's label weeks that did not
change, and next week's validation run starts from this week's final one, whose cut-off it shares.

Every step keeps the guarantees of its own command (atomic writes, the previous database, model
and submission kept on failure or interruption), and the cycle stops at the first step that fails,
naming it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hmbatch.workspace import Workspace

STEPS = ("build-db", "train --holdout-days 7", "evaluate --tune", "train --holdout-days 0", "submit", "report")
HOLDOUT_DAYS = 7


@dataclass
class Hooks:
    """What the command line shows around each step (all optional).

    Attributes:
        step: called with (number, total, name) when a step starts.
        train_progress: a context manager factory giving a training progress callback.
        submit_progress: a context manager factory giving a submit progress callback.
        log: one-line notes.
    """

    step: Callable[[int, int, str], None] = lambda i, n, name: None
    train_progress: Callable = None
    submit_progress: Callable = None
    log: Callable[[str], None] = print
    seconds: dict[str, float] = field(default_factory=dict)


def run(ws: Workspace, data_dir: Path, out: Path | None = None, warm: bool | None = None,
        hooks: Hooks | None = None) -> dict:
    """Runs the cycle; returns each step's result, its seconds and the step that failed, if any.

    Raises:
        HmbatchError: from the failing step, after `hooks.log` named it.
    """
    import contextlib
    from hmbatch import data, engine, evaluate, ranker, report, train
    hooks = hooks or Hooks()
    progress = hooks.train_progress or contextlib.nullcontext
    submit_progress = hooks.submit_progress or contextlib.nullcontext

    def fit(holdout_days: int) -> Path:
        with progress() as bar:
            return ranker.train_run(ws, train.TrainConfig(holdout_days=holdout_days), warm=warm, progress=bar,
                                    log=hooks.log)

    def submit() -> dict:
        with submit_progress() as bar:
            return engine.submit(ws, out, progress=bar)

    actions = (lambda: data.build_db(data_dir, ws), lambda: fit(HOLDOUT_DAYS),
               lambda: evaluate.evaluate(ws, do_tune=True), lambda: fit(0), submit,
               lambda: report.build_report(ws))
    results: dict = {}
    for number, (name, action) in enumerate(zip(STEPS, actions), start=1):
        hooks.step(number, len(STEPS), name)
        started = time.perf_counter()
        try:
            results[name] = action()
        except BaseException:
            hooks.log(f"hmbatch run: stopped at step {number}/{len(STEPS)} ({name}); the steps before it "
                      "are done, its own previous output is kept")
            raise
        hooks.seconds[name] = round(time.perf_counter() - started, 2)
    return {"results": results, "seconds": hooks.seconds}
