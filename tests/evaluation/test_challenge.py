"""ImageNet-9's backgrounds challenge: a toy model that reads the background gives the hand-computed accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from ximagenet12 import imageio
from ximagenet12.evaluation import challenge as ch
from ximagenet12.evaluation import evaluate
from ximagenet12.evaluation.preprocessing import Preprocessing
from ximagenet12.evaluation.source import open_build

from .tiny_build import SYNTHETIC_CLASSES, row, write_build
from .toy_models import COLOURS

SPEC = "python:tests.evaluation.toy_models:background_colour_logits"
GREY = (128, 128, 128)
# Test split: two sources a class, each a uniform background (grey or another class's colour) and the
# class's coloured ellipse. The model predicts the class whose colour the background shows, else the object's.
TEST_BACKGROUNDS = {0: [GREY, GREY], 1: [GREY, tuple(COLOURS[0])], 2: [tuple(COLOURS[1]), GREY]}


def scene(background: tuple, colour: tuple, size=(48, 64)) -> tuple[np.ndarray, np.ndarray]:
    height, width = size
    image = np.empty((height, width, 3), np.uint8)
    image[:] = np.asarray(background, np.uint8)
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (width // 2, height // 2), (width // 4, height // 3), 0, 0, 360, 255, -1)
    image[mask > 0] = colour
    return image, mask


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    classes = [(wnid, index, name) for wnid, index, name, _ in SYNTHETIC_CLASSES]
    rows: dict = {"original": {"train": [], "test": []}}
    for label, (wnid, _, _, colour) in enumerate(SYNTHETIC_CLASSES):
        for n, background in enumerate(TEST_BACKGROUNDS[label]):
            image, mask = scene(background, colour)
            rows["original"]["test"].append(row(image, mask, label, wnid, f"{wnid}_{n}", "original"))
        image, mask = scene(GREY, colour)
        rows["original"]["train"].append(row(image, mask, label, wnid, f"{wnid}_9", "original"))
    return write_build(tmp_path_factory.mktemp("challenge") / "b", classes, rows)


def hand_rule(fg_label: int, background: tuple) -> bool:
    """The toy model is right iff the background is grey or of the foreground's own colour."""
    return background == GREY or background == tuple(COLOURS[fg_label])


def backgrounds_by_id() -> dict[str, tuple[int, tuple]]:
    return {f"{SYNTHETIC_CLASSES[label][0]}_{n}": (label, bg)
            for label, bgs in TEST_BACKGROUNDS.items() for n, bg in enumerate(bgs)}


def test_challenge_accuracy_equals_the_hand_computed_value(build: Path, tmp_path: Path) -> None:
    # By hand, every other-class background: red foregrounds meet the green background (fooled), green ones
    # meet only grey and green (never fooled), blue ones meet the red background (fooled): 2 of 6 survive.
    result = evaluate(SPEC, build, configs="original", challenge=True, out=tmp_path, progress=False, resamples=50)
    assert result.challenge.accuracy == pytest.approx(2 / 6)
    assert (result.challenge.correct, result.challenge.foregrounds, result.challenge.pairs) == (2, 6, 24)
    assert [c["accuracy"] for c in result.challenge.per_class] == [0.0, 1.0, 0.0]
    # The red background (a missile source) fools the two blue foregrounds of the four it meets; grey ones fool none.
    most = result.challenge.most_fooling
    missile = [(b.source_id, b.fooled, b.met) for b in most["missile"]]
    assert missile == [("n03773504_1", 2, 4), ("n03773504_0", 0, 4)]
    assert (most["espresso"][0].source_id, most["espresso"][0].fooled, most["espresso"][0].met) == (
        "n07920052_0", 2, 4)

    summary = json.loads((tmp_path / "summary.json").read_text())
    challenge = summary["results"]["challenge"]
    assert challenge["accuracy"] == pytest.approx(1 / 3) and challenge["foregrounds"] == 6
    assert challenge["options"]["backgrounds"] == 0 and challenge["options"]["seed"] == 0
    assert challenge["options"]["pool"] == "other" and "backgrounds_challenge" in challenge["reference"]
    assert challenge["meaningful"] is False
    pairs = pq.read_table(tmp_path / "challenge.parquet")
    ids = backgrounds_by_id()
    for record in pairs.to_pylist():
        assert record["correct"] == hand_rule(record["label"], ids[record["background_id"]][1])
        assert record["background_label"] != record["label"]
    report = (tmp_path / "report.md").read_text()
    assert "Backgrounds challenge" in report and "challenge_backgrounds.png" in report
    assert (tmp_path / "challenge_backgrounds.png").read_bytes()[:4] == b"\x89PNG"
    rerun = evaluate(SPEC, build, configs="original", challenge=True, out=tmp_path, progress=False, resamples=50)
    assert "challenge" in rerun.summary["runtime"]["resumed_configs"]
    assert rerun.challenge_pairs.equals(result.challenge_pairs)


