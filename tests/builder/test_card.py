"""The dataset card: YAML for datasets and the Hub, a body rendered from the manifest, the sample grid."""

from __future__ import annotations

import copy
import json
import re
import resource
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from huggingface_hub import DatasetCard
from ximagenet12_builder.card import (
    DATASETS_NEWEST,
    DATASETS_OLDEST,
    LICENCE_LINK,
    REPO_PLACEHOLDER,
    card_data,
    default_config,
    greyscale_noops,
    render_card,
    size_category,
    write_card,
)
from ximagenet12_builder.cli import main
from ximagenet12_builder.pipeline import BuildOptions, run_build
from ximagenet12_builder.plan import BLOCK_SOURCES
from ximagenet12_builder.sample_grid import CLASS_GRID_PATH, GRID_PATH, Pictures, choose_pictures, read_facts

from ximagenet12 import manifest as mf
from ximagenet12.errors import EXIT_WRITE
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

    assert manifest["block_sources"] == BLOCK_SOURCES
    assert f"drawn within blocks of up to {BLOCK_SOURCES} sources of one shard" in text

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
    assert "$" not in text


def _bibtex_fields(entry: str) -> dict[str, str]:
    """field -> value of one BibTeX entry (one `name = {value}` per field, values may span lines)."""
    fields = re.findall(r"(\w+)\s*=\s*\{(.*?)\},?\n(?=\s*\w+\s*=|\})", entry, flags=re.S)
    return {name.lower(): " ".join(value.split()) for name, value in fields}


def test_the_citation_is_the_authors_own_then_the_preprint(synthetic_build: Path) -> None:
    citation = section((synthetic_build / "README.md").read_text(), "Citation")
    assert "github.com/ComputerVisionFans/XIMAGENET-12" in citation
    entries = re.split(r"\n(?=@)", citation.split("```bibtex", 1)[1].split("```", 1)[0].strip())
    assert [e.split("{", 1)[0] for e in entries] == ["@inproceedings", "@misc"]
    authors = _bibtex_fields(entries[0])
    # Copied by hand from the authors' README (github.com/ComputerVisionFans/XIMAGENET-12, "Citation").
    assert authors["author"] == (
        "Qiang Li and Dan Zhang and Shengzhao Lei and Xun Zhao and WeiWei Li and Porawit Kamnoedboon and "
        "Junhao Dong and Shuyan Li"
    )
    assert authors["booktitle"] == "Synthetic Data for Computer Vision Workshop @ CVPR 2024"
    assert authors["year"] == "2024" and authors["url"] == "https://openreview.net/forum?id=4tbbxtGwou"
    assert authors["title"] == "{XIMAGENET}-12: An Explainable Visual Benchmark Dataset for Model Robustness Evaluation"
    preprint = _bibtex_fields(entries[1])
    assert preprint["eprint"] == "2310.08182" and preprint["archiveprefix"] == "arXiv"


def test_class_order_is_called_our_convention(synthetic_build: Path) -> None:
    classes = section((synthetic_build / "README.md").read_text(), "Classes")
    assert "the order the authors' training script used" not in classes
    assert "this release's convention" in classes and "never states an order" in classes


def test_greyscale_noops_are_the_colour_scenarios() -> None:
    # A grey pixel has saturation 0: setting or rotating its hue, or taking its luma, gives it back.
    assert greyscale_noops() == ["color_r", "color_g", "color_b", "color_rainbow", "color_grey"]


def test_card_counts_greyscale_sources_and_background_photos(synthetic_build: Path) -> None:
    manifest = copy.deepcopy(raw_manifest(synthetic_build))
    manifest["sources"].update(greyscale_sources=3, background_photos=5, background_classes=["n02123159", "n01440764"])
    configs = section(render_card(mf.Manifest.from_dict(manifest)), "Configs and splits")
    annotated = manifest["sources"]["annotated"]
    assert f"3 of the {annotated} source images are greyscale" in configs
    assert "`color_r`, `color_g`, `color_b`, `color_rainbow`, `color_grey` change nothing" in configs
    assert "5 background photos of 2 classes (`n02123159`, `n01440764`)" in configs
    assert "outside* the label set" in configs and "tiger-cat" in configs

    manifest["sources"].update(greyscale_sources=0, background_photos=0, background_classes=[])
    configs = section(render_card(mf.Manifest.from_dict(manifest)), "Configs and splits")
    assert f"None of the {annotated} source images is greyscale" in configs
    assert "no background photos" in configs


def test_static_text_says_backgrounds_come_from_outside_the_label_set() -> None:
    static = " ".join(" ".join(p.read_text().split()) for p in sorted(CARD_DIR.glob("*.md")))
    for old in ("photo of another class", "order the authors' training script used"):
        assert old not in static
    assert "outside the label set" in static


def test_loading_section_states_the_tested_datasets_range(synthetic_build: Path) -> None:
    loading = " ".join(section((synthetic_build / "README.md").read_text(), "How to load").split())
    assert f"Any `datasets` from {DATASETS_OLDEST} on" in loading
    assert f"with {DATASETS_OLDEST} and {DATASETS_NEWEST}" in loading


