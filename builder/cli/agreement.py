"""`ximagenet12 agreement`: how much two or more mask sets of the same photos differ."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

from ximagenet12.errors import EXIT_FAULTS, XImageNet12Error


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `ximagenet12 agreement`."""
    p = sub.add_parser(
        "agreement",
        help="compare mask sets of the same photos (IoU, boundary F, HD95, ...) per source, pair and class",
        description="Compare two or more mask sets source by source (matched by id) and write agreement.parquet, "
        "agreement.csv, agreement.md, agreement.json, agreement.png and agreement_gallery.png.",
    )
    p.add_argument("sets", nargs="+", metavar="SET",
                   help="a mask set: a folder (V7 or 0/255 PNGs, LabelMe JSON) or a COCO file, optionally NAME=PATH")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--images", type=Path, help="folder of the photos, for the gallery (default: photos found beside "
                   "LabelMe files or COCO images)")
    p.add_argument("--tolerance", type=float, default=0.008,
                   help="boundary tolerance: a fraction of the image diagonal (< 1, default 0.008 as DAVIS) or pixels")
    p.add_argument("--classes", type=Path, help="a classes.json naming the wnids (default: the 12 classes and any "
                   "classes.json beside the sets)")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (default 1000)")
    p.add_argument("--confidence", type=float, default=0.95, help="interval coverage (default 0.95)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--worst", type=int, default=3, help="least agreeing sources listed per pair and class (default 3)")
    p.add_argument("--gallery", type=int, default=8, help="least agreeing sources drawn in the gallery (default 8)")
    p.add_argument("--no-figures", action="store_true", help="skip agreement.png and the gallery (no matplotlib)")
    p.set_defaults(func=cmd_agreement)


def _class_names(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    try:
        return {str(row["wnid"]): str(row["name"]) for row in json.loads(path.read_text(encoding="utf-8"))}
    except (ValueError, KeyError, TypeError) as error:
        raise XImageNet12Error(f"{path}: not a class table (a list of {{wnid, name}}): {error}") from error


def cmd_agreement(args: argparse.Namespace) -> int:
    """`ximagenet12 agreement`."""
    from ximagenet12.errors import MissingExtra
    from ximagenet12.masks.agreement_report import check_out, pairs_markdown, write_report
    from ximagenet12.masks.mask_sets import open_mask_set, photo_index
    from ximagenet12.masks.set_agreement import agreement

    if len(args.sets) < 2:
        raise XImageNet12Error(f"needs at least two mask sets, got {len(args.sets)}")
    if not args.no_figures and importlib.util.find_spec("matplotlib") is None:
        raise MissingExtra("matplotlib: agreement.png (or pass --no-figures)", "eval")
    for name, value in (("--bootstrap", args.bootstrap), ("--worst", args.worst), ("--gallery", args.gallery)):
        if value < (1 if name == "--bootstrap" else 0):
            raise XImageNet12Error(f"{name} {value}: must be {'at least 1' if name == '--bootstrap' else '0 or more'}")
    check_out(args.out)
    names = _class_names(args.classes)
    photos = photo_index(args.images) if args.images else {}
    try:
        sets = [open_mask_set(spec) for spec in args.sets]
        result = agreement(*sets, tolerance=args.tolerance, resamples=args.bootstrap, confidence=args.confidence,
                           seed=args.seed, worst=args.worst, class_names=names)
    except ValueError as error:
        raise XImageNet12Error(str(error)) from error
    write_report(result, args.out, images=photos, gallery=args.gallery, figures=not args.no_figures)
    sources = len({r["source_id"] for r in result.rows})
    if result.rows:
        print(pairs_markdown(result))
        print()
    print(f"{sources} sources compared, {len(result.unmatched)} unmatched, {len(result.problems)} problems; "
          f"wrote {args.out}/ (agreement.md, agreement.csv, agreement.parquet, agreement.json"
          f"{', agreement.png, agreement_gallery.png' if not args.no_figures else ''})")
    if not result.rows:
        print(f"ximagenet12 agreement: error: no source is in two of the sets: see {args.out / 'agreement.md'}",
              file=sys.stderr)
        return EXIT_FAULTS
    return 0
