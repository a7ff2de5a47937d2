"""The build manifest (`build_manifest.json`): recipe, seed, versions, classes and every file's hash."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ximagenet12.classes import ClassInfo
from ximagenet12.scenarios import SCENARIOS

MANIFEST_NAME = "build_manifest.json"
REJECTED_NAME = "rejected.jsonl"
STATE_DIR = ".build"


def library_versions() -> dict[str, str]:
    """Versions of everything whose output bytes the build depends on."""
    import cv2
    import datasets
    import numpy
    import PIL
    import pyarrow

    import ximagenet12

    return {
        "ximagenet12": ximagenet12.__version__,
        "opencv": cv2.__version__,
        "pillow": PIL.__version__,
        "numpy": numpy.__version__,
        "pyarrow": pyarrow.__version__,
        "datasets": datasets.__version__,
    }


def scenario_recipe(name: str) -> dict[str, Any]:
    """A scenario's table entry as JSON-able data (what a config is built from)."""
    s = SCENARIOS[name]
    return {
        "title": s.title,
        "description": s.description,
        "recipe": s.recipe,
        "ranges": s.ranges,
        "mode": s.mode,
        "encoding": s.encoding,
        "family": s.family,
        "paper_column": s.paper_column,
        "departs": s.departs,
    }


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no spacing surprises: the same data gives the same bytes."""
    return json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def fingerprint(data: Any) -> str:
    """sha256 of the canonical JSON of `data`."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write a file under a temporary name and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(text.encode() if isinstance(text, str) else text)
    os.replace(tmp, path)


def classes_table(classes: tuple[ClassInfo, ...]) -> list[dict]:
    """The class table as stored in the manifest."""
    return [asdict(c) for c in classes]


def read_manifest(out_dir: Path) -> dict:
    """Read a build's manifest, with a clear error when the folder is not a build."""
    path = Path(out_dir) / MANIFEST_NAME
    if not path.exists():
        raise FileNotFoundError(f"{path}: no build manifest; is {out_dir} the output of `ximagenet12 build`?")
    return json.loads(path.read_text())
