"""Where `submit` computes its lists: in this process (`local`) or on Ray actors (`ray`).

The Ray engine shards the customers into blocks like the local loop's (`submit.CHUNK`, in
sample_submission order) and hands them to one actor per worker. Each actor opens the run's
artifacts read-only once (`serving.Serving.open`: database, FAISS index, embeddings, ranker)
from the workspace path, which every node must be able to read, and turns a block into its CSV
lines with `Serving.recommend`, the function behind the local loop: a customer's list does not
depend on the block it is served in, so the file is byte-identical. The driver writes the
blocks in order with `submit.write_submission` (temporary file, renamed at the end).

Plain actors with a small task queue rather than Ray Data: the blocks must come back in file
order to a single writer, the driver keeps the progress callback, and Ray restarts a dead actor
(`max_restarts`) and resends its unfinished blocks (`max_task_retries`) without us re-planning.
Ray is imported only here, and only when `--engine ray` is asked for.
"""

from __future__ import annotations

import os
import resource
import socket
import time
from pathlib import Path

from hmbatch import submit as submit_mod
from hmbatch.errors import HmbatchError, WorkspaceError
from hmbatch.retrieve import check_strategy
from hmbatch.serving import Serving
from hmbatch.workspace import Workspace, signals_as_interrupt

ENGINES = ("local", "ray")
RETRIES = 3        # restarts of a dead actor, and resends of each of its unfinished blocks
DEPTH = 2          # blocks queued per actor: one computing, the next already shipped
WINDOW = 4         # blocks per actor that may wait for the writer: bounds the driver's memory
CONNECT_TIMEOUT_S = 5.0
FAULT_ENV = "HMBATCH_RAY_FAULT"  # test only: "exit-after-first-block" kills actor 0 once


def submit(ws: Workspace, out: Path | None = None, strategy: str | None = None, allow_stale: bool = False,
           progress=None, engine: str = "local", workers: int | None = None, block: int | None = None) -> dict:
    """Writes the submission with the chosen engine; the file is the same with either.

    Args:
        ws: the workspace (with `ray`, a path every node of the cluster can read).
        out: the CSV path (default: WORKSPACE/submissions/submission-<model>-<strategy>.csv).
        strategy: one of retrieve.STRATEGIES (default: the ranker when the run has one, else blend).
        allow_stale: go on when the model was trained on another database.
        progress: optional callback(customers done, total).
        engine: `local` (this process) or `ray` (the cluster named by $RAY_ADDRESS, else a local
            one started for this run).
        workers: Ray actors (default: this machine's cores, or the cluster's CPUs).
        block: customers per Ray block (default submit.CHUNK, the local loop's; the file is the
            same with any).

    Returns:
        submit.submit's figures, plus `engine` and, with `ray`, a `ray` dict of timings.
    """
    if engine == "local":
        return {**submit_mod.submit(ws, out, strategy, allow_stale, progress), "engine": "local"}
    if engine != "ray":
        raise HmbatchError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if workers is not None and workers < 1:
        raise HmbatchError(f"--workers must be at least 1, not {workers}")
    if block is not None and block < 1:
        raise HmbatchError(f"a block holds at least 1 customer, not {block}")
    return submit_ray(ws, out, strategy, allow_stale, progress, workers, block or submit_mod.CHUNK)


def import_ray():
    """The `ray` module, or a one-line error naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise HmbatchError("--engine ray needs Ray, which is not installed: pip install 'hmbatch[ray]'") from None
    return ray


def submit_ray(ws: Workspace, out: Path | None, strategy: str, allow_stale: bool, progress,
               workers: int | None, block: int) -> dict:
    """`submit` on Ray actors; see the module's docstring."""
    if strategy:
        check_strategy(strategy)
    ray = import_ray()
    started = time.perf_counter()
    with signals_as_interrupt():
        with Serving.open(ws, allow_stale) as r:  # the stale check, the order and the run, once
            strategy = r.strategy(strategy)
            ids, idx = submit_mod.submission_customers(r)
        run = r.run_dir.name
        out = out or ws.submissions_dir / f"submission-{run}-{strategy}.csv"
        out.parent.mkdir(parents=True, exist_ok=True)
        timings = {"driver_open_s": time.perf_counter() - started}
        mark = time.perf_counter()
        try:
            started_here = start_ray(ray, workers)
            with signals_as_interrupt():  # again: ray.init replaces our SIGTERM handler
                timings["init_s"] = time.perf_counter() - mark
                n = workers or cluster_cpus(ray)
                stats = run_actors(ray, ws, run, strategy, allow_stale, ids, idx, out, progress, n, block)
        finally:
            if ray.is_initialized():
                ray.shutdown()  # stops the processes of a cluster we started; else disconnects
    result = submit_mod.summary(out, idx, started, run, strategy)
    ray_stats = {**timings, **stats, "workers": n, "started_cluster": started_here}
    return {**result, "engine": "ray", "ray": {k: round(v, 3) if isinstance(v, float) else v
                                               for k, v in ray_stats.items()}}


