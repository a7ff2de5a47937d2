"""Pictures of an agreement run: IoU and boundary F distributions, and a gallery of the worst disagreements."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from ..errors import MissingExtra
from ..imageio import ImageDecodeError, encode_png, read_rgb
from ..pictures import LABEL_HEIGHT, make_grid
from ..provenance import atomic_target, write_atomic
from .readers import MaskError
from .set_agreement import Agreement

# One colour per set (RGB), in argument order: distinct on photos and for colour-blind readers
# (Okabe-Ito: orange, sky blue, bluish green, yellow, blue, vermillion, reddish purple).
PALETTE = ((230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0),
           (204, 121, 167))
TILE_WIDTH = 360
TINT = 0.45  # how strongly a pixel only one set calls object takes that set's colour


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:
        raise MissingExtra("matplotlib: agreement.png", "eval") from error
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def write_distributions(result: Agreement, path: str | Path) -> Path:
    """IoU and boundary F of every source: per pair of sets (left) and per class, coloured by pair (right)."""
    plt = _pyplot()
    pairs = result.pairs
    classes = sorted(result.class_names)
    fig, axes = plt.subplots(2, 2, figsize=(4 + 1.2 * len(pairs) + 0.9 * len(classes), 7.5), dpi=100,
                             gridspec_kw={"width_ratios": [max(1.5, len(pairs)), max(2, len(classes))]},
                             squeeze=False)
    rng = np.random.default_rng(0)  # jitter only: where the dots sit sideways
    colours = [tuple(c / 255 for c in PALETTE[i % len(PALETTE)]) for i in range(len(pairs))]
    for row, (metric, label) in enumerate((("iou", "IoU"), ("boundary_f", "boundary F"))):
        by_pair, by_class = axes[row]
        for i, (a, b) in enumerate(pairs):
            values = [r[metric] for r in result.rows if (r["set_a"], r["set_b"]) == (a, b)]
            if values:
                by_pair.boxplot([values], positions=[i], widths=0.5, showfliers=False,
                                medianprops={"color": "black"})
                by_pair.scatter(i + rng.uniform(-0.15, 0.15, len(values)), values, s=14, color=colours[i],
                                edgecolor="black", linewidth=0.3, zorder=3)
            for j, wnid in enumerate(classes):
                picked = [r[metric] for r in result.rows if (r["set_a"], r["set_b"], r["wnid"]) == (a, b, wnid)]
                if not picked:
                    continue
                offset = (i - (len(pairs) - 1) / 2) * 0.8 / max(1, len(pairs))
                x = j + offset + rng.uniform(-0.05, 0.05, len(picked))
                by_class.scatter(x, picked, s=14, color=colours[i], edgecolor="black", linewidth=0.3, zorder=3,
                                 label=f"{a} vs {b}" if j == 0 or not by_class.get_legend_handles_labels()[1]
                                 else None)
                by_class.hlines(np.median(picked), j + offset - 0.12, j + offset + 0.12, color="black", zorder=4)
        by_pair.set_xticks(range(len(pairs)), [f"{a}\nvs {b}" for a, b in pairs], fontsize=8)
        by_class.set_xticks(range(len(classes)), [result.class_names[w] for w in classes], rotation=30, ha="right",
                            fontsize=8)
        for ax in (by_pair, by_class):
            ax.set_ylim(-0.03, 1.03)
            ax.set_ylabel(label)
            ax.grid(axis="y", alpha=0.3)
        by_pair.set_xlim(-0.6, len(pairs) - 0.4)
        by_class.set_xlim(-0.6, len(classes) - 0.4)
    handles, labels = axes[0][1].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    axes[0][1].legend(unique.values(), unique.keys(), fontsize=8, loc="lower left")
    axes[0][0].set_title("per pair of sets", fontsize=10)
    axes[0][1].set_title("per class (bar: median)", fontsize=10)
    tolerance = result.settings["tolerance"]
    fig.suptitle(f"Mask agreement per source (boundary tolerance {tolerance:g}"
                 f"{' of the diagonal' if tolerance < 1 else ' px'})", fontsize=11)
    fig.tight_layout()
    with atomic_target(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def _photo(path: str | None, shape: tuple[int, int]) -> tuple[np.ndarray, str | None]:
    """The photo as RGB, or a grey card and the reason when it is missing or of another size."""
    if path is not None:
        try:
            rgb = read_rgb(path).rgb
        except (OSError, ImageDecodeError) as error:
            return np.full((*shape, 3), 200, np.uint8), f"photo unreadable: {error}"
        if rgb.shape[:2] == shape:
            return rgb, None
        return np.full((*shape, 3), 200, np.uint8), "photo of another size"
    return np.full((*shape, 3), 200, np.uint8), "no photo"


def _outline(tile: np.ndarray, mask: np.ndarray, scale: float, colour: tuple[int, int, int], thickness: int) -> None:
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    scaled = [np.rint((c.astype(np.float64) + 0.5) * scale - 0.5).astype(np.int32) for c in contours]
    cv2.polylines(tile, scaled, True, colour, thickness, cv2.LINE_AA)


def gallery_tiles(result: Agreement, photos: Mapping[str, str], count: int) -> list[tuple[str, np.ndarray]]:
    """(label, picture) of the `count` least agreeing source-pair rows (lowest IoU first)."""
    colour = {s.name: PALETTE[i % len(PALETTE)] for i, s in enumerate(result.sets)}
    sets = {s.name: s for s in result.sets}
    ranked = sorted(result.rows, key=lambda r: (r["iou"], r["boundary_f"], r["source_id"], r["set_a"], r["set_b"]))
    tiles = []
    for row in ranked[:count]:
        sid = row["source_id"]
        try:
            a, b = sets[row["set_a"]].load(sid), sets[row["set_b"]].load(sid)
        except (MaskError, OSError):
            continue  # already reported as a problem when the run read it
        photo, missing = _photo(photos.get(sid), a.shape)
        scale = TILE_WIDTH / a.shape[1]
        size = (TILE_WIDTH, max(1, round(a.shape[0] * scale)))
        tile = cv2.resize(photo, size, interpolation=cv2.INTER_AREA).astype(np.float32) * 0.8
        # Where only one set calls a pixel object, tint it in that set's colour.
        for only, name in (((a > 0) & (b == 0), row["set_a"]), ((b > 0) & (a == 0), row["set_b"])):
            shown = cv2.resize(only.view(np.uint8), size, interpolation=cv2.INTER_AREA)[..., None] > 0
            tile = np.where(shown, tile * (1 - TINT) + np.array(colour[name], np.float32) * TINT, tile)
        tile = tile.astype(np.uint8)
        _outline(tile, a, scale, colour[row["set_a"]], 3)
        _outline(tile, b, scale, colour[row["set_b"]], 1)
        if missing:
            cv2.putText(tile, missing, (6, size[1] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1, cv2.LINE_AA)
        pair = f" {row['set_a']}/{row['set_b']}" if len(result.pairs) > 1 else ""
        label = f"{sid}{pair} IoU {row['iou']:.2f} F {row['boundary_f']:.2f}"
        tiles.append((label, tile))
    return tiles


def _legend(result: Agreement, width: int) -> np.ndarray:
    strip = np.full((LABEL_HEIGHT + 8, width, 3), 255, np.uint8)
    x = 6
    for i, s in enumerate(result.sets):
        colour = PALETTE[i % len(PALETTE)]
        cv2.line(strip, (x, 15), (x + 24, 15), colour, 2, cv2.LINE_AA)
        cv2.putText(strip, s.name, (x + 30, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
        x += 40 + cv2.getTextSize(s.name, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)[0][0] + 12
    note = "first set of the pair: thick outline; tint: object for one set only"
    cv2.putText(strip, note, (x + 10, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (90, 90, 90), 1, cv2.LINE_AA)
    return strip


def write_gallery(result: Agreement, path: str | Path, photos: Mapping[str, str], *, count: int = 8) -> Path:
    """The least agreeing sources: each pair's two outlines over the photo, pixels only one set calls object
    tinted in its colour, and a colour legend."""
    tiles = gallery_tiles(result, photos, count)
    if not tiles:
        picture = np.full((LABEL_HEIGHT + 40, 400, 3), 255, np.uint8)
        cv2.putText(picture, "no source compared", (8, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 1,
                    cv2.LINE_AA)
    else:
        grid = make_grid(tiles, tile_width=TILE_WIDTH, columns=min(4, len(tiles)))
        picture = np.vstack([_legend(result, grid.shape[1]), grid])
    return write_atomic(path, encode_png(picture))
