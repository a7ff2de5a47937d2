"""What to generate: one job per (source, k), its file name and seed, its inputs' hashes, and fixed batches.

Batches are a pure function of the job list (jobs of one working size, in id order, cut every B), never of
what is already done, so a resumed run makes each image in the same batch as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ximagenet12.classes import ClassInfo
from ximagenet12.masks import MaskError

from ..plan import row_seed
from ..sources import SOURCE_ID, Inventory, Rejected, Source
from ..worker import SourceLoader
from .records import image_name

SCENARIO = "ai_bg"


@dataclass(frozen=True)
class Job:
    """Image `k` of a source: its file name, seed, class and what its inputs hash to."""

    source: Source
    info: ClassInfo
    k: int
    file: str
    seed: int
    size: tuple[int, int]  # the source's (height, width)
    source_sha256: str
    mask_sha256: str


def image_seed(run_seed: int, source_id: str, k: int) -> int:
    """The seed of image `k` of a source: from the run's seed and the source id, as the build seeds rows."""
    return row_seed(run_seed, source_id, SCENARIO, f"generate:{k}")


def mask_digest(mask: np.ndarray) -> str:
    """sha256 of a decoded 0/255 mask with its shape, whatever file format it came from."""
    height, width = mask.shape
    return hashlib.sha256(f"{height}x{width}:".encode() + np.ascontiguousarray(mask).tobytes()).hexdigest()


def plan_jobs(
    inventory: Inventory, per_source: int, run_seed: int, loader: SourceLoader
) -> tuple[list[Job], list[Rejected]]:
    """Every job, sorted by (source id, k); sources that cannot be read or paired are rejected, one line each."""
    classes = {c.wnid: c for c in inventory.classes}
    jobs: list[Job] = []
    rejected: list[Rejected] = []
    for source in sorted(inventory.sources, key=lambda s: s.id):
        if not SOURCE_ID.fullmatch(source.id):
            rejected.append(Rejected(
                source.image, f"source id {source.id!r} is not <wnid>_<number>: the build could not pair an image "
                "generated from it", "generate",
            ))
            continue
        try:
            loaded = loader.source(source)
        except MaskError as exc:
            rejected.append(Rejected(source.mask, str(exc), "mask"))
            continue
        except (OSError, ValueError) as exc:
            rejected.append(Rejected(source.image, str(exc), "decode"))
            continue
        source_sha = hashlib.sha256(loaded.data).hexdigest()
        mask_sha = mask_digest(loaded.mask)
        size = (int(loaded.rgb.shape[0]), int(loaded.rgb.shape[1]))
        for k in range(per_source):
            jobs.append(Job(
                source, classes[source.wnid], k, image_name(source.id, k), image_seed(run_seed, source.id, k),
                size, source_sha, mask_sha,
            ))
    return jobs, rejected


def batches(jobs: list[Job], size_of: dict[tuple[int, int], tuple[int, int]], batch_size: int) -> list[list[Job]]:
    """Jobs grouped by working size (`size_of` maps a source size to it), in order, cut every `batch_size`."""
    groups: dict[tuple[int, int], list[Job]] = {}
    for job in jobs:
        groups.setdefault(size_of[job.size], []).append(job)
    return [group[i : i + batch_size] for group in groups.values() for i in range(0, len(group), batch_size)]
