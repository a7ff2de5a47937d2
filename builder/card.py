"""Rendering a build's README.md: the YAML that drives `datasets` and the Hub, and the card body."""

from __future__ import annotations

from pathlib import Path

import datasets
from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.splits import SplitDict, SplitInfo
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from ximagenet12.features import features

from . import manifest as mf

DEFAULT_CONFIG = "original"


def card_data(manifest: dict) -> DatasetCardData:
    """The card's YAML: `configs:` with data files per split and `dataset_info:` per config."""
    names = [c["name"] for c in manifest["classes"]]
    feats = features(names)
    data = DatasetCardData(pretty_name="XImageNet-12")
    configs = {}
    infos = {}
    for name, config in manifest["configs"].items():
        if not config["splits"]:
            continue
        configs[name] = {
            "data_files": [{"split": s, "path": f"data/{name}/{s}-*.parquet"} for s in config["splits"]],
            **({"default": True} if name == DEFAULT_CONFIG else {}),
        }
        splits = SplitDict(
            {s: SplitInfo(name=s, num_bytes=v["num_bytes"], num_examples=v["num_examples"]) for s, v in config["splits"].items()}
        )
        infos[name] = DatasetInfo(
            features=feats,
            splits=splits,
            download_size=sum(v["download_size"] for v in config["splits"].values()),
            dataset_size=sum(v["num_bytes"] for v in config["splits"].values()),
        )
    MetadataConfigs(configs).to_dataset_card_data(data)
    DatasetInfosDict(infos).to_dataset_card_data(data)
    return data


def render_card(manifest: dict) -> str:
    """The whole README.md text."""
    rows = "\n".join(
        f"| `{name}` | {c['splits'].get('train', {}).get('num_examples', 0)} | {c['splits'].get('test', {}).get('num_examples', 0)} | {c['description']} |"
        for name, c in manifest["configs"].items()
    )
    body = (
        "# XImageNet-12\n\n"
        "| config | train | test | recipe |\n|---|---|---|---|\n"
        f"{rows}\n"
    )
    return f"---\n{card_data(manifest).to_yaml()}\n---\n\n{body}"


def write_card(out: Path, manifest: dict) -> None:
    """Write README.md into a build folder."""
    text = render_card(manifest)
    DatasetCard(text)
    mf.write_atomic(Path(out) / "README.md", text)


__all__ = ["card_data", "datasets", "render_card", "write_card"]
