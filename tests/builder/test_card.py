"""The dataset card: YAML for datasets and the Hub, a body rendered from the manifest, the sample grid."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from huggingface_hub import DatasetCard
from ximagenet12_builder.card import (
    LICENCE_LINK,
    REPO_PLACEHOLDER,
    card_data,
    render_card,
    size_category,
)
from ximagenet12_builder.cli import main
from ximagenet12_builder.pipeline import BuildOptions, run_build
from ximagenet12_builder.sample_grid import GRID_PATH, pick_source

from ximagenet12 import manifest as mf
from ximagenet12.features import features
from ximagenet12.scenarios import PAPER_SCENARIOS, SCENARIOS


def raw_manifest(out: Path) -> dict:
    """The manifest's JSON as written."""
    return json.loads((out / mf.MANIFEST_NAME).read_text())


def built_configs(manifest: dict) -> list[str]:
    return mf.Manifest.from_dict(manifest).built_configs()

CARD_DIR = Path(__file__).resolve().parents[2] / "dataset_card"


def front_matter(text: str) -> dict:
    return yaml.safe_load(text.split("---\n")[1])


def section(text: str, title: str) -> str:
    """The body of one `## title` section."""
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def scenario_block(text: str, name: str) -> str:
    return text.split(f"\n### `{name}`:", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]


@pytest.mark.parametrize(
    ("rows", "bucket"),
    [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (15_410, "10K<n<100K"), (250_000, "100K<n<1M"), (10**13, "n>1T")],
)
def test_size_category_follows_the_hub_buckets(rows: int, bucket: str) -> None:
    assert size_category(rows) == bucket


def test_yaml_has_licence_tasks_size_and_only_built_configs(synthetic_build: Path) -> None:
    manifest = raw_manifest(synthetic_build)
    text = (synthetic_build / "README.md").read_text()
    meta = front_matter(text)
    assert meta["license"] == "other" and meta["license_link"] == LICENCE_LINK and meta["license_name"]
    assert meta["task_categories"] == ["image-classification", "image-segmentation"]
    assert "multi-class-image-classification" in meta["task_ids"]
    assert meta["pretty_name"] == "XImageNet-12" and meta["tags"]
    rows = sum(f["num_rows"] for f in manifest["files"])
    assert meta["size_categories"] == [size_category(rows)]

    built = sorted({f["config"] for f in manifest["files"]})
    assert sorted(c["config_name"] for c in meta["configs"]) == built
    assert "ai_bg" not in built
    defaults = [c["config_name"] for c in meta["configs"] if c.get("default")]
    assert defaults == ["original"]
    for config in meta["configs"]:
        name = config["config_name"]
        splits = [s for s in ("train", "test") if s in manifest["configs"][name]["splits"]]
        assert config["data_files"] == [{"split": s, "path": f"data/{name}/{s}-*.parquet"} for s in splits]
    infos = {i["config_name"]: i for i in meta["dataset_info"]}
    names = [c["name"] for c in manifest["classes"]]
    for name in built:
        splits = {s["name"]: s for s in infos[name]["splits"]}
        built_splits = manifest["configs"][name]["splits"]
        for split, c in built_splits.items():
            assert splits[split] == {"name": split, "num_bytes": c["num_bytes"], "num_examples": c["num_examples"]}
        assert infos[name]["download_size"] == sum(s["download_size"] for s in built_splits.values())
        label = next(f for f in infos[name]["features"] if f["name"] == "label")
        assert list(label["dtype"]["class_label"]["names"].values()) == names
    assert DatasetCard(text).data.to_dict() == meta


