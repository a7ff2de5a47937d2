"""The small real sample shipped with the package: photos, LabelMe outlines and backgrounds."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path


def sample_root() -> Path:
    """The sample folder: `images/<wnid>/<id>.JPEG` + `<id>.json`, `backgrounds/`, `classes.json`."""
    root = files("ximagenet12").joinpath("sample")
    if not isinstance(root, Path) or not root.is_dir():
        raise FileNotFoundError(f"ximagenet12 sample data not found (looked in {root})")
    return root


def sample_classes() -> list[dict]:
    """The sample's class table: [{"wnid", "imagenet_index", "name"}, ...] in wnid order."""
    return json.loads((sample_root() / "classes.json").read_text(encoding="utf-8"))
