"""Rendering a build's README.md: the YAML that drives `datasets` and the Hub, and the card body."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.splits import SplitDict, SplitInfo
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from ximagenet12.features import NUM_FOLDS, SPLITS, features
from ximagenet12.manifest import CARD_NAME, ConfigEntry, Manifest, SplitCounts
from ximagenet12.provenance import write_atomic
from ximagenet12.scenarios import PAPER_SCENARIOS

from .sample_grid import GRID_PATH, write_sample_grid

DEFAULT_CONFIG = "original"
EXAMPLE_CONFIG = "rand_bg"
REPO_PLACEHOLDER = "<namespace>/ximagenet12"
LICENCE_LINK = "https://image-net.org/download.php"
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


def _info_counts(counts: SplitCounts) -> dict[str, int]:
    return {"num_bytes": counts.num_bytes, "num_examples": counts.num_examples}


def card_data(manifest: Manifest) -> DatasetCardData:
    """The card's YAML: licence, tasks, size, `configs:` with data files per split and `dataset_info:` per config."""
    feats = features(manifest.class_names)
    data = DatasetCardData(**METADATA, size_categories=[size_category(manifest.num_rows)])
    default = default_config(manifest)
    configs = {}
    infos = {}
    for name, splits in manifest.data_files().items():
        config = manifest.configs[name]
        configs[name] = {
            "data_files": [{"split": s, "path": patterns[0]} for s, patterns in splits.items()],
            **({"default": True} if name == default else {}),
        }
        infos[name] = DatasetInfo(
            features=feats,
            splits=SplitDict(
                {s: SplitInfo(name=s, **_info_counts(config.splits[s])) for s in splits},
            ),
            download_size=sum(v.download_size for v in config.splits.values()),
            dataset_size=sum(v.num_bytes for v in config.splits.values()),
        )
    MetadataConfigs(configs).to_dataset_card_data(data)
    DatasetInfosDict(infos).to_dataset_card_data(data)
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
    feats = features(manifest.class_names)
    rows = []
    for name, feature in feats.items():
        kind = type(feature).__name__
        dtype = feature.dtype if kind == "Value" else kind
        rows.append([f"`{name}`", dtype, meanings.get(name, "")])
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
            (
                f"- Work shards: {manifest.num_shards}, of up to {manifest.sources_per_shard} sources each; "
                f"Parquet files: {len(manifest.files)}, each with its rows, sizes and sha256 in "
                "`build_manifest.json`."
            ),
            f"- Built with {versions}.",
        ]
    )


def _picture(manifest: Manifest, source_id: str | None) -> str:
    if source_id is None:
        return ""
    wnid = source_id.split("_")[0]
    name = next((f" ({c.name})" for c in manifest.classes if c.wnid == wnid), "")
    caption = f"Source `{source_id}`{name} in every config of this build that has it; its mask follows the original."
    return f"![One source image through every scenario]({GRID_PATH})\n\n*{caption}*"


def render_card(manifest: Manifest, repo_id: str | None = None, grid_source: str | None = None) -> str:
    """The whole README.md text; `grid_source` is the source id drawn in the sample grid, if one was."""
    repo = repo_id or REPO_PLACEHOLDER
    configs = manifest.built_configs()
    example = EXAMPLE_CONFIG if EXAMPLE_CONFIG in configs else default_config(manifest) or EXAMPLE_CONFIG
    paper = list(PAPER_SCENARIOS)
    body = Template(_text("template.md")).substitute(
        yaml=card_data(manifest).to_yaml(),
        intro=_text("intro.md"),
        picture=_picture(manifest, grid_source),
        num_sources=manifest.sources.annotated,
        num_rows=manifest.num_rows,
        num_configs=len(configs),
        num_classes=len(manifest.classes),
        default_config=default_config(manifest),
        counts_table=counts_table(manifest),
        split_rule=manifest.split_rule,
        columns_table=columns_table(manifest),
        classes_table=classes_table(manifest),
        scenarios="\n\n".join(scenario_section(n, manifest) for n in configs),
        loading=Template(_text("loading.md")).substitute(repo_id=repo, config=example),
        evaluation=Template(_text("evaluation.md")).substitute(
            repo_id=repo,
            num_classes=len(manifest.classes),
            num_paper_scenarios=len(paper),
            paper_scenarios=", ".join(f"`{s}`" for s in paper),
        ),
        limitations=_text("limitations.md"),
        licence=Template(_text("licence.md")).substitute(licence_link=LICENCE_LINK),
        provenance=provenance(manifest),
        citation=_text("citation.txt"),
    )
    return body.rstrip() + "\n"


def write_card(out: Path, manifest: Manifest, repo_id: str | None = None) -> str:
    """Draw the sample grid into `assets/` and write README.md; return the card text."""
    out = Path(out)
    grid_source = write_sample_grid(out, manifest, manifest.built_configs())
    text = render_card(manifest, repo_id, grid_source)
    DatasetCard(text)
    write_atomic(out / CARD_NAME, text)
    return text
