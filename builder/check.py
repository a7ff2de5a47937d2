"""`ximagenet12 check`: what the Hub, its dataset viewer and `load_dataset` need from a build folder, as faults.

A fault is something that would break the release or `load_dataset` on the folder; `publish` refuses a folder
with any. Files that are not part of the release (a user's notes, a leftover temporary file) are not faults:
`publish` never uploads them, and `check` lists them as foreign, for information only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import yaml
from datasets.data_files import resolve_pattern
from datasets.info import DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard
from huggingface_hub.repocard import REGEX_YAML_BLOCK

from ximagenet12 import manifest as mf
from ximagenet12.features import arrow_schema
from ximagenet12.manifest import Manifest
from ximagenet12.provenance import sha256_file

from .card import card_data
from .release import foreign_files, inside, relative_links
from .stream_probe import LIGHT_ENV

README = mf.CARD_NAME
VIEWER_MAX_ROW_GROUP_BYTES = 300 << 20
VIEWER_MAX_CONFIGS = 4000
STREAM_TIMEOUT = 1800
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class CheckReport:
    """What `check` found: faults (publish refuses the folder) and foreign files (left out, for information)."""

    faults: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.faults

    def foreign_lines(self) -> list[str]:
        """One informational line per foreign file."""
        return [f"{path}: not part of the release; publish leaves it out" for path in self.foreign]


def _yaml_block(text: str) -> str | None:
    match = REGEX_YAML_BLOCK.search(text)
    return match.group(2) if match else None


def _card_faults(out: Path, manifest: Manifest, text: str | None) -> tuple[list[str], MetadataConfigs | None]:
    """The card (`text`, else README.md): parses, round-trips, agrees with the manifest, declares valid configs.

    With `text`, the folder's README.md must still carry the same YAML: `load_dataset` on the folder reads it.
    """
    path = out / README
    if not path.is_file():
        return [f"{README}: missing; run `ximagenet12 card {out}`"], None
    local = path.read_text(encoding="utf-8")
    if text is not None and _yaml_block(local) != _yaml_block(text):
        return [f"{README}: its YAML is not the card's; run `ximagenet12 card {out}`"], None
    text = local if text is None else text
    match = REGEX_YAML_BLOCK.search(text)
    if not match:
        return [f"{README}: no YAML block between --- lines"], None
    try:
        loaded = yaml.load(match.group(2), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
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
    for link in relative_links(card.text):
        if not inside(link):
            faults.append(f"{README}: links to {link}, outside the folder; a release holds only what is inside it")
        elif not (out / link).is_file():
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
                    try:
                        rel = Path(path).resolve().relative_to(out.resolve()).as_posix()
                    except ValueError:
                        faults.append(f"config {name} split {split}: {pattern} matches {path}, outside the folder")
                        continue
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


def _entry_faults(manifest: Manifest) -> list[str]:
    """Each file the manifest lists: named and placed as a shard of its config and split, once, with a sha256."""
    faults, seen = [], set()
    for f in manifest.files:
        match = mf.SHARD_NAME.match(Path(f.path).name) if mf.is_shard_path(f.path) else None
        if match is None or Path(f.path).parent.name != f.config or match["split"] != f.split:
            faults.append(
                f"{mf.MANIFEST_NAME}: lists {f.path} as config {f.config} split {f.split}; a shard of theirs is named "
                f"{mf.split_pattern(f.config, f.split).replace('*', 'NNNNN-of-NNNNN')}"
            )
        if f.path in seen:
            faults.append(f"{mf.MANIFEST_NAME}: lists {f.path} twice")
        seen.add(f.path)
        if not SHA256.match(f.sha256):
            faults.append(f"{mf.MANIFEST_NAME}: the sha256 of {f.path} is not 64 hexadecimal digits")
    return faults


def _file_faults(out: Path, manifest: Manifest) -> list[str]:
    """Each shard: present, size, sha256, rows and schema as recorded; viewer-sized row groups with a page index."""
    schema = arrow_schema(manifest.class_names).remove_metadata()
    faults = []
    for f in manifest.files:
        if not mf.is_shard_path(f.path):
            continue
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


def _script_faults(out: Path) -> list[str]:
    """A Python file named after the folder: `load_dataset` takes it for a loading script and refuses the folder."""
    script = out.resolve().name + ".py"
    if (out / script).is_file():
        return [f"{script}: named after the folder, so `load_dataset` takes it for a loading script and refuses it"]
    return []


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


def check_folder(out: Path, *, stream: bool = True, card_text: str | None = None) -> CheckReport:
    """Every fault that would stop the Hub, the viewer or `load_dataset` using this build folder, and its foreign files.

    `card_text` checks that card instead of the folder's README.md (what `publish` will upload).
    """
    out = Path(out)
    if not out.is_dir():
        return CheckReport([f"{out}: not a folder"])
    try:
        manifest = mf.read_manifest(out)
    except mf.ManifestError as exc:
        return CheckReport([str(exc)])
    faults = _entry_faults(manifest)
    card, configs = _card_faults(out, manifest, card_text)
    faults += card
    if configs is not None:
        faults += _pattern_faults(out, configs, manifest)
    faults += _count_faults(manifest)
    faults += _file_faults(out, manifest)
    faults += _script_faults(out)
    named = {fault.split(": ", 1)[0] for fault in faults}
    foreign = [path for path in foreign_files(out, manifest) if path not in named]
    if stream and configs and not faults:
        faults += stream_faults(out, configs)
    return CheckReport(faults, foreign)


def check_build(out: Path, *, stream: bool = True) -> list[str]:
    """The faults of `check_folder`; [] when the folder is ready to publish."""
    return check_folder(out, stream=stream).faults
