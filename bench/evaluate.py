"""Evaluation speed: each data path (read, decode, preprocess; and the challenge's pastes) against the model's forward.

    python bench/evaluate.py [BUILD] [--sources 256] [--pairs 256] [--batch-size 64] [--repeats 3]

Without BUILD, the shipped sample is scaled to --sources images of 500x375 and built with the project's
builder (`original` only). Two data paths are timed, each producing exactly the batches the model is
then fed:

- configs: the `original` rows read from Parquet, decoded, resized, cropped and normalised;
- challenge: the backgrounds challenge's pairs (the first --pairs of the default plan, every other-class
  background): foregrounds and `only_bg_t` backgrounds decoded a block at a time, pasted as `mixed_*`
  rows are, preprocessed. Cut this way, each background decode serves one or two foregrounds instead of
  a block of 128 in a full run, so the measured rate is a lower bound.

The model (EfficientNet-Lite0, ImageNet-1k, fp32) then runs on the very same prepared batches. Each
stage is timed --repeats times in this run; the median and the range are printed. Goal: every data
path at least 2x the model's throughput on this machine, so the data path is never the bottleneck.
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

SPEC = "torch:ximagenet12.evaluation.models:efficientnet_lite0"


def make_build(root: Path, sources: int) -> Path:
    """The scaled sample, built by the project's builder (`original` only)."""
    from _sources import scaled_sample
    from ximagenet12_builder.pipeline import BuildOptions, run_build

    src = scaled_sample(root / "src", sources)
    out = root / "build"
    run_build(BuildOptions(sources=src, out=out, configs=("original",), progress=False))
    return out


def config_path(source, split, pre, classifier, batch_size, workers) -> tuple[float, list]:
    """Seconds to read, decode and prepare every `original` row of the split, and the prepared batches."""
    from ximagenet12.evaluation.loader import batches

    started = time.perf_counter()
    prepared = [(len(batch.labels), inputs) for batch, inputs in batches(
        source, "original", split, pre, batch_size=batch_size, workers=workers,
        transform=lambda images: classifier.prepare(images, pre))]
    return time.perf_counter() - started, prepared


def challenge_plan(source, split, pairs: int) -> tuple[list, list]:
    """The split's items and the challenge plan (all backgrounds of other classes), cut to about `pairs` pairs."""
    from ximagenet12.evaluation import challenge as ch

    items = ch.read_items(source, split)
    plan = ch.plan_pairs(items, ch.ChallengeOptions())
    cut, total = [], 0
    for backgrounds in plan:
        keep = backgrounds[: max(0, pairs - total)]
        cut.append(keep)
        total += len(keep)
    return items, cut


def challenge_path(items, plan, pre, classifier, batch_size, workers) -> tuple[float, list]:
    """Seconds to decode, paste and prepare every planned pair, and the prepared batches."""
    from ximagenet12.evaluation import challenge as ch

    started = time.perf_counter()
    prepared = [(len(batch.foregrounds), inputs) for batch, inputs in ch.pasted_batches(
        items, plan, pre, batch_size=batch_size, workers=workers,
        transform=lambda images: classifier.prepare(images, pre))]
    return time.perf_counter() - started, prepared


def model_path(classifier, prepared: list) -> float:
    """Seconds of forward passes over the prepared batches."""
    started = time.perf_counter()
    for _, inputs in prepared:
        classifier.forward(inputs)
    return time.perf_counter() - started


def timed(function, repeats: int) -> tuple[list[float], object]:
    """Seconds of `repeats` calls (after one warm-up call), and the last call's result."""
    result = function()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def line(name: str, images: int, seconds: list[float]) -> float:
    """Print median images/s with the range over repeats; return the median rate."""
    rates = [images / s for s in seconds]
    median = statistics.median(rates)
    print(f"{name:<48} {images:>6} {statistics.median(seconds):>8.2f} {median:>9.1f}  "
          f"[{min(rates):.1f}, {max(rates):.1f}]")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", nargs="?", type=Path, help="an existing build folder (default: build one)")
    parser.add_argument("--sources", type=int, default=256, help="images to build (default 256)")
    parser.add_argument("--pairs", type=int, default=256, help="challenge pairs to paste (default 256)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=None, help="decoding threads (default min(4, cores))")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: cores)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each stage (default 3)")
    args = parser.parse_args()

    from ximagenet12.evaluation import load_classifier
    from ximagenet12.evaluation.loader import usable_cores
    from ximagenet12.evaluation.runner import resolve_preprocessing
    from ximagenet12.evaluation.source import open_build

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.build or make_build(Path(tmp), args.sources)
        source = open_build(folder)
        split = max(source.splits("original"), key=lambda s: source.num_rows("original", s))
        classifier = load_classifier(SPEC)
        cores = usable_cores()
        classifier.set_threads(args.threads or cores)
        pre, _ = resolve_preprocessing(None, classifier.preprocessing())
        items, plan = challenge_plan(source, split, args.pairs)

        data_s, prepared = timed(lambda: config_path(source, split, pre, classifier, args.batch_size,
                                                     args.workers)[1], args.repeats)
        paste_s, pasted = timed(lambda: challenge_path(items, plan, pre, classifier, args.batch_size,
                                                       args.workers)[1], args.repeats)
        model_s, _ = timed(lambda: model_path(classifier, prepared), args.repeats)
        model_paste_s, _ = timed(lambda: model_path(classifier, pasted), args.repeats)
    images = sum(n for n, _ in prepared)
    pairs = sum(n for n, _ in pasted)
    print(f"split {split!r}: {images} images of 'original', {pairs} challenge pairs; batch {args.batch_size}, "
          f"{cores} cores, EfficientNet-Lite0 ({pre.crop} px, fp32); median of {args.repeats} runs [range]\n")
    print(f"{'stage':<48} {'images':>6} {'s':>8} {'images/s':>9}  range")
    data = line("configs: read, decode, preprocess", images, data_s)
    model = line("model forward, same batches", images, model_s)
    paste = line("challenge: decode, paste, preprocess", pairs, paste_s)
    model_paste = line("model forward, same batches", pairs, model_paste_s)
    print(f"\nratio configs data path / model:   {data / model:.1f}x (goal >= 2x)")
    print(f"ratio challenge data path / model: {paste / model_paste:.1f}x (goal >= 2x)")


if __name__ == "__main__":
    main()
