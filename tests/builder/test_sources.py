"""Discovery of every source layout, background photos and AI-generated images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ximagenet12_builder.pipeline import BuildOptions, run_build
from ximagenet12_builder.sources import discover

from ximagenet12.classes import WNIDS
from ximagenet12.imageio import encode_jpeg, encode_png
from ximagenet12.synthetic import make_scene, make_source_tree


@pytest.mark.parametrize("layout", ["authors", "labelme", "coco"])
def test_every_layout_gives_the_same_sources(tmp_path: Path, layout: str) -> None:
    ids = make_source_tree(tmp_path, n_per_class=2, wnids=WNIDS[:3], layout=layout)
    inv = discover(tmp_path)
    assert sorted(s.id for s in inv.sources) == sorted(ids)
    assert inv.rejected == []
    assert {s.mask_kind for s in inv.sources} == {"authors": {"png"}, "labelme": {"labelme"}, "coco": {"coco"}}[layout]


def test_standard_masks_are_found(tmp_path: Path) -> None:
    ids = make_source_tree(tmp_path, n_per_class=1, wnids=WNIDS[:2], standard_masks=True)
    inv = discover(tmp_path)
    assert sorted(s.id for s in inv.sources) == sorted(ids)
    assert all("standard_masks" in s.mask for s in inv.sources)


def test_backgrounds_keep_their_class_and_generated_images_their_source(tmp_path: Path) -> None:
    ids = make_source_tree(tmp_path, n_per_class=1, wnids=WNIDS[:2])
    photo = encode_jpeg(np.full((40, 60, 3), 90, np.uint8))
    (tmp_path / "backgrounds" / WNIDS[0]).mkdir(parents=True)
    (tmp_path / "backgrounds" / WNIDS[0] / "forest.jpg").write_bytes(photo)  # a build class: refused
    (tmp_path / "backgrounds" / "n02123159").mkdir()
    (tmp_path / "backgrounds" / "n02123159" / "tiger.jpg").write_bytes(photo)
    (tmp_path / "backgrounds" / f"{WNIDS[1]}_77.JPEG").write_bytes(photo)  # ImageNet name of a build class: refused
    (tmp_path / "backgrounds" / "sky.jpg").write_bytes(photo)
    (tmp_path / "ai_backgrounds").mkdir()
    (tmp_path / "ai_backgrounds" / f"{ids[0]}_sdxl.png").write_bytes(encode_png(np.full((64, 64, 3), 30, np.uint8)))
    (tmp_path / "ai_backgrounds" / "n00000000_1_sdxl.png").write_bytes(photo)
    (tmp_path / "ai_backgrounds" / "nonsense.png").write_bytes(photo)
    inv = discover(tmp_path)
    assert {(b.id, b.wnid, b.origin) for b in inv.backgrounds} == {
        ("n02123159/tiger", "n02123159", "backgrounds/n02123159/tiger.jpg"),
        ("sky", None, "backgrounds/sky.jpg"),
    }
    assert inv.background_classes == ("n02123159",)
    assert [(g.id, g.source_id) for g in inv.generated] == [(f"{ids[0]}_sdxl", ids[0])]
    reasons = {Path(r.file).name: r.reason for r in inv.rejected}
    assert "not a source of this build" in reasons["n00000000_1_sdxl.png"]
    assert "does not start with a source id" in reasons["nonsense.png"]
    for refused in ("forest.jpg", f"{WNIDS[1]}_77.JPEG"):
        assert "one of this build's classes" in reasons[refused] and "n02123159" in reasons[refused]


def test_ai_bg_rows_take_the_generated_image_and_a_resized_mask(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from ximagenet12.imageio import decode_any

    ids = make_source_tree(tmp_path / "src", n_per_class=2, wnids=WNIDS[:2])
    (tmp_path / "src" / "ai_backgrounds").mkdir()
    generated, _ = make_scene(5, 64, 80)
    (tmp_path / "src" / "ai_backgrounds" / f"{ids[1]}_a.png").write_bytes(encode_png(generated))
    out = tmp_path / "out"
    report = run_build(BuildOptions(tmp_path / "src", out, configs=("ai_bg",), progress=False))
    assert sum(report.counts["ai_bg"].values()) == 1
    (row,) = [r for f in (out / "data" / "ai_bg").glob("*.parquet") for r in pq.read_table(f).to_pylist()]
    assert row["source_id"] == ids[1] and row["background_id"] == f"{ids[1]}_a"
    assert decode_any(row["mask"]["bytes"]).shape == (64, 80)
    assert np.abs(decode_any(row["image"]["bytes"]).astype(int) - generated).mean() < 12  # JPEG of the same image


def test_a_class_table_beside_the_sources_is_used(tmp_path: Path) -> None:
    import json

    make_source_tree(tmp_path, n_per_class=1, wnids=["n02123045", "n07920052"])
    table = [
        {"wnid": "n07920052", "imagenet_index": 967, "name": "espresso"},
        {"wnid": "n02123045", "imagenet_index": 281, "name": "tabby cat"},
    ]
    (tmp_path / "classes.json").write_text(json.dumps(table))
    inv = discover(tmp_path)
    assert [(c.label, c.name) for c in inv.classes] == [(0, "tabby cat"), (1, "espresso")]
    assert len(inv.sources) == 2


def test_a_malformed_class_table_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "classes.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"classes\.json"):
        discover(tmp_path)
