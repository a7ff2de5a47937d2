"""Mask sets: one annotation of many images, in any format the readers take, indexed by source id.

A set is a folder or a COCO file. In a folder:
- a `*.json` with `images` and `annotations` is a COCO file (ids from its `file_name`s); any other
  `*.json` but `classes.json` (a build's class table) is a LabelMe / AnyLabeling annotation;
- PNG, BMP and TIFF files are masks (V7 red on black, or single-channel 0/255), except beside a
  LabelMe JSON of the same stem or under a folder named `image` or `images`: those are photos;
- JPEG and WebP files are photos, never masks (a lossy mask would be a guess).

A source id is `<wnid>_<n>` as the build names sources: the stem, prefixed with the wnid of its
folder when the stem lacks it. Files that cannot be indexed (a COCO file that does not parse, an
id twice in one set) are listed as problems and left out; the rest is read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .readers import LOSSLESS_SUFFIXES, MaskError, coco_index, load_mask, mask_from_coco, mask_from_labelme

PHOTO_SUFFIXES = frozenset({".jpeg", ".jpg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
PHOTO_FOLDERS = frozenset({"image", "images"})
WNID = re.compile(r"n\d{8}")
CLASS_TABLE = "classes.json"  # a build's class table, not an annotation
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class Problem:
    """A file of a mask set that could not be used, and why."""

    file: str
    reason: str

    def to_dict(self) -> dict:
        """Plain record."""
        return {"file": self.file, "reason": self.reason}


@dataclass(frozen=True)
class MaskEntry:
    """Where one source's mask lives in a set."""

    source_id: str
    wnid: str | None
    kind: str  # "png" | "labelme" | "coco" | "array"
    path: str
    key: str | None = None  # the image's file_name inside a COCO file


@dataclass
class MaskSet:
    """One annotation of many images: its name, where it is read from, and its masks by source id."""

    name: str
    root: str
    kind: str  # "folder" | "coco" | "arrays"
    entries: dict[str, MaskEntry]
    images: dict[str, str] = field(default_factory=dict)  # source id -> photo, where the set has one
    problems: list[Problem] = field(default_factory=list)
    _arrays: Mapping[str, np.ndarray] | None = None
    _coco: dict | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def load(self, source_id: str) -> np.ndarray:
        """The 0/255 uint8 mask of one source; MaskError names the file and the fault."""
        entry = self.entries[source_id]
        if entry.kind == "array":
            return _as_mask(self._arrays[source_id], f"{self.name}:{source_id}")
        if entry.kind == "labelme":
            return mask_from_labelme(entry.path)
        if entry.kind == "coco":
            image = self._coco_images(entry.path)[entry.key]
            return mask_from_coco(image.annotations, image.height, image.width, source=f"{entry.path} [{entry.key}]")
        return load_mask(entry.path)

    def _coco_images(self, path: str) -> dict:
        if self._coco is None:
            self._coco = {}
        if path not in self._coco:
            self._coco[path] = coco_index(path)
        return self._coco[path]

    @classmethod
    def from_arrays(cls, name: str, masks: Mapping[str, np.ndarray], *, images: Mapping[str, str] | None = None
                    ) -> MaskSet:
        """A set of masks already in memory: {source id: 2-D mask (object = nonzero)}."""
        _check_name(name)
        entries = {sid: MaskEntry(sid, _wnid_of(sid, None), "array", f"{name}:{sid}") for sid in masks}
        return cls(name, f"<{len(masks)} arrays>", "arrays", entries, dict(images or {}), [], masks)


