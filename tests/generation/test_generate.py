"""`generate_backgrounds` with tiny random pipelines loaded from local folders: pixels, records, resume, trust."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from ximagenet12_builder.generation import (
    RECORDS_NAME,
    GenerationOptions,
    generate_backgrounds,
    read_generation_records,
)
from ximagenet12_builder.generation.prompts import DEFAULT_NEGATIVE_PROMPT, DEFAULT_PROMPT

from ximagenet12 import imageio
from ximagenet12.errors import DataError, XImageNet12Error
from ximagenet12.masks import load_mask

from .conftest import WNIDS
from .test_jobs import expected_seed

pytestmark = pytest.mark.slow

NAMES = {"n02119022": "red fox", "n02992211": "cello"}
IDS = [f"{w}_{n}" for w in WNIDS for n in (1, 2)]


def run(sources: Path, out: Path, model: Path, logs: list[str] | None = None, **options):
    options = {"steps": 2, "seed": 5, **options}
    opts = GenerationOptions(sources=sources, out=out, model=str(model), progress=False, **options)
    return generate_backgrounds(opts, log=(logs if logs is not None else []).append)


def test_steps_that_the_strength_rounds_to_none_are_one_line_before_any_image(
    sources: Path, tiny_sdxl: Path, tmp_path: Path
) -> None:
    """SDXL inpainting's strength is 0.9999: one step would be int(0.9999) = 0 steps, which diffusers refuses."""
    out = tmp_path / "out"
    with pytest.raises(XImageNet12Error, match=r"^--steps 1: .* = 0 steps; use --steps 2 or more$"):
        run(sources, out, tiny_sdxl, steps=1)
    assert not out.exists() or not images(out)
    assert len(run(sources, out, tiny_sdxl, steps=2).made) == 4


def source_pixels(sources: Path, source_id: str) -> tuple[np.ndarray, np.ndarray]:
    wnid = source_id.split("_")[0]
    image = imageio.read_rgb(str(sources / "image" / wnid / f"{source_id}.JPEG")).rgb
    return image, load_mask(sources / "masks" / wnid / f"{source_id}.png", expected_shape=image.shape)


def snapshot(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


def images(out: Path | dict[str, bytes]) -> dict[str, bytes]:
    files = snapshot(out) if isinstance(out, Path) else out
    return {name: data for name, data in files.items() if name != RECORDS_NAME}


def without_timing(out: Path | dict[str, bytes]) -> list[dict]:
    text = (out / RECORDS_NAME).read_bytes() if isinstance(out, Path) else out[RECORDS_NAME]
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in text.splitlines()]


