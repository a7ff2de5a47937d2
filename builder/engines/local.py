"""The embedded engine: shard jobs in this process and, for more workers, in spawned processes beside it."""

from __future__ import annotations

import multiprocessing
import signal
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from ..worker import Progress, ShardJob, ShardResult, build_shard, release_loader
from . import Finished, ShardFailed, one_line, stops_the_build

_QUEUE = None


def _init_worker(queue) -> None:
    global _QUEUE
    import cv2

    if hasattr(signal, "pthread_sigmask"):  # a Ctrl-C held back while this process started (see start): dropped
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        signal.signal(signal.SIGINT, signal.default_int_handler)

    cv2.setNumThreads(1)
    _QUEUE = queue


def _run_in_worker(job: ShardJob) -> ShardResult:
    return build_shard(job, progress=_QUEUE.put if _QUEUE is not None else None)


@contextmanager
def _ctrl_c_held_back() -> Iterator[None]:
    """Block SIGINT in this thread: processes it starts inherit the mask and so start up without a traceback."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _ready() -> None:
    """A task that does nothing: submitting one makes the pool spawn a process while none is idle."""


class _Jobs:
    """The jobs not yet taken and what became of the others, shared by the driver and its feeder threads."""

    def __init__(self, jobs: Sequence[ShardJob], finished: Finished):
        self._pending = deque(jobs)
        self._finished = finished
        self._lock = threading.Lock()
        self.results: list[ShardResult] = []
        self.failures: list[tuple[int, str]] = []
        self.stop: BaseException | None = None  # an error that stops the build (a full disk)

    def take(self) -> ShardJob | None:
        with self._lock:
            return self._pending.popleft() if self._pending and self.stop is None else None

    def done(self, result: ShardResult) -> None:
        with self._lock:
            self._finished(result)
            self.results.append(result)

    def failed(self, job: ShardJob, exc: BaseException) -> None:
        with self._lock:
            if stops_the_build(exc):
                self.stop = self.stop or exc
            else:
                self.failures.append((job.index, one_line(exc)))

    def drop(self) -> None:
        with self._lock:
            self._pending.clear()


class LocalEngine:
    """Runs shard jobs on `workers` processes: this one, and `workers - 1` spawned beside it.

    The driver builds shards too, so a second worker costs one process start-up, not two. Jobs are taken one
    at a time, by whichever process is free: each job's bytes are the same whichever process builds it.
    """

    def __init__(self, workers: int = 1):
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None
        self._queue = None
        self._helpers = 0

    def start(self, jobs: int) -> None:
        """Spawn the helper processes for up to `jobs` jobs now, so they start up while the driver plans.

        The pool serves one `run`, which stops it at the end; `close` stops it when no run comes.
        """
        helpers = min(self.workers, jobs) - 1
        if self._pool is not None or helpers < 1:
            return
        ctx = multiprocessing.get_context("spawn")
        self._queue = ctx.Queue()
        self._helpers = helpers
        self._pool = ProcessPoolExecutor(
            max_workers=helpers, mp_context=ctx, initializer=_init_worker, initargs=(self._queue,)
        )
        with _ctrl_c_held_back():  # a Ctrl-C while they import would print a traceback in each
            for _ in range(helpers):
                self._pool.submit(_ready)  # the pool spawns a process per task while none is idle, in this thread

    def close(self) -> None:
        """Stop the helper processes, if any were started."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(self, jobs: Sequence[ShardJob], progress: Progress, finished: Finished) -> list[ShardResult]:
        """Run every job, rows reported per source; raise ShardFailed at the end if any job raised."""
        shared = _Jobs(jobs, finished)
        if self.workers > 1 and len(jobs) > 1:
            self.start(len(jobs))
            self._run_with_helpers(shared, progress)
        else:
            self._run_here(shared, progress)
        if shared.stop is not None:
            raise shared.stop
        if shared.failures:
            raise ShardFailed(shared.failures, jobs[0].num_shards)
        return shared.results

    @staticmethod
    def _run_here(shared: _Jobs, progress: Progress) -> None:
        """Build jobs in this process until none is left."""
        import cv2

        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            while (job := shared.take()) is not None:
                try:
                    result = build_shard(job, progress=progress)
                except Exception as exc:
                    if stops_the_build(exc):
                        raise
                    shared.failed(job, exc)
                    continue
                shared.done(result)
        finally:
            cv2.setNumThreads(threads)
            release_loader()  # the driver goes on to finalise: its decoded images would only take memory

    def _run_with_helpers(self, shared: _Jobs, progress: Progress) -> None:
        """Build jobs here while one feeder thread per helper process keeps that process on a job of its own."""
        assert self._pool is not None and self._queue is not None
        pool, queue = self._pool, self._queue
        lock = threading.Lock()

        def report(message: dict[str, int]) -> None:
            with lock:
                progress(message)

        def pump() -> None:
            while (message := queue.get()) != "stop":
                report(message)

        def feed() -> None:
            while (job := shared.take()) is not None:
                try:
                    shared.done(pool.submit(_run_in_worker, job).result())
                except BaseException as exc:  # the job's, or recording its result's (a full disk)
                    shared.failed(job, exc)
                    # The helper died (killed, out of memory) or was interrupted (Ctrl-C reaches the whole
                    # process group, so the driver stops too): it takes no more jobs, the driver goes on.
                    if isinstance(exc, BrokenProcessPool) or not isinstance(exc, Exception):
                        return

        reader = threading.Thread(target=pump, daemon=True)
        feeders = [threading.Thread(target=feed, daemon=True) for _ in range(self._helpers)]
        reader.start()
        for feeder in feeders:
            feeder.start()
        try:
            self._run_here(shared, report)
            for feeder in feeders:
                feeder.join()
        finally:
            shared.drop()
            self.close()  # the processes exit first, so every progress message they sent is in the queue
            queue.put("stop")
            reader.join(timeout=10)