def _as_mask(array: np.ndarray, source: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2:
        raise MaskError(f"{source}: mask must be a 2-D array, got shape {array.shape}")
    return (array != 0).view(np.uint8) * 255


def _check_name(name: str) -> str:
    if not NAME.match(name):
        raise ValueError(f"mask set name {name!r}: use letters, digits and _ . + - (starting with a letter or digit)")
    return name


def _wnid_of(stem: str, folder: str | None) -> str | None:
    if folder and WNID.fullmatch(folder):
        return folder
    match = WNID.match(stem)
    return match.group(0) if match else None


def _source_id(stem: str, wnid: str | None) -> str:
    return stem if wnid is None or stem.startswith(f"{wnid}_") else f"{wnid}_{stem}"


def _is_coco(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    return b'"images"' in head and b'"annotations"' in head


def _coco_entries(path: Path, entries: list[MaskEntry], images: dict[str, str], problems: list[Problem]) -> None:
    try:
        index = coco_index(path)
        categories = {c.get("id"): str(c.get("name")) for c in json.loads(path.read_text()).get("categories", [])
                      if isinstance(c, dict)}
    except (MaskError, ValueError, AttributeError) as error:
        problems.append(Problem(str(path), f"not a usable COCO file: {error}"))
        return
    for file_name, image in index.items():
        stem = Path(file_name).stem
        names = {categories.get(a.get("category_id")) for a in image.annotations}
        folder = Path(file_name).parent.name or next((n for n in names if n and WNID.fullmatch(n)), None)
        wnid = _wnid_of(stem, folder)
        if not image.annotations:
            problems.append(Problem(f"{path} [{file_name}]", "image listed without annotation"))
            continue
        sid = _source_id(stem, wnid)
        entries.append(MaskEntry(sid, wnid, "coco", str(path), file_name))
        for photo in (path.parent / file_name, path.parent / "images" / file_name):
            if photo.is_file():
                images.setdefault(sid, str(photo))
                break


def _visible(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(root).parts))


def _folder_entries(root: Path, entries: list[MaskEntry], images: dict[str, str], problems: list[Problem]) -> None:
    files = _visible(root)
    stems_with_json = {(p.parent, p.stem) for p in files if p.suffix.lower() == ".json"}
    photos: dict[str, str] = {}
    for path in files:
        suffix = path.suffix.lower()
        folder = path.parent.name if path.parent != root else None
        wnid = _wnid_of(path.stem, folder)
        sid = _source_id(path.stem, wnid)
        if suffix == ".json":
            if path.name == CLASS_TABLE:
                continue
            if _is_coco(path):
                _coco_entries(path, entries, images, problems)
            else:
                entries.append(MaskEntry(sid, wnid, "labelme", str(path)))
        elif suffix in PHOTO_SUFFIXES:
            is_photo = (suffix not in LOSSLESS_SUFFIXES or (path.parent, path.stem) in stems_with_json
                        or any(part in PHOTO_FOLDERS for part in path.relative_to(root).parts[:-1]))
            if is_photo:
                photos.setdefault(sid, str(path))
            else:
                entries.append(MaskEntry(sid, wnid, "png", str(path)))
    for sid, photo in photos.items():
        images.setdefault(sid, photo)


def photo_index(folder: str | Path) -> dict[str, str]:
    """Source id -> photo for every image file under `folder` (ids as for masks; the first of a duplicate wins)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: photo folder not found")
    photos: dict[str, str] = {}
    for path in _visible(root):
        if path.suffix.lower() in PHOTO_SUFFIXES:
            folder_name = path.parent.name if path.parent != root else None
            photos.setdefault(_source_id(path.stem, _wnid_of(path.stem, folder_name)), str(path))
    return photos


def parse_set_spec(spec: str) -> tuple[str | None, Path]:
    """'name=path' -> (name, path); a plain path (or one whose '=' is part of an existing file) -> (None, path)."""
    if "=" in spec and not Path(spec).exists():
        name, _, path = spec.partition("=")
        return _check_name(name), Path(path)
    return None, Path(spec)


def open_mask_set(spec: str | Path, *, name: str | None = None) -> MaskSet:
    """Index a mask set: a folder or a COCO file, optionally given as 'name=path'.

    The default name is the folder's name or the COCO file's stem. A path that does not exist, or
    a file that is not a COCO file, raises FileNotFoundError / ValueError naming it.
    """
    given, path = parse_set_spec(str(spec)) if isinstance(spec, str) else (None, Path(spec))
    name = _check_name(name or given or (path.stem if path.is_file() else path.resolve().name))
    if not path.exists():
        raise FileNotFoundError(f"{path}: mask set not found")
    entries: list[MaskEntry] = []
    images: dict[str, str] = {}
    problems: list[Problem] = []
    if path.is_file():
        if path.suffix.lower() != ".json" or not _is_coco(path):
            raise ValueError(f"{path}: not a mask set (give a folder of masks or a COCO JSON file)")
        _coco_entries(path, entries, images, problems)
        kind = "coco"
    else:
        _folder_entries(path, entries, images, problems)
        kind = "folder"
    by_id: dict[str, list[MaskEntry]] = {}
    for entry in entries:
        by_id.setdefault(entry.source_id, []).append(entry)
    kept: dict[str, MaskEntry] = {}
    for sid, found in sorted(by_id.items()):
        if len(found) > 1:
            where = ", ".join(e.path if e.key is None else f"{e.path} [{e.key}]" for e in found)
            problems.append(Problem(found[0].path, f"source id {sid} appears {len(found)} times in set {name!r} "
                                    f"({where}): left out"))
        else:
            kept[sid] = found[0]
    return MaskSet(name, str(path), kind, kept, images, problems)
