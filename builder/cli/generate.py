"""`ximagenet12 generate-backgrounds`: inpaint a new background around every source's object."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..generation import GenerationOptions, check_options, generate_backgrounds
from ..generation.model import DEFAULT_MODEL, DEVICES, PRECISIONS
from ..generation.prompts import DEFAULT_NEGATIVE_PROMPT, DEFAULT_PROMPT
from ..plan import DEFAULT_SEED

SHOWN = 10


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `ximagenet12 generate-backgrounds`."""
    p = sub.add_parser(
        "generate-backgrounds",
        help="make the AI-generated backgrounds of ai_bg with a diffusers inpainting model",
        description=(
            "Repaint everything around each source's object with a diffusers inpainting pipeline, keep the "
            "object's pixels exactly, and write DIR/<source_id>[_k].png with generation.jsonl (one record per "
            "image). Resumable: images already made with the same settings are skipped. Needs the 'generate' extra."
        ),
    )
    p.add_argument("sources", type=Path, help="sources folder, as `ximagenet12 build` reads it")
    p.add_argument("--out", type=Path, required=True, help="output folder, e.g. SOURCES/ai_backgrounds")
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="REPO_OR_PATH",
                   help=f"diffusers inpainting pipeline: Hub repo id or local folder (default {DEFAULT_MODEL})")
    p.add_argument("--revision", help="Hub branch, tag or commit of --model (default main; recorded as a commit)")
    p.add_argument("--prompt", default=DEFAULT_PROMPT, metavar="TEMPLATE",
                   help=f"prompt template, {{name}} and {{wnid}} filled per class (default: {DEFAULT_PROMPT!r})")
    p.add_argument("--negative-prompt", default=DEFAULT_NEGATIVE_PROMPT, metavar="TEMPLATE",
                   help=f"negative prompt template (default: {DEFAULT_NEGATIVE_PROMPT!r})")
    p.add_argument("--steps", type=int, default=30, help="denoising steps (default 30)")
    p.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance scale (default 7.5)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help=f"run seed; each image's seed comes from it and the source id (default {DEFAULT_SEED})")
    p.add_argument("--device", choices=DEVICES, default="auto", help="auto: CUDA, else MPS, else the CPU")
    p.add_argument("--precision", choices=tuple(PRECISIONS), help="default fp16 on a GPU, fp32 on the CPU")
    p.add_argument("--per-source", type=int, default=1, metavar="K", help="images per source (default 1)")
    p.add_argument("--batch-size", type=int, default=1, metavar="B",
                   help="images per pipeline call (default 1); rerun with the same B for byte-identical images")
    p.add_argument("--classes", type=Path, help="class table JSON (default: SOURCES/classes.json, else the 12 classes)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_generate)


def _quiet_libraries() -> None:
    """diffusers' and transformers' loading bars, advice and internal deprecations off; download bars stay."""
    import warnings

    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    for library in ("diffusers", "transformers"):
        warnings.filterwarnings("ignore", category=FutureWarning, module=library)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=library)


def cmd_generate(args: argparse.Namespace) -> int:
    """`ximagenet12 generate-backgrounds`."""
    from ..generation.model import import_torch_and_diffusers

    opts = GenerationOptions(
        sources=args.sources,
        out=args.out,
        model=args.model,
        revision=args.revision,
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        steps=args.steps,
        guidance=args.guidance,
        seed=args.seed,
        device=args.device,
        precision=args.precision,
        per_source=args.per_source,
        batch_size=args.batch_size,
        classes=args.classes,
        progress=not args.no_progress,
    )
    check_options(opts)
    import_torch_and_diffusers()
    _quiet_libraries()
    report = generate_backgrounds(opts)
    for note in report.notes:
        print(f"note: {note}")
    if report.model:
        print(f"model {report.model['id']} @ {report.model['revision']} ({report.model['pipeline']}) "
              f"on {report.device} in {report.precision}")
    print(f"made {len(report.made)}, already made {len(report.already)}, skipped {len(report.rejected)} "
          f"in {report.seconds:.1f} s -> {args.out}")
    for r in report.rejected:
        print(f"  skipped {r.line()}")
    if not report.made and not report.already:
        print("error: no image was made", file=sys.stderr)
        return 1
    return 0
