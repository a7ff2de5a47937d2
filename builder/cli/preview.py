"""`ximagenet12 preview`: one image through every scenario, one row per family of scenarios, as a PNG.

Without `--image` it shows the shipped sample's source whose object covers closest to a third of the photo,
paired and seeded exactly as `ximagenet12 build` pairs and seeds it: the background photo and the `mixed_*`
partners come from the build's plan, so each tile is what the default sample build stores for that source.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from ximagenet12 import imageio
from ximagenet12.errors import EXIT_DATA, EXIT_USAGE, EXIT_WRITE, XImageNet12Error
from ximagenet12.masks import MaskError, load_mask
from ximagenet12.pictures import closest_to_a_third
from ximagenet12.preview import Partner, Tiles, draw_tiles, scenario_tiles
from ximagenet12.provenance import write_atomic
from ximagenet12.scenarios import SCENARIOS

from ..plan import DEFAULT_SEED, make_plan, row_seed
from ..sources import Source, discover

DEFAULT_NAME = "preview.png"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `ximagenet12 preview`."""
    p = sub.add_parser(
        "preview",
        help="render one image through every scenario into a labelled PNG",
        description="Render one image through every scenario, one row per family of scenarios, every tile at one "
        "height. Without --image: the shipped sample's source whose object covers closest to a third of the photo, "
        "with the background photo and mixed_* partners the build pairs with it.",
    )
    p.add_argument("--image", type=Path, help="an image of yours (default: the shipped sample)")
    p.add_argument("--mask", type=Path, help="its mask: PNG or LabelMe JSON (required with --image)")
    p.add_argument(
        "--background", type=Path, help="background photo for rand_bg (default: a shipped background photo)"
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"the release seed (default {DEFAULT_SEED})")
    p.add_argument(
        "--out", default=DEFAULT_NAME, help=f"PNG to write, or a folder to write {DEFAULT_NAME} into"
    )
    p.set_defaults(func=cmd_preview)


def _read_image(path: Path) -> np.ndarray:
    try:
        return imageio.read_rgb(str(path)).rgb
    except imageio.ImageDecodeError as exc:
        raise XImageNet12Error(str(exc), EXIT_DATA) from None


def _read_mask(path: Path, image: np.ndarray, image_path: Path | str) -> np.ndarray:
    try:
        return load_mask(path, expected_shape=image.shape)
    except MaskError as exc:
        raise XImageNet12Error(f"{exc} (the mask of {image_path})", EXIT_DATA) from None


def _read_source(source: Source) -> tuple[np.ndarray, np.ndarray]:
    image = _read_image(Path(source.image))
    return image, _read_mask(Path(source.mask), image, source.image)


def _sample_tiles(seed: int) -> tuple[Tiles, np.ndarray, str]:
    """The sample source closest to a third of object, through every scenario as the build pairs and seeds it."""
    from ximagenet12.sample_data import sample_root

    inv = discover(sample_root())
    generated = {n for n, s in SCENARIOS.items() if s.extra is not None and s.extra.origin == "generated"}
    configs = tuple(n for n in SCENARIOS if n not in generated or inv.generated)
    plan = make_plan(inv, configs, seed=seed)
    decoded = {item.source.id: _read_source(item.source) for item in plan.items}
    chosen = closest_to_a_third({sid: float(np.count_nonzero(m)) / m.size for sid, (_, m) in decoded.items()})
    item = next(i for i in plan.items if i.source.id == chosen)
    names = {c.wnid: c.name for c in inv.classes}
    photo, partners = None, {}
    for row in item.rows:
        if row.background is not None and SCENARIOS[row.config].extra.origin == "photo":
            photo = (_read_image(Path(row.background.path)), Path(row.background.path).stem)
        if row.partner is not None:
            image, mask = decoded[row.partner.id]
            partners[SCENARIOS[row.config].extra.pairing] = Partner(image, mask, names.get(row.partner.wnid, ""))
    image, mask = decoded[chosen]
    tiles = scenario_tiles(image, mask, photo=photo, partners=partners, seeds={r.config: r.seed for r in item.rows})
    for rejected in plan.rejected:
        config, _, reason = rejected.reason.partition(": ")
        if rejected.file == item.source.image and config in tiles.left_out:
            tiles.left_out[config] = f"the build pairs none for this source ({reason})"
    for config, reason in plan.not_built.items():
        if config in tiles.left_out:
            tiles.left_out[config] = f"the build makes none: {reason}"
    return tiles, mask, f"{chosen} ({names.get(item.source.wnid, item.source.wnid)})"


def _own_tiles(args: argparse.Namespace) -> tuple[Tiles, np.ndarray, str]:
    """The user's image; stand-in partners for mixed_*, since one image has no other source to pair with."""
    from ximagenet12.sample_data import sample_root

    image = _read_image(args.image)
    mask = _read_mask(args.mask, image, args.image)
    root = sample_root()
    if args.background is not None:
        photo = (_read_image(args.background), args.background.stem)
    else:
        first = sorted((root / "backgrounds").iterdir())[0]
        photo = (_read_image(first), first.stem)
    inv = discover(root)
    names = {c.wnid: c.name for c in inv.classes}
    others = sorted(inv.sources, key=lambda s: s.id)[:2]
    partners = {"same": Partner(image[:, ::-1].copy(), mask[:, ::-1].copy(), "own mirror")}
    for pairing, source in zip(("rand", "next"), others, strict=False):
        partners[pairing] = Partner(*_read_source(source), f"sample {names.get(source.wnid, source.wnid)}")
    stem = args.image.stem
    seeds = {name: row_seed(args.seed, stem, name) for name in SCENARIOS}
    print(
        "mixed_*: a build pairs sources of the same, a random other and the next class; for one image the preview "
        "pairs its own mirror image (same) and shipped sample photos (rand, next)"
    )
    return scenario_tiles(image, mask, photo=photo, partners=partners, seeds=seeds), mask, str(args.image)


def output_path(given: str) -> Path:
    """The PNG to write: `given`, or `given/preview.png` when it is a folder or ends with a slash."""
    out = Path(given)
    return out / DEFAULT_NAME if out.is_dir() or given.endswith(("/", os.sep)) else out


def cmd_preview(args: argparse.Namespace) -> int:
    """`ximagenet12 preview`."""
    if args.mask is not None and args.image is None:
        raise XImageNet12Error("--mask needs --image: the mask of which image?", EXIT_USAGE)
    if args.image is not None and args.mask is None:
        raise XImageNet12Error("--image needs --mask: scenarios change the background or the object", EXIT_USAGE)
    tiles, mask, what = _own_tiles(args) if args.image is not None else _sample_tiles(args.seed)
    picture = draw_tiles(tiles, mask)
    target = output_path(args.out)
    try:
        write_atomic(target, imageio.encode_png(picture.pixels))
    except OSError as exc:
        raise XImageNet12Error(f"{target}: cannot write the preview: {exc.strerror or exc}", EXIT_WRITE) from None
    print(f"wrote {target}: {what} through {len(tiles.images)} scenarios")
    for name, reason in tiles.left_out.items():
        print(f"  left out {name}: {reason}")
    return 0
