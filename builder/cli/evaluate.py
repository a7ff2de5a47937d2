"""`ximagenet12 evaluate` and `ximagenet12 score`: argument parsers and what they run."""

from __future__ import annotations

import argparse
import json

from ximagenet12.errors import XImageNet12Error
from ximagenet12.evaluation.challenge import POOLS
from ximagenet12.evaluation.mapping import MAPPINGS
from ximagenet12.evaluation.models import DEVICES, PRECISIONS
from ximagenet12.evaluation.preprocessing import INTERPOLATIONS
from ximagenet12.evaluation.robustness import METHODS, PAPER_SCENARIOS

from ..engines import ENGINES

SPECS = (
    "timm:NAME (e.g. timm:resnet50.a1_in1k) | hf:REPO_ID[@REVISION] or hf:FOLDER | "
    "clip:ARCH@PRETRAINED (tag, file or hf-hub:REPO) or clip:hf-hub:REPO | onnx:model.onnx | "
    "torch:package.module:factory (e.g. torch:ximagenet12.evaluation.models:efficientnet_lite0) | "
    "python:package.module:function | predictions:file.parquet"
)


def _floats(text: str) -> tuple[float, float, float]:
    """'0.5,0.5,0.5' (or one value for all channels) -> three floats."""
    values = tuple(float(v) for v in text.split(","))
    if len(values) == 1:
        values = values * 3
    if len(values) != 3:
        raise argparse.ArgumentTypeError("give one value or three comma-separated values")
    return values  # type: ignore[return-value]


def _json_object(text: str) -> dict:
    """A JSON object argument."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def _batch_size(text: str) -> int | str:
    """'auto' or a positive integer."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("give 'auto' or a positive integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError("give 'auto' or a positive integer")
    return value


def _device(text: str) -> str:
    """One of DEVICES, or cuda:N."""
    if text in DEVICES or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"give one of {', '.join(DEVICES)} or cuda:N")


