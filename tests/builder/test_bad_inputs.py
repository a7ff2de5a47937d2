"""Bad inputs are reported in rejected.jsonl with file and reason, and the rest of the build goes on."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from ximagenet12_builder.cli import main

from ximagenet12.classes import WNIDS
from ximagenet12.synthetic import make_scene, make_source_tree

WNID = WNIDS[0]


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _add(root: Path, stem: str, image_bytes: bytes, mask: np.ndarray | bytes | None, suffix: str = ".JPEG") -> Path:
    path = root / "image" / WNID / f"{stem}{suffix}"
    path.write_bytes(image_bytes)
    if mask is not None:
        mask_path = root / "masks" / WNID / f"{stem}.png"
        if isinstance(mask, bytes):
            mask_path.write_bytes(mask)
        else:
            Image.fromarray(mask).save(mask_path)
    return path


@pytest.fixture(scope="module")
def bad_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Good synthetic sources plus one of every kind of bad or odd input."""
    root = tmp_path_factory.mktemp("bad")
    make_source_tree(root, n_per_class=2, wnids=WNIDS[:3], layout="authors")
    rgb, mask = make_scene(7, 96, 128)
    good_jpeg = _jpeg(Image.fromarray(rgb))
    _add(root, f"{WNID}_100", good_jpeg[: len(good_jpeg) // 2], mask)  # truncated
    _add(root, f"{WNID}_101", _jpeg(Image.fromarray(rgb).convert("CMYK")), mask)
    _add(root, f"{WNID}_102", _jpeg(Image.fromarray(rgb).convert("L")), mask)
    palette = io.BytesIO()
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(palette, format="PNG")
    _add(root, f"{WNID}_103", palette.getvalue(), mask, suffix=".png")
    _add(root, f"{WNID}_104", good_jpeg, np.zeros((50, 60), np.uint8))  # mask of another size
    _add(root, f"{WNID}_105", good_jpeg, np.zeros_like(mask))  # empty mask
    _add(root, f"{WNID}_106", good_jpeg, b"this is not a png")  # undecodable mask
    _add(root, f"{WNID}_107", good_jpeg, None)  # missing mask
    _add(root, f"{WNID}_108", b"plain text, not an image", mask)  # non-image with an image suffix
    (root / "image" / WNID / "notes.txt").write_text("not an image")
    (root / "image" / "n99999999").mkdir()
    (root / "image" / "n99999999" / "n99999999_1.JPEG").write_bytes(good_jpeg)  # unknown class
    # the same id twice: a .png beside the .JPEG of an existing source
    _add(root, f"{WNID}_1", palette.getvalue(), None, suffix=".png")
    return root


@pytest.fixture(scope="module")
def bad_build(bad_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    out = tmp_path_factory.mktemp("out") / "out"
    code = main(
        ["build", str(bad_tree), "--out", str(out), "--no-progress", "--configs", "original,blur_bg,mixed_rand"]
    )
    return out, code


def _rejected(out: Path) -> dict[str, str]:
    lines = (out / "rejected.jsonl").read_text().splitlines()
    return {Path(r["file"]).name: r["reason"] for r in map(json.loads, lines)}


def test_build_goes_on_and_exits_zero(bad_build: tuple[Path, int]) -> None:
    out, code = bad_build
    assert code == 0
    originals = json.loads((out / "build_manifest.json").read_text())["configs"]["original"]["splits"]
    assert sum(s["num_examples"] for s in originals.values()) == 6 + 3  # good sources + CMYK, grey, palette


@pytest.mark.parametrize(
    "name, reason",
    [
        (f"{WNID}_100.JPEG", "not a decodable image"),
        (f"{WNID}_104.png", "mask is 50x60"),
        (f"{WNID}_105.png", "empty mask"),
        (f"{WNID}_106.png", "cannot decode image"),
        (f"{WNID}_107.JPEG", "missing mask"),
        (f"{WNID}_108.JPEG", "not a decodable image"),
        ("notes.txt", "not an image file"),
        ("n99999999_1.JPEG", "not a class of this build"),
        (f"{WNID}_1.png", "duplicate id"),
    ],
)
def test_each_bad_input_is_rejected_with_its_file_and_reason(
    bad_build: tuple[Path, int], name: str, reason: str
) -> None:
    rejected = _rejected(bad_build[0])
    assert name in rejected
    assert reason in rejected[name]
    assert "/tmp" not in rejected[name], "reasons name files relative to the sources folder"


def test_converted_sources_are_built_with_a_note(bad_build: tuple[Path, int]) -> None:
    import pyarrow.parquet as pq

    out = bad_build[0]
    notes = {}
    for f in (out / "data" / "blur_bg").glob("*.parquet"):
        for row in pq.read_table(f, columns=["source_id", "params"]).to_pylist():
            notes[row["source_id"]] = json.loads(row["params"]).get("source_note")
    assert "CMYK" in notes[f"{WNID}_101"]
    assert notes[f"{WNID}_102"].startswith("converted L")
    assert notes[f"{WNID}_103"].startswith("converted P")
    assert notes[f"{WNID}_1"] is None


def test_summary_names_the_rejects(bad_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(
        ["build", str(bad_tree), "--out", str(tmp_path / "o"), "--no-progress", "--configs", "original", "--strict"]
    )
    assert code == 1
    printed = capsys.readouterr()
    assert "rejected:" in printed.out and "rejected.jsonl" in printed.out
    assert "--strict" in printed.err
    listed = [line.strip() for line in printed.out.splitlines() if line.startswith("  ") and ": " in line]
    assert listed and all(line.count(line.split(": ", 1)[0] + ": ") == 1 for line in listed)  # each file named once


def test_nothing_built_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "src"
    (root / "image" / WNID).mkdir(parents=True)
    (root / "image" / WNID / f"{WNID}_1.JPEG").write_bytes(b"garbage")
    (root / "masks" / WNID).mkdir(parents=True)
    (root / "masks" / WNID / f"{WNID}_1.png").write_bytes(b"garbage")
    assert main(["build", str(root), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "nothing was built" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("kind", ["empty", "wrong"])
def test_an_empty_or_wrong_folder_writes_nothing_and_prints_the_layouts(
    tmp_path: Path, capsys: pytest.CaptureFixture, kind: str
) -> None:
    root = tmp_path / "src"
    root.mkdir()
    if kind == "wrong":  # photos without annotations, and notes
        Image.fromarray(make_scene(1)[0]).save(root / "holiday.jpg")
        (root / "notes.txt").write_text("hello")
    out = tmp_path / "o"
    assert main(["build", str(root), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert not out.exists(), "nothing is written, not even the lock"
    assert err[-1].startswith("ximagenet12 build: error: ") and "no annotated source found" in err[-1]
    layouts = [line.strip() for line in err[1:-1]]
    assert len(layouts) == 5
    assert any(line.startswith("image/<wnid>/") for line in layouts)
    assert any("LabelMe" in line for line in layouts) and any("COCO" in line for line in layouts)
    assert any(line.startswith("backgrounds/") and "n02123159" in line for line in layouts)
    if kind == "wrong":
        assert "holiday.jpg: missing mask" in err[-1]


def test_missing_sources_folder_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["build", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "sources folder not found" in capsys.readouterr().err
