"""`ximagenet12 check`: what the Hub, its dataset viewer and `load_dataset` need from a build folder, as faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import yaml
from datasets.data_files import resolve_pattern
from datasets.info import DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard
from huggingface_hub.repocard import REGEX_YAML_BLOCK

from ximagenet12 import manifest as mf
from ximagenet12.features import features
from ximagenet12.manifest import Manifest
from ximagenet12.provenance import sha256_file

from .card import card_data
from .release import card_links, published_files, walk
from .stream_probe import LIGHT_ENV

README = mf.CARD_NAME
VIEWER_MAX_ROW_GROUP_BYTES = 300 << 20
VIEWER_MAX_CONFIGS = 4000
STREAM_TIMEOUT = 1800


def _card_faults(out: Path, manifest: Manifest) -> tuple[list[str], MetadataConfigs | None]:
    """The card: parses, round-trips, equals what the manifest renders, declares valid configs and infos."""
    path = out / README
    if not path.is_file():
        return [f"{README}: missing; run `ximagenet12 card {out}`"], None
    text = path.read_text(encoding="utf-8")
    match = REGEX_YAML_BLOCK.search(text)
    if not match:
        return [f"{README}: no YAML block between --- lines"], None
    try:
        loaded = yaml.safe_load(match.group(2)) or {}
        card = DatasetCard(text)
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        return [f"{README}: the YAML does not parse: {exc}"], None
    faults = []
    if card.content != text or card.data.to_dict() != loaded:
        faults.append(f"{README}: the YAML does not round-trip through huggingface_hub's DatasetCard")
    expected = card_data(manifest).to_dict()
    stale = sorted(k for k in set(expected) | set(loaded) if expected.get(k) != loaded.get(k))
    if stale:
        faults.append(
            f"{README}: YAML {', '.join(stale)} disagree with {mf.MANIFEST_NAME}; run `ximagenet12 card {out}`"
        )
    for link in card_links(card.text):
        if not (out / link).is_file():
            faults.append(f"{README}: links to {link}, which is missing")
    try:
        configs = MetadataConfigs.from_dataset_card_data(card.data)
        default = configs.get_default_config_name()
    except (ValueError, TypeError) as exc:
        return [*faults, f"{README}: configs: {exc}"], None
    if not configs:
        faults.append(f"{README}: no configs declared")
    elif default is None:
        faults.append(f"{README}: no config is `default: true`")
    if len(configs) > VIEWER_MAX_CONFIGS:
        faults.append(f"{README}: {len(configs)} configs; the viewer shows at most {VIEWER_MAX_CONFIGS}")
    try:
        infos = DatasetInfosDict.from_dataset_card_data(card.data)
    except (ValueError, TypeError, KeyError) as exc:
        return [*faults, f"{README}: dataset_info: {exc}"], configs
    for name in configs:
        info = infos.get(name)
        if info is None or info.features is None or not info.splits:
            faults.append(f"{README}: config {name}: no dataset_info with features and splits")
            continue
        for split in info.splits.values():
            if split.num_examples is None or split.num_bytes is None:
                faults.append(f"{README}: config {name} split {split.name}: num_examples or num_bytes missing")
    return faults, configs


def _pattern_faults(out: Path, configs: MetadataConfigs, manifest: Manifest) -> list[str]:
    """Every config's data-file patterns match its own files from the manifest, and no file twice."""
    faults = []
    owner: dict[str, tuple[str, str]] = {}
    for name, config in configs.items():
        entries = config.get("data_files") or []
        entries = [{"split": "train", "path": entries}] if isinstance(entries, str) else entries
        for entry in entries:
            split, patterns = (entry["split"], entry["path"]) if isinstance(entry, dict) else ("train", entry)
            for pattern in [patterns] if isinstance(patterns, str) else patterns:
                try:
                    matched = resolve_pattern(pattern, base_path=str(out))
                except FileNotFoundError:
                    faults.append(f"config {name} split {split}: pattern {pattern} matches no file")
                    continue
                for path in matched:
                    rel = Path(path).resolve().relative_to(out.resolve()).as_posix()
                    if owner.setdefault(rel, (name, split)) != (name, split):
                        faults.append(f"{rel}: matched by config {name} split {split} and by {owner[rel]}")
    for f in manifest.files:
        got = owner.pop(f.path, None)
        if got is None:
            faults.append(f"{f.path}: in the manifest but no config's data files match it")
        elif got != (f.config, f.split):
            faults.append(f"{f.path}: matched by config {got[0]} split {got[1]}; built as {f.config} {f.split}")
    for path, (config, split) in sorted(owner.items()):
        faults.append(f"{path}: matched by config {config} split {split} but not in the manifest")
    return faults