def test_pool_all_follows_challenge_eval_py(build: Path) -> None:
    # Same-class backgrounds too: the green foreground on grey now meets the other green source's red background.
    result = evaluate(SPEC, build, configs="original", challenge=True, challenge_pool="all", progress=False,
                      resamples=20)
    assert result.challenge.accuracy == pytest.approx(1 / 6)
    assert result.challenge.pairs == 6 * 5


def test_n_backgrounds_are_drawn_per_foreground_reproducibly(build: Path) -> None:
    runs = [evaluate(SPEC, build, configs="original", challenge=True, challenge_backgrounds=2, seed=seed,
                     progress=False, resamples=20) for seed in (0, 0, 1)]
    first, again, other = (r.challenge_pairs for r in runs)
    assert first.equals(again) and not first.equals(other)
    ids = backgrounds_by_id()
    for table, result in ((first, runs[0]), (other, runs[2])):
        by_fg: dict[str, list[bool]] = {}
        for record in table.to_pylist():
            assert record["correct"] == hand_rule(record["label"], ids[record["background_id"]][1])
            by_fg.setdefault(record["source_id"], []).append(record["correct"])
        assert all(len(v) == 2 for v in by_fg.values()) and len(by_fg) == 6
        assert result.challenge.correct == sum(all(v) for v in by_fg.values())
        assert result.challenge.backgrounds_per_foreground == (2, 2)


def test_plan_is_independent_of_the_order_sources_are_read(build: Path) -> None:
    items = ch.read_items(open_build(build), "test")
    options = ch.ChallengeOptions(backgrounds=2, seed=5)

    def named(listed: list[ch.Item]) -> dict[str, list[str]]:
        plan = ch.plan_pairs(listed, options)
        return {item.source_id: sorted(listed[j].source_id for j in plan[i]) for i, item in enumerate(listed)}

    forward = named(items)
    assert forward == named(items[::-1]) == named(items[1::2] + items[::2])
    labels = {item.source_id: item.label for item in items}
    assert all(labels[bg] != labels[fg] for fg, bgs in forward.items() for bg in bgs)
    assert all(len(bgs) == 2 for bgs in forward.values())


def test_pastes_are_made_as_the_builds_mixed_rows(synthetic_build: Path) -> None:
    source = open_build(synthetic_build)
    split = max(source.splits("mixed_rand"), key=lambda s: source.num_rows("mixed_rand", s))
    items = {item.source_id: item for item in ch.read_items(source, split)}
    quality = source.manifest.encoding["jpeg_quality"]
    checked = 0
    for path in source.files("mixed_rand", split):
        for record in pq.read_table(path, columns=["image", "source_id", "background_id"]).to_pylist():
            if record["background_id"] not in items:  # partner from the other split
                continue
            fg = items[record["source_id"]]
            pasted = ch.paste(imageio.decode_rgb(fg.image).rgb, ch.decode_mask(fg.mask),
                              ch.background(items[record["background_id"]]))
            assert imageio.encode_jpeg(pasted, quality) == record["image"]["bytes"]  # the build's JPEG of it
            checked += 1
    assert checked > 0


def test_batches_hold_every_pair_once_whatever_the_block(build: Path) -> None:
    items = ch.read_items(open_build(build), "test")
    plan = ch.plan_pairs(items, ch.ChallengeOptions())
    pre = Preprocessing(resize=32, crop=32)
    seen = []
    for batch, _ in ch.pasted_batches(items, plan, pre, batch_size=5, block=2):
        assert batch.images.shape[1:] == (32, 32, 3) and len(batch.images) <= 5
        seen += list(zip(batch.foregrounds.tolist(), batch.backgrounds.tolist(), strict=True))
    assert sorted(seen) == sorted((i, int(j)) for i in range(len(items)) for j in plan[i])
    assert len(seen) == len(set(seen)) == 24


def test_options_are_checked() -> None:
    with pytest.raises(ValueError):
        ch.ChallengeOptions(backgrounds=-1)
    with pytest.raises(ValueError):
        ch.ChallengeOptions(pool="same")


def test_a_build_without_originals_has_no_challenge(tmp_path: Path) -> None:
    from ximagenet12.errors import XImageNet12Error

    from .tiny_build import make_synthetic_build

    build = make_synthetic_build(tmp_path / "b", ("seg_img",))
    with pytest.raises(XImageNet12Error, match="needs the 'original' config's 'test' split"):
        evaluate(SPEC, build, challenge=True, progress=False, resamples=10)
