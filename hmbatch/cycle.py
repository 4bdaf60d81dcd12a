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
import multiprocessing
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hmbatch.errors import HmbatchError
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
    """Runs the cycle, each step in a child process of its own (so that the peak memory is the
    largest step's, whatever the steps before it left allocated: TensorFlow's graphs, DuckDB's
    buffers, the allocator's free lists); returns each step's result and its seconds.

    Raises:
        HmbatchError: from the failing step, after `hooks.log` named it.
    """
    hooks = hooks or Hooks()
    bars = {2: hooks.train_progress, 4: hooks.train_progress, 5: hooks.submit_progress}
    results: dict = {}
    with kept_state(ws, [ws.db_path] + ([Path(out).absolute()] if out else [])) as restore:
        for number, name in enumerate(STEPS, start=1):
            hooks.step(number, len(STEPS), name)
            started = time.perf_counter()
            try:
                with signals_as_interrupt():
                    pause_point(f"run:{number}")
                    with (bars.get(number) or contextlib.nullcontext)() as bar:
                        results[name] = in_child(number, ws, data_dir, out, warm, bar, hooks.log)
            except BaseException:
                restore()
                hooks.log(f"hmbatch run: stopped at step {number}/{len(STEPS)} ({name}); the previous "
                          "database, current model and submission are kept")
                raise
            hooks.seconds[name] = round(time.perf_counter() - started, 2)
    return {"results": results, "seconds": hooks.seconds}


def step(number: int, ws: Workspace, data_dir: Path, out: Path | None, warm: bool | None,
         progress=None, log: Callable[[str], None] = print):
    """Runs step `number` (1-based, of STEPS) in this process and returns its result."""
    from hmbatch import data, engine, evaluate, ranker, report, train
    if number == 1:
        return data.build_db(data_dir, ws)
    if number in (2, 4):
        holdout_days = HOLDOUT_DAYS if number == 2 else 0
        return ranker.train_run(ws, train.TrainConfig(holdout_days=holdout_days), warm=warm, progress=progress,
                                log=log)
    if number == 3:
        return evaluate.evaluate(ws, do_tune=True)
    if number == 5:
        return engine.submit(ws, out, progress=progress)
    return report.build_report(ws)


def in_child(number: int, ws: Workspace, data_dir: Path, out: Path | None, warm: bool | None,
             progress=None, log: Callable[[str], None] = print):
    """`step` in a fresh (spawned) child process: its progress and log lines come back through a
    pipe to `progress` and `log`, its result or its exception is this function's. An interrupt of
    this process is passed on to the child, and waits for it to put its own outputs back."""
    ctx = multiprocessing.get_context("spawn")  # a fork would copy the parent's threads and TensorFlow
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(number, ws.root, data_dir, out, warm, progress is not None, send,
                                              os.getpid()), name=f"hmbatch-run-{number}")
    child.start()
    send.close()
    try:
        while True:
            try:
                kind, *message = receive.recv()
            except EOFError:  # the child ended without a word: killed (out of memory?) or crashed
                child.join()
                raise HmbatchError(f"hmbatch run: step {STEPS[number - 1]} ended without a result (exit code "
                                   f"{child.exitcode}; a signal or the system's out-of-memory killer?)") from None
            if kind == "progress" and progress is not None:
                progress(*message)
            elif kind == "log":
                log(message[0])
            elif kind == "done":
                return message[0]
            elif kind == "error":
                raise message[0]
    except BaseException:
        if child.is_alive():
            child.terminate()  # SIGTERM: the step's own handler puts its partial outputs back
        raise
    finally:
        child.join()
        receive.close()


class _Sender:
    """The child's side of the progress pipe: a context manager and a callback, like the bars."""

    def __init__(self, send):
        self.send = send

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def __call__(self, *args):
        self.send(("progress", *args))


def _child(number: int, root: Path, data_dir: Path, out: Path | None, warm: bool | None, with_progress: bool,
           conn, parent: int) -> None:
    """The body of a step's child process (see `in_child`)."""
    def orphaned() -> None:  # a parent killed outright (SIGKILL) must not leave its step running
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=orphaned, daemon=True).start()
    with contextlib.suppress(OSError):  # a terminal's Ctrl-C reaches the parent alone, which passes it on once
        os.setpgid(0, 0)
    sender = _Sender(conn.send)
    try:
        with signals_as_interrupt():
            result = step(number, Workspace(Path(root)), data_dir, out, warm, sender if with_progress else None,
                          lambda text: conn.send(("log", str(text))))
        conn.send(("done", result))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        if not isinstance(exc, (HmbatchError, OSError, KeyboardInterrupt)):
            traceback.print_exc()  # a defect: its traceback here, where it happened
        try:
            conn.send(("error", exc))
        except OSError:  # the parent is gone: nobody to tell
            pass
        except Exception:  # noqa: BLE001 - an exception that does not pickle: its type and text instead
            with contextlib.suppress(OSError):
                conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()


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
