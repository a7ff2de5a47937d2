"""The embedded engine: shard jobs in this process, or in a pool of worker processes on this machine."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from ..worker import Progress, ShardJob, ShardResult, build_shard
from . import Finished, ShardFailed, one_line, stops_the_build

_QUEUE = None


def _init_worker(queue) -> None:
    global _QUEUE
    import cv2

    cv2.setNumThreads(1)
    _QUEUE = queue


def _run_in_worker(job: ShardJob) -> ShardResult:
    return build_shard(job, progress=_QUEUE.put if _QUEUE is not None else None)


def _ready() -> None:
    """A task that does nothing: submitting one makes the pool spawn a process while none is idle."""


class LocalEngine:
    """Runs shard jobs in this process (one worker) or in `workers` spawned processes."""

    def __init__(self, workers: int = 1):
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None
        self._queue = None

    def start(self, jobs: int) -> None:
        """Spawn the worker processes for up to `jobs` jobs now, so they start up while the driver plans.

        The pool serves one `run`, which stops it at the end; `close` stops it when no run comes.
        """
        if self._pool is not None or self.workers <= 1 or jobs <= 1:
            return
        ctx = multiprocessing.get_context("spawn")
        self._queue = ctx.Queue()
        size = min(self.workers, jobs)
        self._pool = ProcessPoolExecutor(
            max_workers=size, mp_context=ctx, initializer=_init_worker, initargs=(self._queue,)
        )
        for _ in range(size):
            self._pool.submit(_ready)

    def close(self) -> None:
        """Stop the worker processes, if any were started."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(self, jobs: Sequence[ShardJob], progress: Progress, finished: Finished) -> list[ShardResult]:
        """Run every job, rows reported per source; raise ShardFailed at the end if any job raised."""
        if self.workers <= 1 or len(jobs) <= 1:
            results, failures = self._run_here(jobs, progress, finished)
        else:
            self.start(len(jobs))
            results, failures = self._run_pool(jobs, progress, finished)
        if failures:
            raise ShardFailed(failures, jobs[0].num_shards)
        return results

    @staticmethod
    def _run_here(
        jobs: Sequence[ShardJob], progress: Progress, finished: Finished
    ) -> tuple[list[ShardResult], list[tuple[int, str]]]:
        import cv2

        results, failures = [], []
        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            for job in jobs:
                try:
                    result = build_shard(job, progress=progress)
                except Exception as exc:
                    if stops_the_build(exc):
                        raise
                    failures.append((job.index, one_line(exc)))
                    continue
                finished(result)
                results.append(result)
        finally:
            cv2.setNumThreads(threads)
        return results, failures

    def _run_pool(
        self, jobs: Sequence[ShardJob], progress: Progress, finished: Finished
    ) -> tuple[list[ShardResult], list[tuple[int, str]]]:
        assert self._pool is not None and self._queue is not None
        pool, queue = self._pool, self._queue

        def pump() -> None:
            while (message := queue.get()) != "stop":
                progress(message)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        results, failures = [], []
        try:
            futures = {pool.submit(_run_in_worker, job): job for job in jobs}
            for future in as_completed(futures):
                try:
                    result = future.result()
                except Exception as exc:
                    if stops_the_build(exc):
                        raise
                    failures.append((futures[future].index, one_line(exc)))
                    continue
                finished(result)
                results.append(result)
        finally:
            self.close()  # the processes exit first, so every progress message they sent is in the queue
            queue.put("stop")
            reader.join(timeout=10)
        return results, failures
