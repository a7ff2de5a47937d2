"""Pixels around the model: the size it works at, what it repaints, and the object pasted back exactly.

A source is scaled (aspect kept) to about the model's native area at a size its UNet accepts; the model
repaints the background grown a little into the object, so the seam is repainted too; its output is
scaled back to the source's size and the source's object pixels are pasted over it with the mask.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ximagenet12.scenarios.functional import composite

GREY = 127  # what the model is shown where it repaints: no trace of the original background


def working_size(height: int, width: int, native: int, multiple: int) -> tuple[int, int]:
    """(height, width) of area about native², aspect kept, each side a positive multiple of `multiple`."""
    scale = native / math.sqrt(height * width)
    return (
        max(multiple, round(height * scale / multiple) * multiple),
        max(multiple, round(width * scale / multiple) * multiple),
    )


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    height, width = size
    shrink = height * width < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def repaint_mask(mask: np.ndarray, size: tuple[int, int], dilation: int) -> np.ndarray:
    """0/255 mask at `size`, 255 where the model repaints: the background grown `dilation` px into the object."""
    height, width = size
    background = (cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST) == 0).astype(np.uint8) * 255
    if dilation > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilation + 1, 2 * dilation + 1))
        background = cv2.dilate(background, kernel)
    return background


def model_input(image: np.ndarray, repaint: np.ndarray) -> np.ndarray:
    """The source at the repaint mask's size, grey wherever the model repaints."""
    out = _resize(image, repaint.shape)
    out[repaint > 0] = GREY
    return out


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A float image in [0, 1] (a pipeline's numpy output) as uint8, rounded as diffusers rounds."""
    return (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)


def finish(generated: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The generated picture at the source's size with the source's object pixels pasted back exactly."""
    return composite(image, _resize(generated, image.shape[:2]), mask)