def start_ray(ray, workers: int | None) -> bool:
    """Connects to $RAY_ADDRESS, else starts a local cluster of `workers` CPUs; True if started."""
    address = os.environ.get("RAY_ADDRESS", "").strip()
    options = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    try:
        if address:
            check_reachable(address)
            ray.init(address=address, **{k: v for k, v in options.items() if k != "include_dashboard"})
            return False
        ray.init(address="local", num_cpus=workers or os.cpu_count() or 1, **options)
        return True
    except HmbatchError:
        raise
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError from Ray's start-up
        where = f"the Ray cluster at RAY_ADDRESS={address}" if address else "a local Ray cluster"
        hint = ""
        if address and os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
            hint = ("; if the cluster uses token authentication (the default of Ray >= 2.5x), set "
                    "RAY_AUTH_MODE=token and its token in ~/.ray/auth_token or $RAY_AUTH_TOKEN")
        raise HmbatchError(f"could not start or reach {where}: {first_line(exc)}{hint}") from None


def check_reachable(address: str) -> None:
    """Fails within CONNECT_TIMEOUT_S when host:port does not answer (Ray itself retries for minutes)."""
    if address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise HmbatchError(f"RAY_ADDRESS={address} is not HOST:PORT (or ray://HOST:PORT, auto)")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise HmbatchError(f"no Ray cluster answers at RAY_ADDRESS={address} ({exc.strerror or exc}); "
                           "start one with `ray start --head`, fix RAY_ADDRESS, or unset it to run "
                           "on a local cluster") from None


