"""The workspace folder: database, model runs, submissions, the writer lock and atomic writes.

Layout::

    WORKSPACE/hmbatch.duckdb        the database built by build-db
    WORKSPACE/models/<run>/         one folder per training run
    WORKSPACE/models/CURRENT        the name of the current run (replaced atomically)
    WORKSPACE/submissions/          submissions written by submit
    WORKSPACE/tmp/                  work in progress; stale entries are removed by the next writer
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from hmbatch.errors import Interrupted, WorkspaceError

DEFAULT_WORKSPACE = "hmbatch-work"
DB_NAME = "hmbatch.duckdb"


@dataclass(frozen=True)
class Workspace:
    """Paths inside one workspace folder."""

    root: Path

    @classmethod
    def resolve(cls, workspace: Path | None) -> "Workspace":
        """Picks `--workspace`, else $HMBATCH_WORKSPACE, else ./hmbatch-work."""
        chosen = workspace or os.environ.get("HMBATCH_WORKSPACE") or DEFAULT_WORKSPACE
        return cls(Path(chosen).expanduser().absolute())

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def submissions_dir(self) -> Path:
        return self.root / "submissions"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def require_db(self) -> Path:
        """Returns the database path, or raises naming the command that makes it."""
        if not self.db_path.exists():
            raise WorkspaceError(
                f"no database in {self.root}: run `hmbatch build-db DATA_DIR` first "
                "(or pass --workspace / set HMBATCH_WORKSPACE)"
            )
        return self.db_path

    def current_model(self) -> Path:
        """Returns the current model folder, or raises naming `hmbatch train`."""
        pointer = self.models_dir / "CURRENT"
        if not pointer.exists():
            raise WorkspaceError(f"no trained model in {self.root}: run `hmbatch train` first")
        run = self.models_dir / pointer.read_text().strip()
        if not (run / "manifest.json").exists():
            raise WorkspaceError(f"the current model {run} is incomplete: run `hmbatch train` again")
        return run

    def set_current_model(self, run_dir: Path) -> None:
        """Points CURRENT at `run_dir` with an atomic rename."""
        atomic_write_text(self.models_dir / "CURRENT", run_dir.name + "\n")

    def make_writable(self) -> None:
        """Creates the folders, checks they are writable and removes stale temporary entries."""
        try:
            for folder in (self.root, self.models_dir, self.submissions_dir, self.tmp_dir):
                folder.mkdir(parents=True, exist_ok=True)
            probe = self.tmp_dir / f".probe-{os.getpid()}"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise WorkspaceError(f"workspace {self.root} is not writable: {exc.strerror}") from exc
        self._clean_stale_tmp()

    def _clean_stale_tmp(self) -> None:
        # Entries are named <kind>-<pid>-...; a dead pid means a run killed with SIGKILL.
        for entry in self.tmp_dir.iterdir():
            pid = _pid_of(entry.name)
            if pid is not None and pid != os.getpid() and not _pid_alive(pid):
                remove_path(entry)


    def tmp_path(self, kind: str, suffix: str = "") -> Path:
        """A fresh temporary path in the workspace (same file system as the final path)."""
        return self.tmp_dir / f"{kind}-{os.getpid()}-{time.time_ns()}{suffix}"

    @contextlib.contextmanager
    def writer_lock(self, command: str, wait_s: float = 0.0) -> Iterator[None]:
        """Holds the workspace's writer lock; a second writer waits `wait_s` then stops."""
        self.make_writable()
        handle = open(self.root / ".lock", "a+")
        try:
            _acquire(handle, self.root, command, wait_s)
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()} {command}\n")
            handle.flush()
            yield
        finally:
            handle.close()


def _acquire(handle, root: Path, command: str, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        if time.monotonic() >= deadline:
            handle.seek(0)
            holder = handle.read().strip() or "another hmbatch command"
            raise WorkspaceError(
                f"workspace {root} is busy (held by pid {holder}); wait for it to finish "
                f"or use --wait SECONDS with `{command}`"
            )
        time.sleep(0.2)


def _pid_of(name: str) -> int | None:
    parts = name.split("-")
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_path(path: Path) -> None:
    """Removes a file or folder if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def atomic_write_text(path: Path, text: str) -> None:
    """Writes `text` to `path` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


_interrupt_hooks: list = []
_received: list[str] = []


def signal_received() -> str | None:
    """The name of the SIGINT/SIGTERM that stopped this command, if one did."""
    return _received[-1] if _received else None


@contextlib.contextmanager
def on_interrupt(hook) -> Iterator[None]:
    """Calls `hook` (say, a DuckDB connection's `interrupt`) when SIGINT or SIGTERM arrives."""
    _interrupt_hooks.append(hook)
    try:
        yield
    finally:
        _interrupt_hooks.remove(hook)


@contextlib.contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """Turns SIGTERM (and SIGINT) into `Interrupted` so that cleanup code runs.

    Library code running at the time (DuckDB, TensorFlow) may turn the exception into its own
    error type; `signal_received()` tells the CLI that the cause was the signal.
    """

    def _raise(signum, _frame):
        name = signal.Signals(signum).name
        _received.append(name)
        for hook in list(_interrupt_hooks):
            with contextlib.suppress(Exception):
                hook()
        raise Interrupted(f"stopped by {name}; the previous state is kept")

    previous = {sig: signal.signal(sig, _raise) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def clean_dead_partials(target: Path) -> None:
    """Removes `.NAME.<pid>.tmp` files beside `target` left by a process killed with SIGKILL."""
    for entry in target.parent.glob(f".{target.name}.*.tmp"):
        pid = entry.name[len(target.name) + 2:-4]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            remove_path(entry)


PAUSE_ENV = "HMBATCH_PAUSE_AT"


def pause_point(name: str) -> None:
    """A test-only pause: when $HMBATCH_PAUSE_AT names this point, say so on stderr and wait.

    The reliability tests signal a command at a point it has certainly reached and cannot pass
    before the signal, on a fast machine or a loaded one; the signal handler of
    `signals_as_interrupt` ends the wait. Without the variable this costs one dict lookup.
    """
    if os.environ.get(PAUSE_ENV) != name:
        return
    print(f"hmbatch: paused at {name}", file=sys.stderr, flush=True)
    while True:
        time.sleep(0.05)
