"""End to end as a user runs it: the command loads the model by repo id from a (loopback) Hub in a fresh process,
its output feeds `ximagenet12 build --configs ai_bg`, and `datasets` loads the rows."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from ximagenet12_builder.generation import RECORDS_NAME, read_generation_records
from ximagenet12_builder.pipeline import BuildOptions, run_build

from tests.hub_server import HubServer, run_with_hub
from ximagenet12 import imageio
from ximagenet12 import manifest as mf
from ximagenet12.errors import EXIT_NOT_FOUND
from ximagenet12.masks import load_mask

from .conftest import MODEL_REPO, WNIDS

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys
import torch
from ximagenet12_builder.cli import main

sources, out, other, commit = sys.argv[1:5]
common = ["--model", "ns/tiny-sdxl-inpaint", "--steps", "2", "--per-source", "2", "--batch-size", "2", "--seed", "3"]
quiet = [*common, "--no-progress"]
emit({"cuda": torch.cuda.is_available()})
emit({"first": main(["generate-backgrounds", sources, "--out", out, *common])})
print("@@ again", flush=True)
emit({"again": main(["generate-backgrounds", sources, "--out", out, *quiet])})
print("@@ pinned", flush=True)
emit({"pinned": main(["generate-backgrounds", sources, "--out", out, *quiet, "--revision", commit])})
print("@@ elsewhere", flush=True)
emit({"elsewhere": main(["generate-backgrounds", sources, "--out", other, *quiet])})
emit({"absent": main(["generate-backgrounds", sources, "--out", other, "--model", "ns/absent", "--no-progress"])})
emit({"bad_revision": main(["generate-backgrounds", sources, "--out", other, *quiet, "--revision", "v9"])})
"""


def test_generate_from_the_hub_then_build_and_load_ai_bg(model_hub: HubServer, sources: Path, tmp_path: Path) -> None:
    out, other = sources / "ai_backgrounds", tmp_path / "elsewhere"
    commit = model_hub.commits(MODEL_REPO, repo_type="model")[-1].oid
    run = run_with_hub(SCRIPT, model_hub, args=[str(sources), str(out), str(other), commit], cwd=REPO_ROOT,
                       env={"OMP_NUM_THREADS": "1"}, timeout=900)
    codes = {k: v for result in run.results for k, v in result.items()}
    assert codes == {"cuda": codes["cuda"], "first": 0, "again": 0, "pinned": 0, "elsewhere": 0,
                     "absent": EXIT_NOT_FOUND, "bad_revision": EXIT_NOT_FOUND}
    first, again, pinned, elsewhere = run.stdout.split("@@ ")
    assert "made 8, already made 0, skipped 0" in first
    assert f"model {MODEL_REPO} @ {commit} (StableDiffusionXLInpaintPipeline) on cpu in fp32" in first
    if not codes["cuda"]:
        assert "warning: no GPU in use: 8 images on the CPU" in first
    assert "made 0, already made 8, skipped 0" in again and "made 0, already made 8, skipped 0" in pinned
    assert "made 8, already made 0" in elsewhere
    errors = [line for line in run.stderr.splitlines() if line.startswith("ximagenet12 generate-backgrounds: error:")]
    assert errors == [
        f"ximagenet12 generate-backgrounds: error: --model ns/absent: no such model repo at {model_hub.url}, or not "
        "visible with this token; give a Hub repo id or a local folder",
        f"ximagenet12 generate-backgrounds: error: --revision v9: not a revision of {MODEL_REPO} at {model_hub.url}",
    ]
    bar = [chunk for chunk in run.stderr.replace("\r", "\n").splitlines() if chunk.startswith("generate: 100%")]
    assert bar and ("img/s" in bar[-1] or "s/img" in bar[-1]) and "8/8" in bar[-1]

    records = read_generation_records(out)
    names = sorted(f"{w}_{n}{k}.png" for w in WNIDS for n in (1, 2) for k in ("", "_1"))
    assert sorted(records) == names
    for record in records.values():
        assert record["model"] == {"id": MODEL_REPO, "revision": commit, "origin": "hub",
                                   "pipeline": "StableDiffusionXLInpaintPipeline"}
    assert {p.name: p.read_bytes() for p in out.glob("*.png")} == {p.name: p.read_bytes() for p in other.glob("*.png")}

    build = tmp_path / "build"
    report = run_build(BuildOptions(sources=sources, out=build, configs=("ai_bg",), progress=False))
    assert report.complete and report.num_rows == 8
    assert report.faults == []
    manifest = mf.read_manifest(build)
    assert manifest.sources.generation_models == (f"{MODEL_REPO}@{commit}",)
    assert f"`{MODEL_REPO}@{commit}`" in (build / "README.md").read_text()
    from datasets import load_dataset

    rows = [row for split in ("train", "test") for row in load_dataset(str(build), "ai_bg", split=split)]
    streamed = [row["background_id"] for split in ("train", "test")
                for row in load_dataset(str(build), "ai_bg", split=split, streaming=True)]
    assert sorted(row["background_id"] for row in rows) == sorted(streamed) == [n[:-4] for n in names]
    for row in rows:
        wnid = row["source_id"].split("_")[0]
        made = imageio.read_rgb(str(out / f"{row['background_id']}.png")).rgb
        stored = np.asarray(row["image"].convert("RGB"))
        assert stored.shape == made.shape
        # stored as JPEG q95 with 4:2:0 chroma, which a random model's pixel noise does not survive: compare luma
        luma = [cv2.cvtColor(picture, cv2.COLOR_RGB2YCrCb)[..., 0].astype(int) for picture in (stored, made)]
        assert np.abs(luma[0] - luma[1]).mean() < 2
        source = imageio.read_rgb(str(sources / "image" / wnid / f"{row['source_id']}.JPEG")).rgb
        mask = load_mask(sources / "masks" / wnid / f"{row['source_id']}.png", expected_shape=source.shape)
        np.testing.assert_array_equal(np.asarray(row["mask"]), mask)
        np.testing.assert_array_equal(made[mask > 0], source[mask > 0])
        params = json.loads(row["params"])
        assert params["seed"] >= 0
        record = records[f"{row['background_id']}.png"]
        made_with = params["generation"]
        assert made_with["model"] == record["model"] and made_with["seed"] == record["seed"]
        assert made_with["prompt"] == record["prompt"] and made_with["sha256"] == record["sha256"]
        assert made_with["scheduler"] == record["scheduler"]["class"]
    assert (out / RECORDS_NAME).is_file()
