"""Jobs: one per (source, k), named and seeded from the source id; bad sources rejected; fixed batches."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from ximagenet12_builder.generation.jobs import batches, mask_digest, plan_jobs
from ximagenet12_builder.sources import discover
from ximagenet12_builder.worker import SourceLoader

from ximagenet12.imageio import encode_png
from ximagenet12.synthetic import make_source_tree

from .conftest import WNIDS


def expected_seed(run_seed: int, source_id: str, k: int) -> int:
    """sha256 of (run seed, source id, "ai_bg", "generate:k") joined by unit separators, first 63 bits."""
    key = f"{run_seed}\x1f{source_id}\x1fai_bg\x1fgenerate:{k}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") >> 1


def test_one_job_per_source_and_k_named_as_the_build_pairs_them(sources: Path) -> None:
    jobs, rejected = plan_jobs(discover(sources), 3, 11, SourceLoader())
    assert rejected == []
    ids = [f"{w}_{n}" for w in WNIDS for n in (1, 2)]
    assert [(j.source.id, j.k, j.file) for j in jobs] == [
        (i, k, f"{i}.png" if k == 0 else f"{i}_{k}.png") for i in ids for k in range(3)
    ]
    assert [j.seed for j in jobs] == [expected_seed(11, i, k) for i in ids for k in range(3)]
    assert len({j.seed for j in jobs}) == len(jobs)
    assert {j.info.name for j in jobs} == {"red fox", "cello"}
    assert {j.size for j in jobs} == {(96, 128)}


def test_inputs_are_hashed_so_that_a_changed_source_or_mask_is_noticed(sources: Path) -> None:
    first = plan_jobs(discover(sources), 1, 0, SourceLoader())[0][0]
    image = Path(first.source.image)
    assert first.source_sha256 == hashlib.sha256(image.read_bytes()).hexdigest()
    mask_file = Path(first.source.mask)
    v7 = np.zeros((96, 128, 3), np.uint8)
    v7[10:20, 10:30, 0] = 255  # red on black, in RGB
    mask_file.write_bytes(encode_png(v7))
    again = plan_jobs(discover(sources), 1, 0, SourceLoader())[0][0]
    object_pixels = np.zeros((96, 128), np.uint8)
    object_pixels[10:20, 10:30] = 255
    assert again.mask_sha256 == hashlib.sha256(b"96x128:" + object_pixels.tobytes()).hexdigest()
    assert again.mask_sha256 != first.mask_sha256 and again.source_sha256 == first.source_sha256
    assert mask_digest(object_pixels) == again.mask_sha256


def test_unreadable_and_unpairable_sources_are_rejected_one_line_each(tmp_path: Path) -> None:
    root = tmp_path / "src"
    make_source_tree(root, n_per_class=2, wnids=WNIDS[:1], layout="labelme")
    folder = root / "images" / WNIDS[0]
    for suffix in (".JPEG", ".json"):
        (folder / f"{WNIDS[0]}_2{suffix}").rename(folder / f"fox_photo{suffix}")
    annotation = folder / f"{WNIDS[0]}_1.json"
    annotation.write_text(json.dumps({**json.loads(annotation.read_text()), "shapes": []}))
    jobs, rejected = plan_jobs(discover(root), 1, 0, SourceLoader())
    assert jobs == []
    reasons = {Path(r.file).name: r.reason for r in rejected}
    assert set(reasons) == {"fox_photo.JPEG", f"{WNIDS[0]}_1.json"}
    assert "source id 'n02119022_fox_photo' is not <wnid>_<number>" in reasons["fox_photo.JPEG"]
    assert reasons[f"{WNIDS[0]}_1.json"] == f"{annotation}: empty mask (no object pixels)"
    assert all("\n" not in r.reason for r in rejected)


def test_batches_group_one_working_size_in_order_and_do_not_depend_on_what_is_done(tmp_path: Path) -> None:
    root = tmp_path / "src"
    make_source_tree(root, n_per_class=3, wnids=WNIDS[:1], size=(96, 128))
    make_source_tree(root, n_per_class=2, wnids=WNIDS[1:], size=(64, 64))
    jobs, _ = plan_jobs(discover(root), 2, 0, SourceLoader())
    size_of = {(96, 128): (56, 72), (64, 64): (64, 64)}
    cut = batches(jobs, size_of, 4)
    assert [[(j.source.id, j.k) for j in batch] for batch in cut] == [
        [("n02119022_1", 0), ("n02119022_1", 1), ("n02119022_2", 0), ("n02119022_2", 1)],
        [("n02119022_3", 0), ("n02119022_3", 1)],
        [("n02992211_1", 0), ("n02992211_1", 1), ("n02992211_2", 0), ("n02992211_2", 1)],
    ]
    assert all(len({size_of[j.size] for j in batch}) == 1 for batch in cut)
