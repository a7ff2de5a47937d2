"""Where a build's shard jobs run: the local process pool (the default) or the tasks of a Ray cluster.

An engine runs a list of `ShardJob`s with `build_shard` and returns their `ShardResult`s. It reports rows as
they are done through `progress` and hands each result to `finished` as soon as its task ends, on the
driver, so the driver records it at once (a killed build resumes from there). A shard whose job raises
is reported once, after the other jobs have finished, as one `ShardFailed`.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from typing import Protocol

from ximagenet12.errors import EXIT_FAULTS, XImageNet12Error, one_line
from ximagenet12.raycluster import ENGINES

from ..worker import Progress, ShardJob, ShardResult

__all__ = [
    "DISK_FULL", "ENGINES", "Engine", "Finished", "ShardFailed", "make_engine", "one_line", "stops_the_build",
    "task_counts",
]  # fmt: skip
DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
Finished = Callable[[ShardResult], None]


class Engine(Protocol):
    """Runs shard jobs; the driver keeps the lock, the plan, the records and the finalisation."""

    def run(self, jobs: Sequence[ShardJob], progress: Progress, finished: Finished) -> list[ShardResult]:
        """Run every job; call `progress` with row counts and `finished` with each result as it comes."""
        ...


class ShardFailed(XImageNet12Error):
    """Shard jobs that raised: each named once with its reason; the other shards are recorded."""

    exit_code = EXIT_FAULTS

    def __init__(self, failures: Sequence[tuple[int, str]], num_shards: int):
        by_reason: dict[str, list[int]] = {}
        for index, reason in sorted(failures):
            by_reason.setdefault(reason, []).append(index)
        parts = [
            f"shard{'s' if len(indices) > 1 else ''} {', '.join(map(str, indices))}: {reason}"
            for reason, indices in by_reason.items()
        ]
        super().__init__(
            f"{len(failures)} of {num_shards} shards failed ({'; '.join(parts)}); "
            "the other shards are recorded: fix the cause and rerun to finish"
        )
        self.failures = sorted(failures)


def stops_the_build(exc: BaseException) -> bool:
    """A full disk stops every shard alike: the build stops at once rather than reporting each shard."""
    return isinstance(exc, OSError) and exc.errno in DISK_FULL


def task_counts(job: ShardJob, result: ShardResult) -> dict[str, int]:
    """Rows a finished job wrote per config, and the planned rows it left out as `rejected`."""
    counts: dict[str, int] = {}
    for entry in result.files:
        counts[entry.config] = counts.get(entry.config, 0) + entry.num_rows
    left_out = sum(len(item.rows) for item in job.items) - sum(counts.values())
    if left_out:
        counts["rejected"] = left_out
    return counts


def make_engine(name: str, *, workers: int = 1, address: str | None = None) -> Engine:
    """The engine called `name` ("local" or "ray"); Ray is imported only here, and only for "ray"."""
    if name == "local":
        from .local import LocalEngine

        return LocalEngine(workers)
    if name == "ray":
        from .ray import RayEngine

        engine = RayEngine(address)
        engine.start()  # worker processes start on the cluster while the driver discovers and plans
        return engine
    raise XImageNet12Error(f"unknown engine {name!r}; known: {', '.join(ENGINES)}")
