"""`ximagenet12 evaluate` and `ximagenet12 score`: argument parsers and what they run."""

from __future__ import annotations

import argparse
import json
import sys

from ximagenet12.evaluation.mapping import MAPPINGS
from ximagenet12.evaluation.preprocessing import INTERPOLATIONS
from ximagenet12.evaluation.robustness import METHODS, PAPER_SCENARIOS


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
        "writes predictions.parquet, summary.json, report.md, CSV tables and heatmap.png.",
    )
    ev.add_argument("--model", required=True, metavar="SPEC",
                    help="onnx:model.onnx | torch:package.module:factory | python:package.module:function | "
                    "predictions:file.parquet (e.g. torch:ximagenet12.evaluation.models:efficientnet_lite0)")
    ev.add_argument("--data", metavar="DIR_OR_REPO_ID", help="build folder, Hub dataset repo id or fsspec URL")
    ev.add_argument("--revision", help="Hub revision (branch, tag or sha); pinned to its sha in the summary")
    ev.add_argument("--configs", default="all", help="'all' (default), 'paper', or a comma-separated list")
    ev.add_argument("--split", default="test", help="split to evaluate (default test)")
    ev.add_argument("--mapping", choices=MAPPINGS, default="restrict",
                    help="1000-way models: restrict logits to the classes (default) or top-1 over all 1000")
    ev.add_argument("--batch-size", type=int, default=64)
    ev.add_argument("--out", default="results", help="output folder (default results/)")
    ev.add_argument("--weights", help="local weights file loaded into a torch: factory's module")
    ev.add_argument("--model-kwargs", type=_json_object, default=None, help="JSON keyword arguments of the factory")
    pre = ev.add_argument_group("preprocessing (default: the model's pretrained_cfg, else ImageNet 256/224 bilinear)")
    pre.add_argument("--resize", type=int, help="shorter side before the crop")
    pre.add_argument("--crop", type=int, help="centre crop size")
    pre.add_argument("--interpolation", choices=sorted(INTERPOLATIONS))
    pre.add_argument("--mean", type=_floats, help="per-channel mean in 0..1, e.g. 0.485,0.456,0.406")
    pre.add_argument("--std", type=_floats, help="per-channel std in 0..1")
    pre.add_argument("--alpha-background", default=None,
                     help="RGBA images composited on black (default), white, grey or R,G,B; 'none' drops alpha")
    _scoring_arguments(ev)
    ev.add_argument("--workers", type=int, help="decoding threads (default: min(4, cores))")
    ev.add_argument("--threads", type=int, help="inference threads (default: usable cores)")
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
    sc.add_argument("--data", help="the build, for class names and provenance (optional)")
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
    """Accuracy table, score and BG-gap on stdout."""
    from ximagenet12.evaluation.reports import accuracy_markdown, robustness_markdown

    if as_json:
        print(json.dumps(result.summary["results"], indent=2, default=str))
        return
    print(accuracy_markdown(result.analysis))
    print()
    print(robustness_markdown(result.analysis))
    if result.bg_gap is not None:
        print(f"\nBG-gap (mixed_same - mixed_rand): {100 * result.bg_gap:+.1f} pp")
    if result.out is not None:
        print(f"\nwrote {result.out}/ (report.md, summary.json, predictions.parquet, CSV, heatmap.png)")


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
        )
    except (ValueError, FileNotFoundError, KeyError) as error:
        print(f"ximagenet12 evaluate: error: {error}", file=sys.stderr)
        return 2
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
            out=args.out,
            internal=args.internal,
            method=args.method,
            scenarios=args.scenarios.split(","),
            seed=args.seed,
            resamples=args.bootstrap,
        )
    except (ValueError, FileNotFoundError, KeyError) as error:
        print(f"ximagenet12 score: error: {error}", file=sys.stderr)
        return 2
    _print_result(result, as_json=args.json)
    return 0
