"""Rendering a build's README.md: the YAML that drives `datasets` and the Hub, and the card body."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
from huggingface_hub.repocard_data import DatasetCardData  # not `huggingface_hub`: its card imports the Hub client

from ximagenet12.features import COLUMNS, NUM_FOLDS, SPLITS, features_yaml
from ximagenet12.manifest import CARD_NAME, ConfigEntry, Manifest
from ximagenet12.provenance import write_atomic
from ximagenet12.scenarios import PAPER_SCENARIOS, SCENARIOS, apply, mask_variant_of

from .sample_grid import CLASS_GRID_PATH, GRID_PATH, Pictures, pick_pictures, write_pictures

DEFAULT_CONFIG = "original"
EXAMPLE_CONFIG = "rand_bg"
REPO_PLACEHOLDER = "<namespace>/ximagenet12"
LICENCE_LINK = "https://image-net.org/download.php"
CITATION_SOURCE = "https://github.com/ComputerVisionFans/XIMAGENET-12"
# The `datasets` releases a build is tested to load with, normally and streaming, every config
# (tests/test_loaders.py, each in its own virtualenv); the card and the README state this range. 2.14.0 is the
# first release that reads a card's `configs:` (2.13 loads every file of the folder as one dataset).
DATASETS_OLDEST = "2.14.0"
DATASETS_NEWEST = "5.2.0"
# ImageNet tiger cat: the class of the background photos the authors' rand_bg used.
AUTHORS_BACKGROUND_WNID = "n02123159"
METADATA: dict[str, Any] = {
    "license": "other",
    "license_name": "imagenet-terms-of-access",
    "license_link": LICENCE_LINK,
    "pretty_name": "XImageNet-12",
    "task_categories": ["image-classification", "image-segmentation"],
    "task_ids": ["multi-class-image-classification", "semantic-segmentation"],
    "source_datasets": ["extended|imagenet-1k"],
    "tags": ["robustness", "background", "benchmark", "imagenet", "synthetic", "explainability", "image"],
}
SIZE_BUCKETS = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
    (100_000_000_000, "10B<n<100B"),
    (1_000_000_000_000, "100B<n<1T"),
)


def size_category(num_rows: int) -> str:
    """The Hub's size bucket for a row count."""
    return next((name for limit, name in SIZE_BUCKETS if num_rows < limit), "n>1T")


def default_config(manifest: Manifest) -> str | None:
    """`original` when built, else the first built config."""
    configs = manifest.built_configs()
    return DEFAULT_CONFIG if DEFAULT_CONFIG in configs else next(iter(configs), None)


def card_data(manifest: Manifest) -> DatasetCardData:
    """The card's YAML: licence, tasks, size, `configs:` with data files per split and `dataset_info:` per config.

    `configs:` and `dataset_info:` are laid out as `datasets`' `MetadataConfigs` and `DatasetInfosDict` write them
    (sorted by config, one mapping instead of a list for a single config), without importing `datasets`;
    tests/builder/test_card.py checks the YAML equals theirs.
    """
    data = DatasetCardData(**METADATA, size_categories=[size_category(manifest.num_rows)])
    default = default_config(manifest)
    configs, infos = [], []
    for name, splits in sorted(manifest.data_files().items()):
        config = manifest.configs[name]
        configs.append(
            {
                "config_name": name,
                "data_files": [{"split": s, "path": patterns[0]} for s, patterns in splits.items()],
                **({"default": True} if name == default else {}),
            }
        )
        infos.append(
            {
                "config_name": name,
                "features": features_yaml(manifest.class_names),  # a list each: YAML would alias a shared one
                "splits": [
                    {"name": s, "num_bytes": config.splits[s].num_bytes, "num_examples": config.splits[s].num_examples}
                    for s in splits
                ],
                "download_size": sum(v.download_size for v in config.splits.values()),
                "dataset_size": sum(v.num_bytes for v in config.splits.values()),
            }
        )
    if configs:
        data["configs"] = configs
        data["dataset_info"] = infos if len(infos) > 1 else infos[0]
    return data