def _gpus(text: str) -> float:
    """A GPU count of 0 or more (fractions allowed)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("give a number of GPUs, 0 or more") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError("give a number of GPUs, 0 or more")
    return value


def _scoring_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by evaluate and score."""
    parser.add_argument("--internal", metavar="PARQUET", help="predictions of a second run: the internal term")
    parser.add_argument("--method", choices=METHODS, default="table3",
                        help="table3: variances as the paper's Table 3 computes (default); "
                        "text: the text's literal formula (standard deviations, divide by n)")
    parser.add_argument("--scenarios", default=",".join(PAPER_SCENARIOS),
                        help="scenarios of the score (default: the paper's eight)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (default 1000)")


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register `evaluate` and `score` on a subparsers object."""
    ev = subparsers.add_parser(
        "evaluate",
        help="score a classifier on every scenario of a build",
        description="Score a classifier on each config of a build (folder or Hub repo); resumable; "
        "writes predictions.parquet, summary.json, report.md, CSV tables and heatmap.png, and with "
        "--challenge challenge.parquet and challenge_backgrounds.png.",
    )
    ev.add_argument("--model", required=True, metavar="SPEC", help=SPECS)
    ev.add_argument("--data", metavar="DIR_OR_REPO_ID", help="build folder, Hub dataset repo id or fsspec URL")
    ev.add_argument("--revision", help="Hub revision (branch, tag or sha); pinned to its sha in the summary")
    ev.add_argument("--configs", default="all", help="'all' (default), 'paper', or a comma-separated list")
    ev.add_argument("--split", default="test", help="split to evaluate (default test)")
    ev.add_argument("--mapping", choices=MAPPINGS, default="restrict",
                    help="1000-way models: restrict logits to the classes (default) or top-1 over all 1000")
    ev.add_argument("--batch-size", type=_batch_size, default="auto",
                    help="images per batch, or 'auto' (default: 32 on CPU, 128 on a GPU; halved if memory runs out)")
    ev.add_argument("--device", type=_device, default="auto", metavar="|".join(DEVICES),
                    help="auto (default): cuda, else mps, else cpu; cuda:N picks a GPU")
    ev.add_argument("--precision", choices=PRECISIONS, default="fp32",
                    help="torch-based models: fp32 (default) or autocast to bf16/fp16")
    ev.add_argument("--out", default="results", help="output folder (default results/)")
    ev.add_argument("--weights", help="local weights file (torch: factories, timm: models)")
    ev.add_argument("--model-kwargs", type=_json_object, default=None,
                    help="JSON keyword arguments of the factory (torch:) or of timm.create_model (timm:)")
    ev.add_argument("--label-map", metavar="FILE|imagenet-1k",
                    help="hf: models whose labels are neither ImageNet-1k's nor the build's: JSON object "
                    "model label -> class wnid, or 'imagenet-1k' to declare outputs in ImageNet index order")
    ev.add_argument("--allow-partial", action="store_true",
                    help="predictions: specs: score predictions that cover only part of the build (counts recorded)")
    ev.add_argument("--no-verify", action="store_true",
                    help="read the build's shards without checking them against the manifest's sha256")
    chal = ev.add_argument_group("ImageNet-9's backgrounds challenge")
    chal.add_argument("--challenge", action="store_true",
                      help="paste each test foreground onto other sources' only_bg_t backgrounds; correct only if "
                      "correct on all (MadryLab/backgrounds_challenge)")
    chal.add_argument("--challenge-backgrounds", type=int, default=0, metavar="N",
                      help="backgrounds per foreground, drawn with --seed (default 0: all)")
    chal.add_argument("--challenge-pool", choices=POOLS, default="other",
                      help="other: backgrounds of other classes (default); all: any other source's, as "
                      "challenge_eval.py iterates every only_bg_t image")
    pre = ev.add_argument_group("preprocessing (default: the model's pretrained_cfg, else ImageNet 256/224 bilinear)")
    pre.add_argument("--resize", type=int, help="shorter side before the crop")
    pre.add_argument("--crop", type=int, help="centre crop size")
    pre.add_argument("--interpolation", choices=sorted(INTERPOLATIONS))
    pre.add_argument("--mean", type=_floats, help="per-channel mean in 0..1, e.g. 0.485,0.456,0.406")
    pre.add_argument("--std", type=_floats, help="per-channel std in 0..1")
    pre.add_argument("--alpha-background", default=None,
                     help="RGBA images composited on black (default), white, grey or R,G,B; 'none' drops alpha")
    _scoring_arguments(ev)
    ev.add_argument("--workers", type=int,
                    help="decoding threads (default: min(4, cores); with --engine ray: 1 per actor)")
    ev.add_argument("--threads", type=int, help="inference threads (default: usable cores; with --engine ray: 1)")
    scale = ev.add_argument_group("on a Ray cluster (the build on storage every node sees)")
    scale.add_argument("--engine", choices=ENGINES, default="local",
                       help="local: this process (default); ray: row ranges of the configs on a pool of Ray actors, "
                       "one model instance each, with the same predictions")
    scale.add_argument("--address", help="the Ray cluster of --engine ray: auto, HOST:PORT or ray://HOST:10001 "
                       "(default: RAY_ADDRESS, else a cluster started on this machine, else a new local one)")
    scale.add_argument("--num-gpus-per-worker", type=_gpus, default=0.0, metavar="G",
                       help="GPUs of each Ray actor (fractions allowed); 0 (default): CPU actors, one per CPU")
    ev.add_argument("--no-resume", action="store_true", help="recompute configs already in --out")
    ev.add_argument("--no-progress", action="store_true", help="no progress bars")
    ev.set_defaults(func=run_evaluate)

    sc = subparsers.add_parser(
        "score",
        help="accuracies, robustness score and BG-gap of a predictions file",
        description="Tables and the robustness score of a predictions Parquet (from evaluate or elsewhere).",
    )
    sc.add_argument("predictions", metavar="PREDICTIONS", help="predictions.parquet")
    sc.add_argument("--configs", default="all", help="'all' (default) or a comma-separated list")
    sc.add_argument("--data", help="the build: predictions are checked against its rows and labels (optional)")
    sc.add_argument("--split", help="the build's split the predictions are of (default: as recorded, else test)")
    sc.add_argument("--allow-partial", action="store_true",
                    help="with --data: score predictions covering only part of a config (counts printed, recorded)")
    sc.add_argument("--no-verify", action="store_true",
                    help="with --data: read its shards without checking them against the manifest's sha256")
    sc.add_argument("--out", help="also write the full report set to this folder")
    sc.add_argument("--json", action="store_true", help="print the results as JSON")
    _scoring_arguments(sc)
    sc.set_defaults(func=run_score)


def _preprocessing_overrides(args: argparse.Namespace) -> dict:
    """Preprocessing fields given on the command line."""
    from ximagenet12.evaluation.preprocessing import parse_alpha_background

    fields = {k: getattr(args, k) for k in ("resize", "crop", "interpolation", "mean", "std")}
    out = {k: v for k, v in fields.items() if v is not None}
    if args.alpha_background is not None:
        out["alpha_background"] = parse_alpha_background(args.alpha_background)
    return out


def _print_result(result, as_json: bool = False) -> None:
    """Accuracy table with n, score, BG-gap, challenge and any partial coverage on stdout."""
    from ximagenet12.evaluation.challenge_results import challenge_markdown
    from ximagenet12.evaluation.reports import accuracy_markdown, bg_gap_line, robustness_markdown

    if as_json:
        print(json.dumps(result.summary["results"], indent=2, default=str))
        return
    coverage = result.summary.get("coverage") or {}
    for config, missing in (coverage.get("missing") or {}).items():
        print(f"partial: {config!r} lacks {missing} of the build's {coverage['expected'][config]} images "
              f"(scored {coverage['present'][config]}, --allow-partial)")
    print(accuracy_markdown(result.analysis))
    print()
    print(robustness_markdown(result.analysis))
    if result.bg_gap is not None:
        print(f"\nBG-gap: {bg_gap_line(result.analysis)}")
    if result.challenge is not None:
        print(f"\nBackgrounds challenge: {challenge_markdown(result.challenge).splitlines()[0]}")
    if result.out is not None:
        print(f"\nwrote {result.out}/ ({', '.join(sorted(p.name for p in result.files.values()))})")


def run_evaluate(args: argparse.Namespace) -> int:
    """Run `ximagenet12 evaluate`."""
    from ximagenet12.evaluation.runner import evaluate

    try:
        result = evaluate(
            args.model,
            args.data,
            configs=args.configs,
            split=args.split,
            mapping=args.mapping,
            batch_size=args.batch_size,
            out=args.out,
            preprocessing=_preprocessing_overrides(args),
            weights=args.weights,
            model_kwargs=args.model_kwargs,
            device=args.device,
            precision=args.precision,
            label_map=args.label_map,
            revision=args.revision,
            internal=args.internal,
            method=args.method,
            scenarios=args.scenarios.split(","),
            seed=args.seed,
            resamples=args.bootstrap,
            workers=args.workers,
            threads=args.threads,
            progress=not args.no_progress,
            resume=not args.no_resume,
            challenge=args.challenge,
            challenge_backgrounds=args.challenge_backgrounds,
            challenge_pool=args.challenge_pool,
            allow_partial=args.allow_partial,
            verify=not args.no_verify,
            engine=args.engine,
            address=args.address,
            num_gpus_per_worker=args.num_gpus_per_worker,
        )
    except XImageNet12Error:
        raise
    except (ValueError, KeyError) as error:  # a bad option value: one line, exit 2
        raise XImageNet12Error(str(error)) from error
    _print_result(result)
    return 0


def run_score(args: argparse.Namespace) -> int:
    """Run `ximagenet12 score`."""
    from ximagenet12.evaluation.runner import score_predictions

    try:
        result = score_predictions(
            args.predictions,
            args.data,
            configs=args.configs,
            split=args.split,
            allow_partial=args.allow_partial,
            out=args.out,
            internal=args.internal,
            method=args.method,
            scenarios=args.scenarios.split(","),
            seed=args.seed,
            resamples=args.bootstrap,
            verify=not args.no_verify,
        )
    except XImageNet12Error:
        raise
    except (ValueError, KeyError) as error:
        raise XImageNet12Error(str(error)) from error
    _print_result(result, as_json=args.json)
    return 0
