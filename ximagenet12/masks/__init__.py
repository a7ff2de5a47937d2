"""Object masks: readers for every annotation format a build accepts, mask checks, agreement between mask sets
and mask variants."""

from typing import Any

from .readers import (
    AREA_SHAPE_TYPES,
    LOSSLESS_SUFFIXES,
    LOSSY_SUFFIXES,
    CocoImage,
    MaskError,
    check_mask,
    coco_index,
    is_binary,
    load_mask,
    mask_from_coco,
    mask_from_labelme,
    mask_from_png,
    polygon_mask,
    same_mask,
)
from .variants import MaskVariant, VariantError, parse_variant

__all__ = [
    "AREA_SHAPE_TYPES",
    "LOSSLESS_SUFFIXES",
    "LOSSY_SUFFIXES",
    "Agreement",
    "CocoImage",
    "MaskError",
    "MaskSet",
    "MaskVariant",
    "PairMetrics",
    "VariantError",
    "agreement",
    "check_mask",
    "coco_index",
    "compare_masks",
    "is_binary",
    "load_mask",
    "mask_from_coco",
    "mask_from_labelme",
    "mask_from_png",
    "open_mask_set",
    "parse_variant",
    "polygon_mask",
    "same_mask",
]

# Agreement between mask sets is not needed to build or load: imported on first use.
_LAZY = {
    "Agreement": "set_agreement",
    "agreement": "set_agreement",
    "MaskSet": "mask_sets",
    "open_mask_set": "mask_sets",
    "PairMetrics": "metrics",
    "compare_masks": "metrics",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
