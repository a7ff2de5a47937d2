"""Object masks: readers for every annotation format a build accepts, and mask checks."""

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

__all__ = [
    "AREA_SHAPE_TYPES",
    "LOSSLESS_SUFFIXES",
    "LOSSY_SUFFIXES",
    "CocoImage",
    "MaskError",
    "check_mask",
    "coco_index",
    "is_binary",
    "load_mask",
    "mask_from_coco",
    "mask_from_labelme",
    "mask_from_png",
    "polygon_mask",
]
