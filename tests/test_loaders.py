"""A build loads with plain `datasets`, oldest and newest tested release, each in its own virtualenv.

The card and the README promise the range in `ximagenet12_builder.card` (DATASETS_OLDEST..DATASETS_NEWEST). Each
virtualenv is created from PyPI on first use in the user's cache ($XIMAGENET12_TEST_VENVS, else
~/.cache/ximagenet12/test-venvs, so fresh clones and CI runs on one machine share them) and reused while its
requirements are unchanged. Every config and split is read normally and streaming; the rows must equal the
shards' own bytes read here with pyarrow.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image
from ximagenet12_builder.card import DATASETS_NEWEST, DATASETS_OLDEST

from ximagenet12 import manifest as mf

VENVS = Path(
    os.environ.get("XIMAGENET12_TEST_VENVS")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ximagenet12" / "test-venvs"
)
MARKER = "ximagenet12-requirements.txt"
# Releases of datasets before 2.20 need NumPy 1 (and so a pyarrow built for it) and a huggingface_hub before 1.0;
# 2.14.0 also an fsspec of its time (it pins none; later ones break its data-file resolution). Images need Pillow.
REQUIREMENTS = {
    DATASETS_OLDEST: [
        f"datasets=={DATASETS_OLDEST}", "numpy<2", "pyarrow<20", "huggingface_hub<1", "fsspec<=2023.6.0", "pillow"
    ],
    DATASETS_NEWEST: [f"datasets=={DATASETS_NEWEST}", "pillow"],
}
RESULT = "@@LOADED@@ "
LOAD = """
import hashlib, json, sys
import datasets
from datasets import Image, load_dataset

def digest(rows):
    return [[r["source_id"], r["label"], r["wnid"], r["scenario"], r["background_id"], r["params"], r["fold"],
             hashlib.sha256(r["image"]["bytes"]).hexdigest(), hashlib.sha256(r["mask"]["bytes"]).hexdigest()]
            for r in rows]

def raw(ds):
    return ds.cast_column("image", Image(decode=False)).cast_column("mask", Image(decode=False))

folder, jobs = sys.argv[1], json.loads(sys.argv[2])
out = {"version": datasets.__version__, "splits": {}}
for config, split in jobs:
    ds = load_dataset(folder, config, split=split)
    stream = load_dataset(folder, config, split=split, streaming=True)
    out["splits"][f"{config}/{split}"] = {
        "names": ds.features["label"].names,
        "normal": digest(raw(ds)),
        "streamed": digest(raw(stream)),
        "sizes": [[*r["image"].size, r["image"].mode, *r["mask"].size] for r in ds],
        "streamed_sizes": [[*r["image"].size, r["image"].mode, *r["mask"].size] for r in stream],
    }
print("@@LOADED@@ " + json.dumps(out))
"""


def loader_python(version: str) -> Path:
    """The Python of a virtualenv holding `datasets==version`, created (or recreated) when needed."""
    folder = VENVS / f"datasets-{version}"
    python = folder / "bin" / "python"
    wanted = "\n".join(REQUIREMENTS[version]) + "\n"
    marker = folder / MARKER
    if python.exists() and marker.is_file() and marker.read_text() == wanted:
        return python
    if folder.exists():
        if not marker.is_file():
            pytest.fail(f"{folder} exists but was not made by this test; move it away")
        shutil.rmtree(folder)
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=600)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *REQUIREMENTS[version]],
        check=True,
        timeout=3600,
    )
    marker.write_text(wanted)
    return python


def _digest(row: dict) -> list:
    fields = [row[k] for k in ("source_id", "label", "wnid", "scenario", "background_id", "params", "fold")]
    return [*fields, *(hashlib.sha256(row[k]["bytes"]).hexdigest() for k in ("image", "mask"))]


def _sizes(row: dict) -> list:
    with Image.open(io.BytesIO(row["image"]["bytes"])) as image, Image.open(io.BytesIO(row["mask"]["bytes"])) as mask:
        return [*image.size, image.mode, *mask.size]


def expected_splits(build: Path) -> dict[str, dict]:
    """What every config/split holds, read straight from the shards with pyarrow and decoded with Pillow."""
    manifest = mf.read_manifest(build)
    expected = {}
    for config in manifest.built_configs():
        for split in manifest.configs[config].split_names():
            rows = []
            for entry in manifest.files_of(config, split):
                rows += pq.read_table(build / entry.path).to_pylist()
            expected[f"{config}/{split}"] = {
                "names": manifest.class_names,
                "rows": [_digest(r) for r in rows],
                "sizes": [_sizes(r) for r in rows],
            }
    return expected


@pytest.mark.slow
@pytest.mark.parametrize("version", [DATASETS_OLDEST, DATASETS_NEWEST])
def test_every_config_loads_normally_and_streaming(version: str, synthetic_build: Path, tmp_path: Path) -> None:
    python = loader_python(version)
    expected = expected_splits(synthetic_build)
    jobs = [key.split("/") for key in expected]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "PYTHON"))}
    env.update(
        HF_HOME=str(tmp_path / "hf"), HF_DATASETS_CACHE=str(tmp_path / "hf" / "datasets"), HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", HF_DATASETS_DISABLE_PROGRESS_BARS="1",
        USE_TORCH="0", USE_TF="0", USE_JAX="0", PYTHONNOUSERSITE="1",
    )  # fmt: skip
    run = subprocess.run(
        [str(python), "-c", LOAD, str(synthetic_build), json.dumps(jobs)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    loaded = json.loads(next(line for line in run.stdout.splitlines() if line.startswith(RESULT))[len(RESULT) :])
    assert loaded["version"] == version
    assert set(loaded["splits"]) == set(expected)
    for key, want in expected.items():
        got = loaded["splits"][key]
        assert got["names"] == want["names"], key
        assert got["normal"] == want["rows"] and got["streamed"] == want["rows"], key
        assert got["sizes"] == want["sizes"] and got["streamed_sizes"] == want["sizes"], key
