"""Object masks: readers for every annotation format a build accepts, mask checks, agreement between mask sets
and mask variants."""

from .mask_sets import MaskSet, open_mask_set
from .metrics import PairMetrics, compare_masks
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
)
from .set_agreement import Agreement, agreement
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
]
