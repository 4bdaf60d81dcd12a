"""`hmbatch run DATA_DIR`: the weekly cycle in one command.

build-db, a validation run with the last week held out, `evaluate --tune` on it (out of sample:
the blend is fitted on half the buyers and scored on the other half), the final run on every
week, submit and report. The runs continue each other (`train.warm_start`): the final run carries
the validation run's two-tower one week further and reuses the ranker's label weeks that did not
change, and next week's validation run starts from this week's final one, whose cut-off it shares.

The cycle is all or nothing: it stops at the first step that fails or is interrupted, names it,
and puts the previous database and current model back (the submission is only written, atomically,
by the fifth step), so the workspace answers as it did before the command.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hmbatch.workspace import Workspace, atomic_write_text, pause_point, remove_path, signals_as_interrupt

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
    with kept_state(ws, [ws.db_path] + ([Path(out).absolute()] if out else [])) as restore:
        for number, (name, action) in enumerate(zip(STEPS, actions), start=1):
            hooks.step(number, len(STEPS), name)
            started = time.perf_counter()
            try:
                with signals_as_interrupt():  # again each step: importing TensorFlow resets the handlers
                    pause_point(f"run:{number}")
                    results[name] = action()
            except BaseException:
                restore()
                hooks.log(f"hmbatch run: stopped at step {number}/{len(STEPS)} ({name}); the previous "
                          "database, current model and submission are kept")
                raise
            hooks.seconds[name] = round(time.perf_counter() - started, 2)
    return {"results": results, "seconds": hooks.seconds}


@contextlib.contextmanager
def kept_state(ws: Workspace, files: list[Path]):
    """Keeps `files` (hard links: no copy) and the CURRENT pointer as they are, and gives a
    function that puts them back (a file that did not exist is removed); the links are removed on
    the way out."""
    ws.make_writable()
    pointer = ws.models_dir / "CURRENT"
    current = pointer.read_text() if pointer.exists() else None
    kept = {path: ws.tmp_path("run-kept") if path.exists() else None for path in files}
    for path, link in kept.items():
        if link:
            os.link(path, link)

    def restore() -> None:
        for path, link in kept.items():
            if link:
                os.replace(link, path)
            else:
                remove_path(path)
        if current is None:
            remove_path(pointer)
        else:
            atomic_write_text(pointer, current)

    try:
        yield restore
    finally:
        for link in kept.values():
            if link:
                remove_path(link)
