"""Evaluation speed: the data path alone (read, decode, preprocess) against the model's forward pass.

    python bench/evaluate.py [BUILD] [--sources 256] [--config original] [--batch-size 64]

Without BUILD, the shipped sample is scaled to --sources images of 500x375 and built with the project's
builder. The data path reads the config's Parquet rows, decodes, composites, resizes, crops and normalises
them into model inputs; the model (EfficientNet-Lite0, ImageNet-1k) then runs on the very same batches.
Goal: the data path at least 2x the model's throughput on this machine (it is never the bottleneck).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SPEC = "torch:ximagenet12.evaluation.models:efficientnet_lite0"


def make_build(root: Path, sources: int, config: str) -> Path:
    """The scaled sample, built by the project's builder (just `config`)."""
    from _sources import scaled_sample
    from ximagenet12_builder.pipeline import BuildOptions, run_build

    src = scaled_sample(root / "src", sources)
    out = root / "build"
    run_build(BuildOptions(sources=src, out=out, configs=(config,), progress=False))
    return out


def data_path(source, config, pre, classifier, batch_size, workers) -> tuple[float, list]:
    """Seconds to read, decode and prepare every row of `config` (all splits), and the prepared batches."""
    from ximagenet12.evaluation.loader import batches

    def prepare(images):
        return classifier.prepare(images, pre)

    started = time.perf_counter()
    prepared = []
    for split in source.splits(config):
        for batch, inputs in batches(source, config, split, pre, batch_size=batch_size, workers=workers,
                                     transform=prepare):
            prepared.append((len(batch.labels), inputs))
    return time.perf_counter() - started, prepared


def model_path(classifier, prepared: list) -> float:
    """Seconds of forward passes over the prepared batches (after one warm-up batch)."""
    classifier.forward(prepared[0][1])
    started = time.perf_counter()
    for _, inputs in prepared:
        classifier.forward(inputs)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", nargs="?", type=Path, help="an existing build folder (default: build one)")
    parser.add_argument("--sources", type=int, default=256, help="images to build (default 256)")
    parser.add_argument("--config", default="original")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=None, help="decoding threads (default min(4, cores))")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: cores)")
    args = parser.parse_args()

    from ximagenet12.evaluation import load_classifier
    from ximagenet12.evaluation.loader import usable_cores
    from ximagenet12.evaluation.runner import resolve_preprocessing
    from ximagenet12.evaluation.source import open_build

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.build or make_build(Path(tmp), args.sources, args.config)
        source = open_build(folder)
        classifier = load_classifier(SPEC)
        cores = usable_cores()
        classifier.set_threads(args.threads or cores)
        pre, _ = resolve_preprocessing(None, classifier.defaults())
        data_path(source, args.config, pre, classifier, args.batch_size, args.workers)  # warm the file cache
        data_s, prepared = data_path(source, args.config, pre, classifier, args.batch_size, args.workers)
        model_s = model_path(classifier, prepared)
    n = sum(count for count, _ in prepared)
    data_ips, model_ips = n / data_s, n / model_s
    print(f"{n} images of {args.config!r}, batch {args.batch_size}, {cores} cores, EfficientNet-Lite0 (224, fp32)\n")
    print(f"{'stage':<44} {'s':>7} {'images/s':>9}")
    print(f"{'data path (read, decode, preprocess)':<44} {data_s:>7.2f} {data_ips:>9.1f}")
    print(f"{'model forward, same batches':<44} {model_s:>7.2f} {model_ips:>9.1f}")
    print(f"\nratio data/model: {data_ips / model_ips:.1f}x (goal >= 2x: the data path is never the bottleneck)")


if __name__ == "__main__":
    main()