def test_body_is_rendered_from_the_manifest_and_the_scenario_table(synthetic_build: Path) -> None:
    manifest = raw_manifest(synthetic_build)
    text = (synthetic_build / "README.md").read_text()

    counts = section(text, "Configs and splits")
    for name in built_configs(manifest):
        splits = manifest["configs"][name]["splits"]
        row = next(line for line in counts.splitlines() if line.startswith(f"| `{name}` |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2:5] == [str(splits["train"]["num_examples"]), str(splits["test"]["num_examples"]),
                              str(splits["train"]["num_examples"] + splits["test"]["num_examples"])]  # fmt: skip
    total = sum(f["num_rows"] for f in manifest["files"])
    assert f"{total} rows in {len(built_configs(manifest))} configs" in counts

    classes = section(text, "Classes")
    for c in manifest["classes"]:
        assert f"| {c['label']} | `{c['wnid']}` | {c['imagenet_index']} | {c['name']} |" in classes

    scenarios = section(text, "Scenarios")
    assert re.findall(r"^### `(\w+)`", scenarios, flags=re.M) == built_configs(manifest)
    for name in built_configs(manifest):
        spec, block = SCENARIOS[name], scenario_block(text, name)
        assert spec.title in block and spec.description in block
        for key, value in spec.recipe.items():
            assert f"`{key}` = {value}" in block
        for key in spec.ranges:
            assert f"`{key}` from" in block
        if spec.departs and spec.family == "xin12":
            assert spec.departs in block
        if spec.paper_column:
            assert f"`{spec.paper_column}`" in block

    columns = section(text, "Columns")
    for name in features(["a"]):
        assert f"| `{name}` |" in columns
    assert all(line.split(" | ")[-1].strip(" |") for line in columns.strip().splitlines()[2:])


def test_body_has_loading_evaluation_limitations_licence_and_citation(synthetic_build: Path) -> None:
    text = (synthetic_build / "README.md").read_text()
    loading = section(text, "How to load")
    assert f'load_dataset("{REPO_PLACEHOLDER}", "rand_bg", split="test")' in loading
    assert "streaming=True" in loading and "ximagenet12.load(" in loading and "DataLoader" in loading
    evaluation = section(text, "How to evaluate")
    assert "ximagenet12 evaluate" in evaluation and "Table 3" in evaluation and "n - 1" in evaluation
    assert f"n = {len(PAPER_SCENARIOS)}" in evaluation
    assert all(f"`{s}`" in evaluation for s in PAPER_SCENARIOS)
    assert "ImageNet-1k **train** images" in section(text, "Limitations")
    licence = section(text, "Licence")
    assert "published no licence" in licence and LICENCE_LINK in licence
    citation = section(text, "Citation")
    assert "@misc{" in citation and "2310.08182" in citation and "XIMAGENET-12" in citation
    assert "$" not in text


def test_sample_grid_shows_one_source_through_every_config(synthetic_build: Path) -> None:
    manifest = mf.read_manifest(synthetic_build)
    text = (synthetic_build / "README.md").read_text()
    assert f"]({GRID_PATH})" in text
    source = pick_source(synthetic_build, manifest, manifest.built_configs())
    assert f"Source `{source}`" in text
    grid = cv2.imdecode(np.frombuffer((synthetic_build / GRID_PATH).read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
    tiles = len(manifest.built_configs()) + 1  # every config, and the original's mask
    rows = -(-tiles // 5)
    assert grid.shape[1] == 5 * 200 and grid.shape[0] % rows == 0


def test_card_command_rerenders_the_same_bytes(build: Path) -> None:
    before = {p: (build / p).read_bytes() for p in ("README.md", GRID_PATH)}
    (build / "README.md").write_text("hand-edited\n")
    (build / GRID_PATH).unlink()
    assert main(["card", str(build)]) == 0
    assert {p: (build / p).read_bytes() for p in before} == before


def test_repo_id_goes_into_the_examples(build: Path) -> None:
    assert main(["card", str(build), "--repo-id", "someone/xin12"]) == 0
    text = (build / "README.md").read_text()
    assert 'load_dataset("someone/xin12", "rand_bg", split="test")' in text
    assert 'repo_id="someone/xin12"' in text and REPO_PLACEHOLDER not in text


def test_card_follows_the_manifest_not_copies_of_it(synthetic_build: Path) -> None:
    manifest = copy.deepcopy(raw_manifest(synthetic_build))
    manifest["configs"]["blur_bg"]["recipe"] = {"ksize": 31, "sigma": 7.5}
    manifest["configs"]["blur_bg"]["departs"] = "A made-up departure."
    manifest["encoding"]["jpeg_quality"] = 77
    manifest["classes"][0]["name"] = "renamed lizard"
    manifest["seed"] = 4242
    text = render_card(mf.Manifest.from_dict(manifest))
    block = scenario_block(text, "blur_bg")
    assert "`ksize` = 31, `sigma` = 7.5" in block and "`ksize` = 15" not in block
    assert "A made-up departure." in block and "JPEG, quality 77" in block
    assert "| 0 | `n01689811` | 44 | renamed lizard |" in text
    assert "Release seed: 4242" in text
    meta = front_matter(text)
    label = next(f for f in meta["dataset_info"][0]["features"] if f["name"] == "label")
    assert label["dtype"]["class_label"]["names"]["0"] == "renamed lizard"
    static = "".join(p.read_text() for p in sorted(CARD_DIR.glob("*.md")))
    for spec in SCENARIOS.values():
        assert spec.description not in static


def test_a_partial_build_lists_only_what_it_built(synthetic_sources: Path, tmp_path: Path) -> None:
    out = tmp_path / "partial"
    run_build(BuildOptions(sources=synthetic_sources, out=out, configs=("blur_bg", "rand_bg"), progress=False))
    text = (out / "README.md").read_text()
    meta = front_matter(text)
    assert [c["config_name"] for c in meta["configs"]] == ["blur_bg", "rand_bg"]
    assert [c["config_name"] for c in meta["configs"] if c.get("default")] == ["blur_bg"]
    assert re.findall(r"^### `(\w+)`", text, flags=re.M) == ["blur_bg", "rand_bg"]
    assert "`original`" not in section(text, "Configs and splits")


def test_card_data_round_trips_through_datasets(synthetic_build: Path) -> None:
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs

    manifest = raw_manifest(synthetic_build)
    data = card_data(mf.Manifest.from_dict(manifest))
    configs = MetadataConfigs.from_dataset_card_data(data)
    assert configs.get_default_config_name() == "original"
    infos = DatasetInfosDict.from_dataset_card_data(data)
    assert set(infos) == set(configs) == set(built_configs(manifest))
    assert infos["rand_bg"].features == features([c["name"] for c in manifest["classes"]])
