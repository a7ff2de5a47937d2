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


class LocalEngine:
    """Runs shard jobs in this process (one worker) or in `workers` spawned processes."""

    def __init__(self, workers: int = 1):
        self.workers = max(1, workers)

    def run(self, jobs: Sequence[ShardJob], progress: Progress, finished: Finished) -> list[ShardResult]:
        """Run every job, rows reported per source; raise ShardFailed at the end if any job raised."""
        if self.workers <= 1 or len(jobs) <= 1:
            results, failures = self._run_here(jobs, progress, finished)
        else:
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
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()

        def pump() -> None:
            while (message := queue.get()) != "stop":
                progress(message)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        results, failures = [], []
        try:
            with ProcessPoolExecutor(
                max_workers=min(self.workers, len(jobs)), mp_context=ctx, initializer=_init_worker, initargs=(queue,)
            ) as pool:
                futures = {pool.submit(_run_in_worker, job): job for job in jobs}
                for future in as_completed(futures):
                    try:
                        result = future.result()
                    except Exception as exc:
                        if stops_the_build(exc):
                            pool.shutdown(wait=True, cancel_futures=True)
                            raise
                        failures.append((futures[future].index, one_line(exc)))
                        continue
                    finished(result)
                    results.append(result)
        finally:
            queue.put("stop")
            reader.join(timeout=10)
        return results, failures
