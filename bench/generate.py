"""Generation speed: `generate-backgrounds` against a competent user's loop over the same diffusers pipeline.

    python bench/generate.py [--model REPO_OR_PATH] [--sources 8] [--steps 4] [--runs 5] [--threads 1]

Without --model, a tiny randomly initialised SDXL inpainting pipeline (the tests' one) is made, so the
figures measure our overhead around the model rather than the model: on real weights the UNet's steps
dominate and the ratio goes to 1. Both sides load the pipeline from the same folder, repaint the same
sources (the shipped sample scaled to 500x375) at the same working size with the same seeds, paste the
object back and write one PNG per image; ours also discovers and hashes the inputs, checks what is
already made, and writes generation.jsonl. Runs alternate; medians with min-max.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def baseline(sources: Path, out: Path, model: str, steps: int, seed: int) -> float:
    """Seconds for the plain loop: load the pipeline, then per source inpaint, composite, save a PNG."""
    import cv2
    import numpy as np
    import torch
    from diffusers import AutoPipelineForInpainting
    from ximagenet12_builder.generation.jobs import image_seed
    from ximagenet12_builder.generation.prompts import DEFAULT_NEGATIVE_PROMPT, DEFAULT_PROMPT

    started = time.perf_counter()
    pipe = AutoPipelineForInpainting.from_pretrained(model)
    pipe.set_progress_bar_config(disable=True)
    native = pipe.unet.config.sample_size * pipe.vae_scale_factor
    out.mkdir(parents=True)
    for image_path in sorted((sources / "image").rglob("*.JPEG")):
        wnid = image_path.parent.name
        rgb = cv2.cvtColor(cv2.imread(str(image_path)), cv2.COLOR_BGR2RGB)
        mask = cv2.imread(str(sources / "standard_masks" / wnid / f"{image_path.stem}.png"), cv2.IMREAD_GRAYSCALE)
        height, width = mask.shape
        scale = native / (height * width) ** 0.5
        h, w = (max(8, round(side * scale / 8) * 8) for side in (height, width))
        small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        repaint = cv2.dilate((cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST) == 0).astype(np.uint8),
                             np.ones((5, 5), np.uint8))
        small[repaint > 0] = 127
        result = pipe(
            prompt=DEFAULT_PROMPT.format(name=wnid, wnid=wnid), negative_prompt=DEFAULT_NEGATIVE_PROMPT,
            image=small.astype(np.float32) / 255, mask_image=repaint.astype(np.float32)[..., None],
            height=h, width=w, num_inference_steps=steps, guidance_scale=7.5,
            generator=torch.Generator("cpu").manual_seed(image_seed(seed, image_path.stem, 0)), output_type="np",
        ).images[0]
        generated = cv2.resize((result * 255).round().astype(np.uint8), (width, height), interpolation=cv2.INTER_CUBIC)
        generated[mask > 0] = rgb[mask > 0]
        cv2.imwrite(str(out / f"{image_path.stem}.png"), cv2.cvtColor(generated, cv2.COLOR_RGB2BGR))
    return time.perf_counter() - started


def ours(sources: Path, out: Path, model: str, steps: int, seed: int, device: str) -> float:
    """Seconds for `generate_backgrounds` on a fresh output folder."""
    from ximagenet12_builder.generation import GenerationOptions, generate_backgrounds

    started = time.perf_counter()
    report = generate_backgrounds(
        GenerationOptions(sources=sources, out=out, model=model, steps=steps, seed=seed, device=device,
                          progress=False),
        log=lambda _: None,
    )
    assert report.made and not report.rejected, report.rejected
    return time.perf_counter() - started


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="diffusers inpainting folder or repo (default: a tiny random SDXL one)")
    parser.add_argument("--sources", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: this machine is shared)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch
    from _sources import scaled_sample
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    torch.set_num_threads(args.threads)
    for logging in (diffusers_logging, transformers_logging):
        logging.set_verbosity_error()
        logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.model is None:
            from tests.generation.tiny_pipeline import make_tiny_pipeline

            model = str(make_tiny_pipeline(root / "tiny-sdxl", "sdxl"))
        else:
            model = args.model
        sources = scaled_sample(root / "src", args.sources)
        ours(sources, root / "warm", model, args.steps, 1, args.device)  # first-call costs out of the timings
        mine, theirs = [], []
        for run in range(args.runs):
            mine.append(ours(sources, root / f"ours{run}", model, args.steps, 1, args.device))
            theirs.append(baseline(sources, root / f"base{run}", model, args.steps, 1))
        n = args.sources
        print(f"{n} sources of 500x375, {args.steps} steps, model {args.model or 'tiny random SDXL (64 px native)'}, "
              f"torch threads {args.threads}, {args.runs} runs each")
        print(f"ours     {spread(mine)}  {statistics.median(mine) / n:.3f} s/image")
        print(f"baseline {spread(theirs)}  {statistics.median(theirs) / n:.3f} s/image")
        ratios = [b / o for o, b in zip(mine, theirs, strict=True)]
        print(f"throughput ours / baseline: {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
