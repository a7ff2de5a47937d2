"""Shard jobs as Ray tasks: the same `build_shard` on any node of a cluster, the driver recording each result.

Every node must see SOURCES and --out at the same paths (a shared filesystem) and run the same code and
libraries as the driver; a task checks both before it writes, and refuses with a line saying which.
A task whose worker or node dies (killed, out of memory, node lost) is retried by Ray up to `max_retries`
times; an exception raised by the job itself is not retried, except the few that come from the machine
rather than the data (`SYSTEM_ERRORS`). A shard writes the same bytes wherever and however often it runs.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from ximagenet12 import manifest as mf
from ximagenet12.errors import XImageNet12Error
from ximagenet12.raycluster import NodeMismatch, check_identity, code_digest, connect, import_ray

from ..worker import Progress, ShardJob, ShardResult, build_shard
from . import Finished, ShardFailed, one_line, task_counts

# Raised by the machine a task ran on, not by its data: worth another attempt.
SYSTEM_ERRORS = (MemoryError, ConnectionError, TimeoutError)
MAX_RETRIES = 3
WARM_UP_LIMIT = 256  # worker processes started ahead of the shard tasks, at most


@cache
def code_identity() -> dict[str, str]:
    """Versions of the libraries the bytes depend on, and a digest of this package's code."""
    import ximagenet12_builder

    import ximagenet12

    from ..pipeline import build_versions

    return {**build_versions(), "code": code_digest(ximagenet12, ximagenet12_builder)}


def check_node(job: ShardJob, driver: dict[str, str]) -> None:
    """Refuse to build on a node that runs other code, or does not see this build's output and sources."""
    node = socket.gethostname()
    check_identity(driver, code_identity(), node)
    state_path = Path(job.out_dir) / mf.STATE_DIR / "plan.json"
    try:
        state = json.loads(state_path.read_text())
        current = state["fingerprints"][job.index] == job.fingerprint
    except (OSError, ValueError, KeyError, IndexError):
        current = False
    if not current:
        raise NodeMismatch(
            f"node {node} does not see {state_path} as the driver wrote it: "
            "--out must be on storage every node mounts at the same path"
        )
    if not Path(state["sources_root"]).is_dir():
        raise NodeMismatch(
            f"node {node} does not see the sources folder {state['sources_root']}: "
            "SOURCES must be on storage every node mounts at the same path"
        )


def build_shard_task(job: ShardJob, driver: dict[str, str]) -> ShardResult:
    """The body of one Ray task: check the node, then `build_shard(job)` as the local engine runs it."""
    import cv2

    check_node(job, driver)
    cv2.setNumThreads(1)
    return build_shard(job)


def _reason(exc: BaseException, ray) -> str:
    if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(exc.cause, BaseException):
        cause = exc.cause
        return str(cause) if isinstance(cause, XImageNet12Error) else one_line(cause)
    return f"{one_line(exc)} (after Ray's retries)"


def ready() -> None:
    """A task that does nothing: the worker process that runs it has imported the build code."""


class RayEngine:
    """Runs each shard job as a Ray task (one CPU each) on the cluster at `address`."""

    def __init__(self, address: str | None = None, *, max_retries: int = MAX_RETRIES):
        self.ray = import_ray()
        self.address = address
        self.max_retries = max_retries
        self._started = self._owns_connection = False
        self._warming: list = []

    def start(self) -> None:
        """Connect, and have each CPU of each node start a worker process now, while the driver plans."""
        ray = self.ray
        if not ray.is_initialized():
            connect(ray, self.address)
            self._owns_connection = True
        self._started = True
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        warm = ray.remote(num_cpus=1, max_retries=0)(ready)
        for node in ray.nodes():
            cpus = int(node["Resources"].get("CPU", 0)) if node["Alive"] else 0
            on_node = warm.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=True))
            self._warming += [on_node.remote() for _ in range(min(cpus, WARM_UP_LIMIT - len(self._warming)))]

    def close(self) -> None:
        """Collect the warm-up tasks and disconnect, if this engine connected."""
        ray = self.ray
        if self._warming:
            done, _ = ray.wait(self._warming, num_returns=len(self._warming), timeout=0)
            for ref in done:  # a failed warm-up says nothing the shard tasks will not say
                with contextlib.suppress(ray.exceptions.RayError):
                    ray.get(ref)
            self._warming = []
        if self._owns_connection:
            ray.shutdown()
            self._owns_connection = False
        self._started = False

    def run(self, jobs: Sequence[ShardJob], progress: Progress, finished: Finished) -> list[ShardResult]:
        """Submit every job as a task; record each result as its task ends; raise ShardFailed at the end."""
        ray = self.ray
        results: list[ShardResult] = []
        failures: list[tuple[int, str]] = []
        try:
            if not jobs:
                return []
            if not self._started:
                self.start()
            task = ray.remote(
                num_cpus=1,
                max_retries=self.max_retries,
                retry_exceptions=list(SYSTEM_ERRORS),
                scheduling_strategy="SPREAD",  # shards share no objects: use every node rather than the driver's
            )(build_shard_task)
            driver = code_identity()
            pending = {task.remote(job, driver): job for job in jobs}
            while pending:
                ready_refs, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready_refs:
                    job = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        failures.append((job.index, _reason(exc, ray)))
                        continue
                    progress(task_counts(job, result))
                    finished(result)
                    results.append(result)
        finally:
            self.close()
        if failures:
            raise ShardFailed(failures, jobs[0].num_shards)
        return results