def cluster_cpus(ray) -> int:
    """The cluster's CPUs: the default number of workers."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_actors(ray, ws: Workspace, run: str, strategy: str, allow_stale: bool, ids, idx, out: Path,
               progress, n: int, block: int) -> dict:
    """Starts `n` actors, streams the blocks through them into `out`, and returns their figures."""
    remote = ray.remote(num_cpus=1, max_restarts=RETRIES, max_task_retries=RETRIES)(BlockWorker)
    fault = os.environ.get(FAULT_ENV, "")
    actors = [remote.remote(str(ws.root), allow_stale, strategy, run, rank, fault) for rank in range(n)]
    mark = time.perf_counter()
    loads = gather(ray, [a.ready.remote() for a in actors])
    load_s = time.perf_counter() - mark
    mark = time.perf_counter()
    feed = BlockFeed(ray, actors, ids, idx, block)
    submit_mod.write_submission(out, feed, len(idx), progress)
    run_s = time.perf_counter() - mark
    finals = gather(ray, [a.stats.remote() for a in actors])
    return {"load_s": load_s, "actor_load_s": max(x["load_s"] for x in loads), "run_s": run_s,
            "driver_wait_s": feed.wait_s, "blocks": feed.blocks,
            "worker_compute_s": [round(f["compute_s"], 2) for f in finals],
            "worker_blocks": [f["blocks"] for f in finals],
            "worker_peak_rss_mb": [round(f["peak_rss_mb"]) for f in finals],
            "restarted_actors": sum(f["incarnation"] for f in finals)}


def gather(ray, refs: list) -> list:
    """ray.get with Ray's errors turned into one line (the cause's own message when it is ours)."""
    try:
        return ray.get(refs)
    except Exception as exc:
        raise worker_error(ray, exc) from None


def worker_error(ray, exc: Exception) -> Exception:
    """The one-line error for a failure inside the Ray cluster."""
    cause = getattr(exc, "cause", None)
    if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(cause, HmbatchError):
        return HmbatchError(str(cause))
    if isinstance(exc, ray.exceptions.RayActorError):
        return HmbatchError(f"a Ray worker died and could not be restarted ({RETRIES} restarts at most): "
                            f"{first_line(exc)}; the previous submission is kept")
    if isinstance(exc, ray.exceptions.RayError):
        return HmbatchError(f"a Ray worker failed: {first_line(cause or exc)}; the previous submission is kept")
    return exc


class BlockFeed:
    """Iterates (customers done, CSV lines) in file order while keeping every actor busy.

    Each actor holds up to DEPTH blocks; a block goes to the first actor with room, so a slow or
    restarting actor gets fewer. Finished blocks wait in memory for the writer, at most
    WINDOW blocks per actor ahead of it.
    """

    def __init__(self, ray, actors: list, ids: list[str], idx, block: int):
        self.ray, self.actors, self.ids, self.idx, self.block = ray, actors, ids, idx, block
        self.starts = list(range(0, len(idx), block))
        self.blocks, self.wait_s = len(self.starts), 0.0
        self.pending: dict = {}          # ref -> (block number, actor position)
        self.load = [0] * len(actors)
        self.done: dict[int, str] = {}
        self.next_send = self.next_write = 0

    def _send(self) -> None:
        limit = self.next_write + WINDOW * len(self.actors)
        for pos, actor in enumerate(self.actors):
            while self.load[pos] < DEPTH and self.next_send < min(self.blocks, limit):
                start = self.starts[self.next_send]
                stop = start + self.block
                ref = actor.lines.remote(self.ids[start:stop], self.idx[start:stop])
                self.pending[ref] = (self.next_send, pos)
                self.load[pos] += 1
                self.next_send += 1

    def _receive(self) -> None:
        mark = time.perf_counter()
        ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=1.0)  # signals get through
        self.wait_s += time.perf_counter() - mark
        for ref in ready:
            block, pos = self.pending.pop(ref)
            self.load[pos] -= 1
            self.done[block] = gather(self.ray, [ref])[0]

    def __iter__(self):
        while self.next_write < self.blocks:
            self._send()
            if self.next_write in self.done:
                lines = self.done.pop(self.next_write)
                self.next_write += 1
                yield min(self.next_write * self.block, len(self.idx)), lines
            else:
                self._receive()


class BlockWorker:
    """A Ray actor: the run's artifacts opened once, turning blocks of customers into CSV lines.

    Args:
        root: the workspace path, as every node sees it.
        allow_stale, strategy: as for submit.
        run: the run the driver checked; a worker that finds another current run stops.
        rank: the actor's number.
        fault: test only ($HMBATCH_RAY_FAULT): "exit-after-first-block" makes actor 0's first
            incarnation exit while computing its second block, so that Ray restarts it and resends
            the block.
    """

    def __init__(self, root: str, allow_stale: bool, strategy: str, run: str, rank: int, fault: str):
        import ray
        started = time.perf_counter()
        self.r = Serving.open(Workspace(Path(root)), allow_stale)
        if self.r.run_dir.name != run:
            raise WorkspaceError(f"the current model changed from {run} to {self.r.run_dir.name} while "
                                 "submit was running; run submit again")
        self.strategy = self.r.strategy(strategy)  # opens the ranker once, before any block
        self.id_text = self.r.article_text()
        self.incarnation = int(ray.get_runtime_context().was_current_actor_reconstructed)
        self.fault = fault == "exit-after-first-block" and rank == 0 and not self.incarnation
        self.blocks, self.compute_s = 0, 0.0
        self.load_s = time.perf_counter() - started

    def ready(self) -> dict:
        return {"load_s": self.load_s, "pid": os.getpid()}

    def lines(self, customer_ids: list[str], customer_idx) -> str:
        """The CSV lines of one block (`Serving.recommend`, as the local loop)."""
        self.blocks += 1
        if self.fault and self.blocks == 2:
            os._exit(1)
        mark = time.perf_counter()
        text = submit_mod.format_lines(customer_ids, self.r.recommend(customer_idx, 12, self.strategy), self.id_text)
        self.compute_s += time.perf_counter() - mark
        return text

    def stats(self) -> dict:
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {"blocks": self.blocks, "compute_s": self.compute_s, "peak_rss_mb": peak_kb / 1024,
                "incarnation": self.incarnation}
