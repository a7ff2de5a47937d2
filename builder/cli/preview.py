"""`ximagenet12 preview`: one image through every scenario, as a labelled grid PNG."""

from __future__ import annotations

import argparse
from pathlib import Path

from ximagenet12 import imageio
from ximagenet12.errors import XImageNet12Error
from ximagenet12.masks import load_mask
from ximagenet12.pictures import make_grid
from ximagenet12.preview import sample_tiles, scenario_tiles


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `ximagenet12 preview`."""
    p = sub.add_parser("preview", help="render one image through every scenario into a labelled grid PNG")
    p.add_argument("--image", type=Path, help="an RGB image (default: the first shipped sample photo)")
    p.add_argument("--mask", type=Path, help="its mask: PNG or LabelMe JSON (required with --image)")
    p.add_argument("--background", type=Path, help="background photo for rand_bg (default: the image upside down)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("preview.png"))
    p.set_defaults(func=cmd_preview)


def cmd_preview(args: argparse.Namespace) -> int:
    """`ximagenet12 preview`."""
    if args.image is None:
        tiles = sample_tiles(args.seed)
    else:
        if args.mask is None:
            raise XImageNet12Error("--mask is required with --image")
        rgb = imageio.read_rgb(str(args.image)).rgb
        mask = load_mask(args.mask, expected_shape=rgb.shape)
        photo = imageio.read_rgb(str(args.background)).rgb if args.background else rgb[::-1].copy()
        other, other_mask = rgb[:, ::-1].copy(), mask[:, ::-1].copy()
        tiles = scenario_tiles(rgb, mask, photo=photo, other=other, other_mask=other_mask, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(imageio.encode_png(make_grid(tiles)))
    print(f"wrote {args.out} ({len(tiles)} scenarios)")
    return 0
