"""The build reads `generation.jsonl` beside generated images: records go into rows, bad lines are reported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from ximagenet12_builder.generation import RECORDS_NAME
from ximagenet12_builder.pipeline import BuildOptions, run_build

from ximagenet12 import manifest as mf
from ximagenet12.imageio import encode_png
from ximagenet12.synthetic import make_scene


@pytest.fixture
def sources(synthetic_sources: Path, tmp_path: Path) -> Path:
    """The session's synthetic sources with two generated images and a generation.jsonl: one good, one bad line."""
    root = Path(shutil.copytree(synthetic_sources, tmp_path / "sources"))
    folder = root / "ai_backgrounds"
    folder.mkdir()
    ids = sorted(p.stem for p in (root / "image").rglob("*.JPEG"))[:2]
    for i, source_id in enumerate(ids):
        image, _ = make_scene(500 + i, 48, 64)
        (folder / f"{source_id}.png").write_bytes(encode_png(image))
    good = {"file": f"{ids[0]}.png", "model": {"id": "ns/painter", "revision": "abc"}}
    (folder / RECORDS_NAME).write_text(json.dumps(good) + "\n" + "{not json\n")
    return root


def test_a_bad_record_is_reported_once_and_the_images_still_build(sources: Path, tmp_path: Path) -> None:
    out = tmp_path / "build"
    report = run_build(BuildOptions(sources=sources, out=out, configs=("ai_bg",), progress=False))
    records_file = (sources / "ai_backgrounds" / RECORDS_NAME).relative_to(sources).as_posix()
    faults = [r for r in report.faults if r.file == records_file]
    assert [r.reason.split(":")[0] for r in faults] == ["line 1", "line 2"]  # incomplete record; not JSON
    assert "missing" in faults[0].reason and "not a JSON record" in faults[1].reason
    assert not [r for r in report.faults if r.file != records_file]
    assert mf.read_manifest(out).configs["ai_bg"].num_rows == 2
    assert mf.read_manifest(out).sources.generation_models == ()
