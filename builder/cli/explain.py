"""`ximagenet12 explain`: where a model looks on every scenario, measured against the masks."""

from __future__ import annotations

import argparse

from ximagenet12.errors import XImageNet12Error
from ximagenet12.evaluation.explain.methods import BASELINES, METHODS, TARGETS
from ximagenet12.evaluation.explain.metrics import DEFAULT_TOLERANCE
from ximagenet12.evaluation.mapping import MAPPINGS
from ximagenet12.evaluation.models import DEVICES
from ximagenet12.evaluation.preprocessing import INTERPOLATIONS

from .evaluate import _batch_size, _device, _floats, _json_object, _preprocessing_overrides

SPECS = ("torch:package.module:factory (e.g. torch:ximagenet12.evaluation.models:efficientnet_lite0) | timm:NAME | "
         "hf:REPO_ID[@REVISION] or hf:FOLDER | clip:ARCH@PRETRAINED: torch-based models only")


def _positive(text: str) -> int:
    """A positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("give a positive integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError("give a positive integer")
    return value


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register `explain` on a subparsers object."""
    ex = subparsers.add_parser(
        "explain",
        help="attribution maps (Captum) on every scenario and how much of them falls on the object",
        description="Explain a torch-based classifier's decisions on each config of a build with Grad-CAM, "
        "integrated gradients or occlusion (Captum), carry each map back to the stored image's pixels through "
        "the model's resize and crop, and measure it against the row's mask: relevance mass, rank accuracy, "
        "pointing game and energy pointing game, per scenario and class with bootstrap intervals, and their "
        "shift from `original`. Writes explanations.parquet, explain_summary.json, explain_report.md, "
        "explain_scenarios.csv, explain_classes.csv and explain_gallery.png; resumable per config. --out may be "
        "the folder of an `evaluate` run of the same model: the leaderboard then shows its object focus.",
    )
    ex.add_argument("--model", required=True, metavar="SPEC", help=SPECS)
    ex.add_argument("--data", required=True, metavar="DIR_OR_REPO_ID",
                    help="build folder, Hub dataset repo id or fsspec URL")
    ex.add_argument("--revision", help="Hub revision (branch, tag or sha); pinned to its sha in the summary")
    ex.add_argument("--configs", default="all", help="'all' (default), 'paper', or a comma-separated list")
    ex.add_argument("--split", default="test", help="split to explain (default test)")
    ex.add_argument("--method", choices=METHODS, default="gradcam",
                    help="gradcam (default; Captum LayerGradCam), ig (IntegratedGradients) or occlusion")
    ex.add_argument("--target", choices=TARGETS, default="label",
                    help="attribute the true class's output (default) or the predicted class's")
    ex.add_argument("--limit", type=_positive, metavar="N",
                    help="a quick look: only N sources (classes in turn), the same ones in every config")
    ex.add_argument("--out", default="explain", help="output folder (default explain/)")
    method = ex.add_argument_group("attribution")
    method.add_argument("--layer", metavar="NAME[:input]",
                        help="gradcam: the module whose output (or input) is explained (default: found per "
                        "architecture, the input of the global pooling)")
    method.add_argument("--steps", type=_positive, default=50, help="ig: integration steps (default 50)")
    method.add_argument("--baseline", choices=BASELINES, default="mean",
                        help="ig and occlusion: the normalisation's mean colour (default) or black")
    method.add_argument("--window", type=_positive, metavar="PX",
                        help="occlusion: patch side in model-input pixels (default a seventh of the input)")
    method.add_argument("--stride", type=_positive, metavar="PX", help="occlusion: patch step (default window / 2)")
    method.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, metavar="PX",
                        help=f"pointing game: stored pixels the maximum may lie from the mask (default "
                        f"{DEFAULT_TOLERANCE:g}, Zhang et al.'s)")
    ex.add_argument("--mapping", choices=MAPPINGS, default="restrict",
                    help="1000-way models: the predicted class among the build's classes (default) or the top-1 "
                    "over all 1000 (then --target prediction explains the model's own top-1)")
    ex.add_argument("--batch-size", type=_batch_size, default="auto",
                    help="images per batch, or 'auto' (default: 16 on CPU, 64 on a GPU)")
    ex.add_argument("--device", type=_device, default="auto", metavar="|".join(DEVICES),
                    help="auto (default): cuda, else mps, else cpu; cuda:N picks a GPU (attributions in fp32)")
    ex.add_argument("--weights", help="local weights file (torch: factories, timm: models)")
    ex.add_argument("--model-kwargs", type=_json_object, default=None,
                    help="JSON keyword arguments of the factory (torch:) or of timm.create_model (timm:)")
    ex.add_argument("--no-verify", action="store_true",
                    help="read the build's shards without checking them against the manifest's sha256")
    pre = ex.add_argument_group("preprocessing (default: the model's, as evaluate uses it)")
    pre.add_argument("--resize", type=int, help="shorter side before the crop")
    pre.add_argument("--crop", type=int, help="centre crop size")
    pre.add_argument("--interpolation", choices=sorted(INTERPOLATIONS))
    pre.add_argument("--mean", type=_floats, help="per-channel mean in 0..1")
    pre.add_argument("--std", type=_floats, help="per-channel std in 0..1")
    pre.add_argument("--alpha-background", default=None,
                     help="RGBA images composited on black (default), white, grey or R,G,B; 'none' drops alpha")
    out = ex.add_argument_group("reports")
    out.add_argument("--gallery", type=int, default=4, metavar="N", help="sources in the gallery (0-8, default 4)")
    out.add_argument("--gallery-configs", metavar="A,B",
                     help="configs in the gallery (default: original and the headline scenarios the build has)")
    out.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    out.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (default 1000)")
    ex.add_argument("--workers", type=int, help="decoding threads (default: min(4, cores))")
    ex.add_argument("--threads", type=int, help="inference threads (default: usable cores)")
    ex.add_argument("--no-resume", action="store_true", help="recompute configs already in --out")
    ex.add_argument("--no-progress", action="store_true", help="no progress bars")
    ex.set_defaults(func=run_explain)


def run_explain(args: argparse.Namespace) -> int:
    """Run `ximagenet12 explain`."""
    from ximagenet12.evaluation.explain import explain
    from ximagenet12.evaluation.explain.report import scenario_markdown

    try:
        result = explain(
            args.model,
            args.data,
            configs=args.configs,
            split=args.split,
            method=args.method,
            target=args.target,
            limit=args.limit,
            out=args.out,
            layer=args.layer,
            steps=args.steps,
            baseline=args.baseline,
            window=args.window,
            stride=args.stride,
            tolerance=args.tolerance,
            mapping=args.mapping,
            batch_size=args.batch_size,
            preprocessing=_preprocessing_overrides(args),
            weights=args.weights,
            model_kwargs=args.model_kwargs,
            device=args.device,
            revision=args.revision,
            seed=args.seed,
            resamples=args.bootstrap,
            gallery=args.gallery,
            gallery_configs=args.gallery_configs.split(",") if args.gallery_configs else None,
            workers=args.workers,
            threads=args.threads,
            progress=not args.no_progress,
            resume=not args.no_resume,
            verify=not args.no_verify,
        )
    except XImageNet12Error:
        raise
    except (ValueError, KeyError) as error:  # a bad option value: one line, exit 2
        raise XImageNet12Error(str(error)) from error
    for problem in result.problems:
        print(f"skipped {problem['config']} {problem['source_id']}: {problem['reason']}")
    print(scenario_markdown(result.analysis))
    print(f"\nwrote {result.out}/ ({', '.join(sorted(p.name for p in result.files.values()))})")
    return 0