def test_objects_are_kept_exactly_and_every_image_has_a_complete_record(
    sources: Path, tiny_sdxl: Path, tmp_path: Path
) -> None:
    import diffusers
    import torch

    out = tmp_path / "ai_backgrounds"
    logs: list[str] = []
    report = run(sources, out, tiny_sdxl, logs, per_source=2, batch_size=2)
    names = [f"{i}.png" for i in IDS] + [f"{i}_1.png" for i in IDS]
    assert sorted(report.made) == sorted(names) and report.rejected == [] and report.already == []
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, RECORDS_NAME])
    records = read_generation_records(out)
    assert sorted(records) == sorted(names)
    for name, record in records.items():
        source_id = name[: len("n02119022_1")]
        image, mask = source_pixels(sources, source_id)
        made = imageio.read_rgb(str(out / name)).rgb
        assert made.shape == image.shape
        np.testing.assert_array_equal(made[mask > 0], image[mask > 0])
        assert (made[mask == 0] != image[mask == 0]).any(axis=1).mean() > 0.9  # the background is new
        wnid, k = source_id.split("_")[0], 0 if name == f"{source_id}.png" else 1
        assert record["source_id"] == source_id and record["wnid"] == wnid and record["k"] == k
        assert record["class_name"] == NAMES[wnid]
        assert record["prompt"] == DEFAULT_PROMPT.replace("{name}", NAMES[wnid])
        assert record["prompt_template"] == DEFAULT_PROMPT
        assert record["negative_prompt"] == DEFAULT_NEGATIVE_PROMPT
        assert record["seed"] == expected_seed(5, source_id, k) and record["run_seed"] == 5
        assert record["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()
        wnid_dir = sources / "image" / wnid
        assert record["source_sha256"] == hashlib.sha256((wnid_dir / f"{source_id}.JPEG").read_bytes()).hexdigest()
        assert record["model"]["id"] == str(tiny_sdxl.resolve()) and record["model"]["origin"] == "local"
        assert record["model"]["pipeline"] == "StableDiffusionXLInpaintPipeline"
        assert record["model"]["revision"].startswith("sha256:")
        assert record["scheduler"]["class"] == "EulerDiscreteScheduler"
        assert record["scheduler"]["config"]["timestep_spacing"] == "leading"
        assert (record["steps"], record["guidance"], record["strength"]) == (2, 7.5, 0.9999)
        assert (record["precision"], record["device"], record["batch_size"]) == ("fp32", "cpu", 2)
        # native 32 latents x 2 = 64 px, multiples of lcm(8, 2 x 2) = 8: 96x128 scaled by 64 / sqrt(96 x 128)
        # = 0.5774 gives 55.4 -> 56 and 73.9 -> 72; one latent cell (2 px) of dilation.
        assert record["sizes"] == {"source": [96, 128], "generated": [56, 72], "output": [96, 128]}
        assert record["mask_dilation_px"] == 2
        assert record["versions"]["diffusers"] == diffusers.__version__
        assert record["versions"]["torch"] == torch.__version__.split("+")[0]
        assert record["seconds"] > 0
    assert len({r["settings_fingerprint"] for r in records.values()}) == 1
    if not torch.cuda.is_available():
        assert logs[0].startswith("warning: no GPU in use: 8 images on the CPU")


def test_a_rerun_skips_and_a_killed_run_resumes_to_the_same_bytes(sources: Path, tiny_sdxl: Path,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "ai_backgrounds"
    run(sources, out, tiny_sdxl, per_source=2, batch_size=2)
    first = snapshot(out)
    again = run(sources, out, tiny_sdxl, per_source=2, batch_size=2)
    assert again.made == [] and len(again.already) == 8
    assert snapshot(out) == first

    # killed after recording n02119022_2_1.png and before writing it, then mid-way through the next record
    (out / "n02119022_2_1.png").unlink()
    with open(out / RECORDS_NAME, "a") as f:
        f.write(json.dumps(json.loads(first[RECORDS_NAME].splitlines()[0]))[:40])
    resumed = run(sources, out, tiny_sdxl, per_source=2, batch_size=2)
    assert resumed.made == ["n02119022_2_1.png"] and len(resumed.already) == 7
    assert resumed.notes == [f"{out / RECORDS_NAME}:9: dropped a record cut off by an interrupted run"]
    assert images(out) == images(first)  # the same bytes: made again in the same batch
    assert without_timing(out) == without_timing(first)  # and the records compacted back

    elsewhere = run(sources, tmp_path / "again", tiny_sdxl, per_source=2, batch_size=2)
    assert len(elsewhere.made) == 8
    assert images(tmp_path / "again") == images(first)


def test_changed_settings_or_inputs_remake_only_what_they_touch(sources: Path, tiny_sdxl: Path,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "ai_backgrounds"
    run(sources, out, tiny_sdxl)
    before = snapshot(out)
    moved = Path(shutil.copytree(tiny_sdxl, tmp_path / "the-same-model-elsewhere"))
    assert run(sources, out, moved).made == []  # a local model is known by its files, not by its path
    v7 = np.zeros((96, 128, 3), np.uint8)
    v7[20:70, 30:90, 0] = 255
    (sources / "masks" / WNIDS[1] / f"{WNIDS[1]}_2.png").write_bytes(imageio.encode_png(v7))
    changed = run(sources, out, tiny_sdxl)
    assert changed.made == [f"{WNIDS[1]}_2.png"] and len(changed.already) == 3
    made = imageio.read_rgb(str(out / f"{WNIDS[1]}_2.png")).rgb
    image = imageio.read_rgb(str(sources / "image" / WNIDS[1] / f"{WNIDS[1]}_2.JPEG")).rgb
    np.testing.assert_array_equal(made[20:70, 30:90], image[20:70, 30:90])

    more_steps = run(sources, out, tiny_sdxl, steps=3)
    assert len(more_steps.made) == 4
    assert all(before[name] != (out / name).read_bytes() for name in before if name != RECORDS_NAME)
    lines = (out / RECORDS_NAME).read_text().splitlines()
    assert len(lines) == 4 and {json.loads(line)["steps"] for line in lines} == {3}


def test_files_it_did_not_write_are_never_overwritten(sources: Path, tiny_sdxl: Path, tmp_path: Path) -> None:
    out = tmp_path / "ai_backgrounds"
    out.mkdir()
    foreign = out / f"{WNIDS[0]}_1.png"
    foreign.write_bytes(b"made by hand in Playground AI")
    (out / "notes.txt").write_text("mine")
    report = run(sources, out, tiny_sdxl)
    assert foreign.read_bytes() == b"made by hand in Playground AI" and (out / "notes.txt").read_text() == "mine"
    assert sorted(report.made) == [f"{i}.png" for i in IDS[1:]]
    assert [(r.file, r.reason) for r in report.rejected] == [(str(foreign), (
        "exists and was not written by generate-backgrounds (no matching record in generation.jsonl); "
        "move it away to generate this image"))]

    edited = out / f"{WNIDS[1]}_1.png"
    edited.write_bytes(edited.read_bytes() + b"touched")
    touched = edited.read_bytes()
    remade = run(sources, out, tiny_sdxl, steps=3)
    assert edited.read_bytes() == touched
    assert sorted(remade.made) == [f"{WNIDS[0]}_2.png", f"{WNIDS[1]}_2.png"]
    assert sorted(Path(r.file).name for r in remade.rejected) == [f"{WNIDS[0]}_1.png", f"{WNIDS[1]}_1.png"]
    # the edited image keeps its record, which tells the build the image changed after generation
    assert sorted(read_generation_records(out, check_files=False)) == sorted(f"{i}.png" for i in IDS[1:])
    errors: list[str] = []
    assert sorted(read_generation_records(out, errors=errors)) == [f"{WNIDS[0]}_2.png", f"{WNIDS[1]}_2.png"]
    assert errors == [f"{edited}: sha256 differs from its record (generation.jsonl line 2): changed after generation"]


def test_a_records_file_it_did_not_write_stops_the_run(sources: Path, tiny_sdxl: Path, tmp_path: Path) -> None:
    out = tmp_path / "ai_backgrounds"
    out.mkdir()
    (out / RECORDS_NAME).write_text("my own notes\n")
    with pytest.raises(DataError, match=f"^{out / RECORDS_NAME}:1: not a JSON record; not a file "
                                        "generate-backgrounds wrote$"):
        run(sources, out, tiny_sdxl)
    assert sorted(p.name for p in out.iterdir()) == [RECORDS_NAME]


def test_bad_inputs_are_reported_and_the_rest_goes_on(sources: Path, tiny_sdxl: Path, tmp_path: Path) -> None:
    (sources / "masks" / WNIDS[0] / f"{WNIDS[0]}_1.png").unlink()
    empty = sources / "masks" / WNIDS[1] / f"{WNIDS[1]}_2.png"
    empty.write_bytes(imageio.encode_png(np.zeros((96, 128, 3), np.uint8)))
    report = run(sources, tmp_path / "ai_backgrounds", tiny_sdxl)
    assert sorted(report.made) == [f"{WNIDS[0]}_2.png", f"{WNIDS[1]}_1.png"]
    reasons = {Path(r.file).name: r.reason for r in report.rejected}
    assert reasons == {
        f"{WNIDS[0]}_1.JPEG": f"missing mask: looked for standard_masks/{WNIDS[0]}/{WNIDS[0]}_1.png or "
                              f"masks/{WNIDS[0]}/{WNIDS[0]}_1.png",
        f"{WNIDS[1]}_2.png": f"{empty}: empty mask (no object pixels)",
    }


def test_an_sd15_style_inpainting_pipeline_works_the_same_way(sources: Path, tiny_sd: Path, tmp_path: Path) -> None:
    out = tmp_path / "ai_backgrounds"
    report = run(sources, out, tiny_sd, batch_size=3, prompt="a {name} ({wnid}) in a field")
    assert sorted(report.made) == [f"{i}.png" for i in IDS]
    for name, record in read_generation_records(out).items():
        image, mask = source_pixels(sources, record["source_id"])
        made = imageio.read_rgb(str(out / name)).rgb
        np.testing.assert_array_equal(made[mask > 0], image[mask > 0])
        assert record["model"]["pipeline"] == "StableDiffusionInpaintPipeline"
        assert record["scheduler"]["class"] == "DDIMScheduler" and record["strength"] == 1.0
        assert record["prompt"] == f"a {record['class_name']} ({record['wnid']}) in a field"


def test_images_the_safety_checker_blanks_are_reported_and_not_written(
    sources: Path, tmp_path: Path, one_torch_thread: None
) -> None:
    from .tiny_pipeline import make_tiny_pipeline

    model = make_tiny_pipeline(tmp_path / "tiny-sd-unsafe", "sd-unsafe")
    out = tmp_path / "ai_backgrounds"
    report = run(sources, out, model, batch_size=2)
    assert report.made == []
    assert sorted((Path(r.file).name, r.reason) for r in report.rejected) == [
        (f"{i}.JPEG", f"{i}.png: the model's safety checker blanked the image; not written") for i in IDS
    ]
    assert sorted(p.name for p in out.iterdir()) == []


def test_non_finite_pixels_are_reported_and_not_written(sources: Path, tiny_sd: Path, tmp_path: Path) -> None:
    import torch
    from diffusers import AutoencoderKL

    model = Path(shutil.copytree(tiny_sd, tmp_path / "tiny-sd-nan"))
    vae = AutoencoderKL.from_pretrained(model / "vae")
    with torch.no_grad():
        vae.decoder.conv_out.bias.fill_(float("nan"))
    vae.save_pretrained(model / "vae")
    out = tmp_path / "ai_backgrounds"
    report = run(sources, out, model)
    assert report.made == [] and sorted(p.name for p in out.iterdir()) == []
    assert sorted((Path(r.file).name, r.reason) for r in report.rejected) == [
        (f"{i}.JPEG", f"{i}.png: the model returned NaN or infinite pixels in fp32; not written") for i in IDS
    ]