def _file_faults(out: Path, manifest: Manifest) -> list[str]:
    """Each shard: present, size, sha256, rows and schema as recorded; viewer-sized row groups with a page index."""
    schema = features(manifest.class_names).arrow_schema.remove_metadata()
    faults = []
    for f in manifest.files:
        path = out / f.path
        if not path.is_file():
            faults.append(f"{f.path}: missing")
            continue
        if path.stat().st_size != f.size:
            faults.append(f"{f.path}: {path.stat().st_size} bytes, the manifest says {f.size}")
        if sha256_file(path) != f.sha256:
            faults.append(f"{f.path}: sha256 differs from the manifest's")
            continue
        try:
            meta = pq.ParquetFile(path).metadata
            file_schema = pq.read_schema(path).remove_metadata()
        except (OSError, ValueError) as exc:
            faults.append(f"{f.path}: not a readable Parquet file: {exc}")
            continue
        if meta.num_rows != f.num_rows:
            faults.append(f"{f.path}: {meta.num_rows} rows, the manifest says {f.num_rows}")
        if not file_schema.equals(schema):
            faults.append(f"{f.path}: columns differ from the dataset's features")
        for i in range(meta.num_row_groups):
            group = meta.row_group(i)
            if group.total_byte_size > VIEWER_MAX_ROW_GROUP_BYTES:
                faults.append(f"{f.path}: row group {i} is {group.total_byte_size} bytes, over the viewer's 300 MB")
            if not all(group.column(c).has_offset_index for c in range(group.num_columns)):
                faults.append(f"{f.path}: row group {i} has no page index")
    return faults


def _count_faults(manifest: Manifest) -> list[str]:
    """Per config and split, the manifest's totals equal the sums over its files."""
    faults = []
    sums: dict[tuple[str, str], list[int]] = {}
    for f in manifest.files:
        total = sums.setdefault((f.config, f.split), [0, 0, 0])
        total[0] += f.num_rows
        total[1] += f.num_bytes
        total[2] += f.size
    for name, config in manifest.configs.items():
        for split, counts in config.splits.items():
            got = sums.pop((name, split), [0, 0, 0])
            want = [counts.num_examples, counts.num_bytes, counts.download_size]
            if got != want:
                faults.append(f"config {name} split {split}: files hold rows/bytes/size {got}; the manifest, {want}")
    faults += [f"config {c} split {s}: files in the manifest but no such split" for c, s in sorted(sums)]
    return faults


def _leftover_faults(out: Path, manifest: Manifest) -> list[str]:
    """No loading script anywhere, and nothing in the folder that a release would not hold."""
    keep = set(published_files(out, manifest))
    faults = []
    for path in walk(out):
        if path.endswith(".py"):
            faults.append(f"{path}: a Python file; `datasets` refuses a dataset repo that holds a loading script")
        elif path not in keep:
            faults.append(f"{path}: left over (not in the manifest nor linked from the card); remove it")
    return faults


def stream_faults(out: Path, configs: MetadataConfigs) -> list[str]:
    """Read the first rows of every config's first split with `load_dataset(..., streaming=True)`, in a subprocess."""
    jobs = []
    for name, config in configs.items():
        entries = config.get("data_files") or []
        first = entries[0] if isinstance(entries, list) and entries else None
        jobs.append([name, first["split"] if isinstance(first, dict) else "train"])
    env = {**os.environ, **LIGHT_ENV}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "ximagenet12_builder.stream_probe", str(out), json.dumps(jobs)],
            capture_output=True,
            text=True,
            env=env,
            timeout=STREAM_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return [f"streaming: no answer in {STREAM_TIMEOUT} s"]
    try:
        results = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return [f"streaming: the reader exited with {proc.returncode}: {tail}"]
    return [f"config {name}: streaming the first rows failed: {error}" for name, error in results.items() if error]


def check_build(out: Path, *, stream: bool = True) -> list[str]:
    """Every fault that would stop the Hub, the viewer or `load_dataset` using this build folder; [] when none."""
    out = Path(out)
    if not out.is_dir():
        return [f"{out}: not a folder"]
    try:
        manifest = mf.read_manifest(out)
    except mf.ManifestError as exc:
        return [str(exc)]
    faults, configs = _card_faults(out, manifest)
    if configs is not None:
        faults += _pattern_faults(out, configs, manifest)
    faults += _count_faults(manifest)
    faults += _file_faults(out, manifest)
    faults += _leftover_faults(out, manifest)
    if stream and configs and not faults:
        faults += stream_faults(out, configs)
    return faults