def _text(name: str) -> str:
    return (resources.files("ximagenet12_builder.dataset_card") / name).read_text(encoding="utf-8").strip()


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def human_bytes(n: int) -> str:
    """1234567 -> '1.2 MB' (decimal units, as the Hub shows sizes)."""
    if n < 1000:
        return f"{n} B"
    size = float(n)
    for unit in ("kB", "MB", "GB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.1f} TB"


def counts_table(manifest: Manifest) -> str:
    """Rows per config and split, with download sizes and a total line."""
    configs = manifest.built_configs()
    splits = [s for s in SPLITS if any(s in manifest.configs[c].splits for c in configs)]
    rows, totals = [], dict.fromkeys(splits, 0)
    size_total = 0
    for name in configs:
        config = manifest.configs[name]
        counts = [config.splits[s].num_examples if s in config.splits else 0 for s in splits]
        size = sum(v.download_size for v in config.splits.values())
        for s, n in zip(splits, counts, strict=True):
            totals[s] += n
        size_total += size
        rows.append([f"`{name}`", config.title, *counts, sum(counts), human_bytes(size)])
    rows.append(["**all**", "", *totals.values(), sum(totals.values()), human_bytes(size_total)])
    return _table(["config", "scenario", *splits, "rows", "download"], rows)


def columns_table(manifest: Manifest) -> str:
    """The columns, their `datasets` types and what they hold."""
    text = Template(_text("columns.txt")).substitute(num_folds=NUM_FOLDS, last_fold=NUM_FOLDS - 1)
    meanings = dict(line.split(": ", 1) for line in text.splitlines())
    rows = [[f"`{name}`", kind, meanings.get(name, "")] for name, kind in COLUMNS]
    return _table(["column", "type", "meaning"], rows)


def classes_table(manifest: Manifest) -> str:
    """Label, WordNet id, ImageNet-1k index and name of every class."""
    return _table(
        ["label", "wnid", "ImageNet-1k index", "name"],
        [[c.label, f"`{c.wnid}`", c.imagenet_index, c.name] for c in manifest.classes],
    )


def _range(value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(v, list) and len(v) == 2 for v in value):
        return " or ".join(f"{lo}..{hi}" for lo, hi in value)
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        return f"{value[0]}..{value[1]}"
    return json.dumps(value)


def _encoding(config: ConfigEntry, manifest: Manifest) -> str:
    enc = manifest.encoding
    stored = {
        "source": "the source file's bytes, untouched",
        "jpeg": f"JPEG, quality {enc.get('jpeg_quality')}",
        "png": "PNG" + (f" ({enc['png']})" if enc.get("png") else ""),
    }.get(config.encoding, config.encoding)
    return f"{config.mode}; stored as {stored}; masks as PNG"


def mask_variants_section(manifest: Manifest) -> list[str]:
    """One section for every mask variant the build has: what it does and the configs built with it."""
    by_variant: dict[str, list[str]] = {}
    for name in manifest.built_configs():
        if mask_variant_of(name):
            by_variant.setdefault(mask_variant_of(name), []).append(name)
    sections = []
    for suffix, names in by_variant.items():
        variant = manifest.configs[names[0]].extra.get("mask_variant") or {}
        sections.append(
            "\n".join(
                [
                    f"### Masks `{variant.get('spec', suffix)}`: the configs `<scenario>@{suffix}`",
                    "",
                    f"Each built from masks changed first: {variant.get('description', suffix)}. The scenario's "
                    "recipe, the row's seed and its partner or photo are those of the plain config, so only the "
                    "masks differ: compare the two to see how much an annotation tool moves a result. Built: "
                    + ", ".join(f"`{n}`" for n in names)
                    + ".",
                ]
            )
        )
    return sections


def scenario_section(name: str, manifest: Manifest) -> str:
    """One config's recipe: description, fixed and drawn parameters, storage, paper column, departures."""
    config = manifest.configs[name]
    lines = [f"### `{name}`: {config.title}", "", config.description, ""]
    if config.recipe:
        lines.append("- Parameters: " + ", ".join(f"`{k}` = {v}" for k, v in config.recipe.items()))
    if config.ranges:
        lines.append(
            "- Drawn per image (recorded in `params`): "
            + "; ".join(f"`{k}` from {_range(v)}" for k, v in config.ranges.items())
        )
    lines.append(f"- Images: {_encoding(config, manifest)}")
    if config.paper_column:
        used = " (one of the robustness score's scenarios)" if name in PAPER_SCENARIOS else ""
        lines.append(f"- The paper's results-table column: `{config.paper_column}`{used}")
    if config.family == "in9":
        lines.append("- An ImageNet-9-style variant (Xiao et al., ICLR 2021): not in the authors' release")
    elif config.departs:
        lines.append(f"- **Departs from the authors' scripts:** {config.departs}")
    else:
        lines.append("- Follows the authors' published recipe")
    return "\n".join(lines)


def greyscale_noops() -> list[str]:
    """Scenarios that give back a grey image unchanged (only the background's colour changes), by running them."""
    grey = np.repeat(np.random.default_rng(0).integers(0, 256, (16, 16, 1), dtype=np.uint8), 3, axis=2)
    mask = np.zeros((16, 16), np.uint8)
    mask[4:12, 4:12] = 255
    same = []
    for name, scenario in SCENARIOS.items():
        if name == "original" or scenario.extra is not None:
            continue
        out, _, _ = apply(name, grey, mask, seed=0)
        if out.shape == grey.shape and np.array_equal(out, grey):
            same.append(name)
    return same


def sources_notes(manifest: Manifest) -> str:
    """Greyscale sources and the background photos of `rand_bg`, with this build's counts."""
    src = manifest.sources
    noops = ", ".join(f"`{n}`" for n in greyscale_noops())
    effect = (
        f"{noops} change nothing on a greyscale source (a grey pixel has no colour to change): its rows in those "
        "configs equal the original image"
    )
    if src.greyscale_sources:
        grey = (
            f"**Greyscale sources.** {src.greyscale_sources} of the {src.annotated} source images are greyscale "
            f"(ImageNet holds some); they are converted to RGB, with a note in each row's `params`. {effect}."
        )
    else:
        grey = f"**Greyscale sources.** None of the {src.annotated} source images is greyscale. {effect}."
    if src.background_classes:
        of = f" of {len(src.background_classes)} classes (" + ", ".join(f"`{w}`" for w in src.background_classes) + ")"
    else:
        of = " (their classes were not given: a flat `backgrounds/` folder)"
    photos = (
        f"This build had {src.background_photos} background photos{of}."
        if src.background_photos
        else "This build had no background photos, so it has no `rand_bg` rows."
    )
    backgrounds = (
        "**Background photos.** `rand_bg` puts each object on a real photo of a class *outside* the label set, as the "
        f"authors did with ImageNet tiger-cat photos (`{AUTHORS_BACKGROUND_WNID}`): a photo of one of the "
        f"{len(manifest.classes)} classes behind the object would pull a model towards that label and measure "
        f"something else. {photos} Each row's `background_id` names its photo."
    )
    return f"{grey}\n\n{backgrounds}"


def provenance(manifest: Manifest) -> str:
    """Seed, sharding, encodings, input counts and library versions of the build."""
    src = manifest.sources
    versions = ", ".join(f"{k} {v}" for k, v in sorted(manifest.versions.items()))
    return "\n".join(
        [
            f"- Release seed: {manifest.seed}; every row's generator is seeded by (seed, source id, scenario).",
            (
                f"- Inputs: {src.annotated} annotated images, {src.background_photos} background photos, "
                f"{src.generated_images} AI-generated images; {src.rejected_files} input files rejected "
                "(listed in `rejected.jsonl`)."
            ),
            *(
                [f"- AI-generated images made with {', '.join(f'`{m}`' for m in src.generation_models)} "
                 "(each `ai_bg` row's `params.generation` records model, prompt and seed)."]
                if src.generation_models
                else []
            ),
            (
                f"- Work shards: {manifest.num_shards}, of up to {manifest.sources_per_shard} sources each; "
                f"Parquet files: {len(manifest.files)}, each with its rows, sizes and sha256 in "
                "`build_manifest.json`."
            ),
            *(
                [f"- Partners and background photos are drawn within blocks of up to {manifest.block_sources} "
                 "sources of one shard, in a seeded order that spreads every class evenly, so a worker decodes "
                 "each once; a drawn partner is still a uniform draw from its class, and a photo from all photos."]
                if manifest.block_sources
                else []
            ),
            f"- Built with {versions}.",
        ]
    )


def _class_name(manifest: Manifest, source_id: str) -> str:
    wnid = source_id.split("_")[0]
    return next((f" ({c.name})" for c in manifest.classes if c.wnid == wnid), "")


def _picture(manifest: Manifest, pictures: Pictures | None) -> str:
    """The pictures' Markdown with their captions (nothing for an empty build)."""
    parts = []
    if pictures is not None and pictures.source_id is not None:
        sid = pictures.source_id
        parts.append(
            f"![One source image through every scenario]({GRID_PATH})\n\n*Source `{sid}`{_class_name(manifest, sid)} "
            "in every config of this build that has it, one row per family of scenarios; the yellow line on the "
            "original is its mask's outline. It is the source whose object covers closest to a third of the image.*"
        )
    if pictures is not None and pictures.class_sources:
        shown = {w for w, _ in pictures.class_sources}
        missing = [c.name for c in manifest.classes if c.wnid not in shown]
        absent = f" No source of {', '.join(missing)} is in all of them." if missing else ""
        configs = ", ".join(f"`{c}`" for c in pictures.class_configs)
        parts.append(
            f"![One source of every class]({CLASS_GRID_PATH})\n\n*One source of each class (the one whose object "
            f"covers closest to a third of its image) as {configs}.{absent}*"
        )
    return "\n\n".join(parts)


def render_card(manifest: Manifest, repo_id: str | None = None, pictures: Pictures | None = None) -> str:
    """The whole README.md text; `pictures` says what the pictures in `assets/` show, if there are any."""
    repo = repo_id or REPO_PLACEHOLDER
    configs = manifest.built_configs()
    example = EXAMPLE_CONFIG if EXAMPLE_CONFIG in configs else default_config(manifest) or EXAMPLE_CONFIG
    paper = list(PAPER_SCENARIOS)
    body = Template(_text("template.md")).substitute(
        yaml=card_data(manifest).to_yaml(),
        intro=_text("intro.md"),
        picture=_picture(manifest, pictures),
        num_sources=manifest.sources.annotated,
        num_rows=manifest.num_rows,
        num_configs=len(configs),
        num_classes=len(manifest.classes),
        default_config=default_config(manifest),
        counts_table=counts_table(manifest),
        sources_notes=sources_notes(manifest),
        split_rule=manifest.split_rule,
        columns_table=columns_table(manifest),
        classes_table=classes_table(manifest),
        scenarios="\n\n".join(
            [scenario_section(n, manifest) for n in configs if not mask_variant_of(n)] + mask_variants_section(manifest)
        ),
        loading=Template(_text("loading.md")).substitute(
            repo_id=repo, config=example, datasets_oldest=DATASETS_OLDEST, datasets_newest=DATASETS_NEWEST
        ),
        evaluation=Template(_text("evaluation.md")).substitute(
            repo_id=repo,
            num_classes=len(manifest.classes),
            num_paper_scenarios=len(paper),
            paper_scenarios=", ".join(f"`{s}`" for s in paper),
        ),
        limitations=_text("limitations.md"),
        licence=Template(_text("licence.md")).substitute(licence_link=LICENCE_LINK),
        provenance=provenance(manifest),
        citation_source=CITATION_SOURCE,
        citation=_text("citation.txt"),
    )
    return body.rstrip() + "\n"


def render_card_for(out: Path, manifest: Manifest, repo_id: str | None = None) -> str:
    """The card of a build folder as `write_card` would write it, without writing anything."""
    return render_card(manifest, repo_id, pick_pictures(out, manifest))


def write_card(out: Path, manifest: Manifest, repo_id: str | None = None) -> str:
    """Draw the pictures into `assets/` and write README.md, each through a temporary file; return the card text."""
    out = Path(out)
    pictures = pick_pictures(out, manifest)
    with ThreadPoolExecutor(max_workers=1) as pool:  # the text is rendered while the pictures are drawn
        drawing = pool.submit(write_pictures, out, manifest, pictures)
        text = render_card(manifest, repo_id, pictures)
        drawing.result()
    write_atomic(out / CARD_NAME, text)
    return text