def _coverage_of_sources(sources: Path) -> dict[str, float]:
    """Object fraction of every synthetic source, read from its V7 mask file (red on black) with OpenCV alone."""
    out = {}
    for path in sorted((sources / "masks").rglob("*.png")):
        red = cv2.imread(str(path), cv2.IMREAD_COLOR)[..., 2]
        out[path.stem] = float(np.count_nonzero(red)) / red.size
    return out


def _ids_per_config(build: Path) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = {}
    for path in sorted((build / "data").rglob("*.parquet")):
        found = pq.read_table(path, columns=["source_id"])["source_id"].to_pylist()
        ids.setdefault(path.parent.name, set()).update(found)
    return ids


def _png(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_sample_grid_shows_the_source_closest_to_a_third_in_every_config(
    synthetic_build: Path, synthetic_sources: Path
) -> None:
    text = (synthetic_build / "README.md").read_text()
    coverage = _coverage_of_sources(synthetic_sources)
    ids = _ids_per_config(synthetic_build)
    presence = {sid: sum(sid in found for found in ids.values()) for sid in coverage}
    candidates = [sid for sid in sorted(coverage) if presence[sid] == max(presence.values())]
    expected = min(candidates, key=lambda sid: abs(coverage[sid] - 1 / 3))
    assert f"Source `{expected}`" in text and f"]({GRID_PATH})" in text

    grid = _png(synthetic_build / GRID_PATH)
    families = [
        ("original", "seg_img", "transparent"),
        ("blur_bg", "blur_obj", "bright_bg", "bright_fg"),
        ("color_r", "color_g", "color_b", "color_rainbow", "color_grey"),
        ("rand_bg", "ai_bg"),
        ("no_fg", "only_bg_t", "mixed_same", "mixed_rand", "mixed_next"),
    ]
    rows = [f for f in families if any(expected in ids.get(c, set()) for c in f)]
    label, tile, gap, title = 22, 150, 4, 120
    assert grid.shape[0] == len(rows) * (label + tile + gap) - gap
    # Every tile is one height and keeps its aspect: a synthetic source is 96x128, so a row of n tiles of it is
    # title + n * (200 + gap) - gap wide; the widest row sets the picture's width.
    widest = max(sum(expected in ids.get(c, set()) for c in f) for f in families)
    assert grid.shape[1] == title + widest * (200 + gap) - gap
    ys, xs = np.nonzero(np.all(grid == (255, 214, 0), axis=2))
    assert len(ys) > 50, "the original carries its mask's outline"
    assert ys.min() >= label and ys.max() < label + tile and xs.min() >= title and xs.max() < title + 200


def test_class_grid_shows_one_source_of_every_class(synthetic_build: Path, synthetic_sources: Path) -> None:
    text = (synthetic_build / "README.md").read_text()
    manifest = raw_manifest(synthetic_build)
    assert f"]({CLASS_GRID_PATH})" in text
    assert "as `original`, `rand_bg`, `seg_img`." in text
    grid = _png(synthetic_build / CLASS_GRID_PATH)
    coverage = _coverage_of_sources(synthetic_sources)
    with_sources = [c for c in manifest["classes"] if any(sid.startswith(c["wnid"]) for sid in coverage)]
    assert grid.shape[0] == len(with_sources) * (22 + 120 + 4) - 4
    missing = [c["name"] for c in manifest["classes"] if c not in with_sources]
    assert f"No source of {', '.join(missing)} is in all of them." in text
    # Tiles 120 px high, aspect kept: sources are 96x128 (160 wide), rand_bg takes its 80x120 photo's size (180).
    assert grid.shape[1] == 120 + 160 + 4 + 180 + 4 + 160
    # Row k shows class k's source closest to a third as `original`: compare the tile with the source JPEG.
    for k, cls in enumerate(with_sources):
        mine = {sid: f for sid, f in coverage.items() if sid.startswith(cls["wnid"])}
        pick = min(sorted(mine), key=lambda sid: abs(mine[sid] - 1 / 3))
        source = _png(synthetic_sources / "image" / cls["wnid"] / f"{pick}.JPEG")
        expected = cv2.resize(source, (160, 120), interpolation=cv2.INTER_LINEAR).astype(int)
        top = k * (22 + 120 + 4) + 22
        tile = grid[top : top + 120, 120 : 120 + 160].astype(int)
        assert np.abs(tile - expected).mean() < 3
        for other in sorted(set(mine) - {pick}):
            image = cv2.resize(_png(synthetic_sources / "image" / cls["wnid"] / f"{other}.JPEG"), (160, 120))
            assert np.abs(tile - image.astype(int)).mean() > 3


def test_the_picks_workers_record_equal_the_picks_read_back_from_the_shards(build: Path) -> None:
    """A build picks its pictures' sources from what its workers recorded; a manifest without picks gets the
    same sources, read back from the shards, and the same pictures and card."""
    manifest = mf.read_manifest(build)
    recorded = Pictures.from_dict(manifest.pictures)
    assert recorded.source_id and len(recorded.class_sources) >= 2
    assert {sid for sid, _ in recorded.shards} == {recorded.source_id, *(s for _, s in recorded.class_sources)}
    read_back = choose_pictures(manifest, read_facts(build, manifest))
    assert read_back.shards == () and replace(recorded, shards=()) == read_back
    before = {p: (build / p).read_bytes() for p in ("README.md", GRID_PATH, CLASS_GRID_PATH)}
    data = raw_manifest(build)
    del data["pictures"]
    (build / mf.MANIFEST_NAME).write_text(json.dumps(data))
    assert mf.read_manifest(build).pictures == {}
    write_card(build, mf.read_manifest(build))
    assert {p: (build / p).read_bytes() for p in before} == before


def test_card_command_rerenders_the_same_bytes(build: Path) -> None:
    before = {p: (build / p).read_bytes() for p in ("README.md", GRID_PATH, CLASS_GRID_PATH)}
    (build / "README.md").write_text("hand-edited\n")
    (build / GRID_PATH).unlink()
    (build / CLASS_GRID_PATH).write_bytes(b"stale")
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


def _card_data_by_datasets(manifest: mf.Manifest) -> dict:
    """The card's YAML as `datasets`' own classes lay it out: what `card_data` writes without importing them."""
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    data = DatasetCardData()
    configs, infos = {}, {}
    for name, splits in manifest.data_files().items():
        config = manifest.configs[name]
        configs[name] = {"data_files": [{"split": s, "path": p[0]} for s, p in splits.items()]}
        if name == default_config(manifest):
            configs[name]["default"] = True
        counts = {s: config.splits[s] for s in splits}
        infos[name] = DatasetInfo(
            features=features(manifest.class_names),
            splits=SplitDict({s: SplitInfo(s, c.num_bytes, c.num_examples) for s, c in counts.items()}),
            download_size=sum(v.download_size for v in config.splits.values()),
            dataset_size=sum(v.num_bytes for v in config.splits.values()),
        )
    MetadataConfigs(configs).to_dataset_card_data(data)
    DatasetInfosDict(infos).to_dataset_card_data(data)
    return data.to_dict()


@pytest.mark.parametrize("keep", [None, ["rand_bg"]], ids=["every config", "one config"])
def test_card_yaml_is_what_datasets_writes(synthetic_build: Path, keep: list[str] | None) -> None:
    raw = raw_manifest(synthetic_build)
    if keep:
        raw["configs"] = {n: c for n, c in raw["configs"].items() if n in keep}
        raw["files"] = [f for f in raw["files"] if f["config"] in keep]
    manifest = mf.Manifest.from_dict(raw)
    ours = card_data(manifest)
    expected = _card_data_by_datasets(manifest)
    assert {k: ours[k] for k in ("configs", "dataset_info")} == expected
    for key in ("configs", "dataset_info"):  # the same YAML, in the same order
        assert yaml.safe_dump(ours[key], sort_keys=False) == yaml.safe_dump(expected[key], sort_keys=False)
    assert "&id" not in ours.to_yaml()  # no YAML aliases: each config lists its own features


def test_building_imports_no_datasets(synthetic_sources: Path, tmp_path: Path) -> None:
    """A build writes its Parquet format and card YAML without `datasets` (half a second of imports), pandas,
    torch or the Hub client."""
    code = (
        "import sys\n"
        "from ximagenet12_builder.cli import main\n"
        f"argv = ['build', {str(synthetic_sources)!r}, '--out', {str(tmp_path / 'out')!r}, '--no-progress']\n"
        "assert main(argv) == 0\n"
        "heavy = ('datasets', 'pandas', 'torch', 'huggingface_hub.hf_api')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_a_card_write_cut_short_by_a_full_disk_leaves_the_previous_files(build: Path) -> None:
    """A file size limit (as a full disk does) stops the first write: one line, EXIT_WRITE, nothing half-written."""
    files = ("README.md", GRID_PATH, CLASS_GRID_PATH)
    before = {p: (build / p).read_bytes() for p in files}
    (build / CLASS_GRID_PATH).write_bytes(b"stale")  # make the card differ from what it would write
    before[CLASS_GRID_PATH] = b"stale"
    limit = min(len(before[GRID_PATH]), len(before["README.md"])) // 2

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    run = subprocess.run(
        [sys.executable, "-m", "ximagenet12_builder.cli", "card", str(build)],
        capture_output=True,
        text=True,
        preexec_fn=limit_file_size,
        timeout=300,
        check=False,
    )
    assert run.returncode == EXIT_WRITE, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ximagenet12 card: error: ")
    assert "cannot write the card" in lines[0] and "File too large" in lines[0]
    assert {p: (build / p).read_bytes() for p in files} == before
    assert [p.name for p in build.rglob("*") if p.name.endswith(".tmp")] == []


def test_card_of_a_folder_that_is_not_a_build(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["card", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"ximagenet12 card: error: {tmp_path / mf.MANIFEST_NAME}: no build manifest; is {tmp_path} the output of "
        "`ximagenet12 build`?"
    ]
    assert list(tmp_path.iterdir()) == []
