"""Discovering a build's inputs: annotated sources, background photos and AI-generated images.

Layouts read (any mix, under one SOURCES folder):
- the authors': `image/<wnid>/<stem>.JPEG` with `masks/<wnid>/<stem>.png` (V7, red on black) or
  `standard_masks/<wnid>/<stem>.png` (0/255);
- LabelMe / AnyLabeling: `<stem>.json` beside `<stem>.<ext>`, the wnid from the folder or the stem;
- COCO: a `*.json` at the top with `images` and `annotations` (category name = wnid or class name);
- `backgrounds/` (optionally `backgrounds/<wnid>/`) and `ai_backgrounds/` (file stems start with the
  source id they were generated from).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ximagenet12.classes import CLASSES, ClassInfo, make_classes

IMAGE_SUFFIXES = frozenset({".jpeg", ".jpg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
AUTHOR_MASK_DIRS = ("standard_masks", "masks")
SKIP_DIRS = frozenset({"image", *AUTHOR_MASK_DIRS, "backgrounds", "ai_backgrounds"})
WNID = re.compile(r"n\d{8}")
SOURCE_ID = re.compile(r"(n\d{8}_\d+)")


@dataclass(frozen=True)
class Source:
    """One annotated base image: its id, class and where its pixels and mask are."""

    id: str
    wnid: str
    image: str
    mask_kind: str  # "png" | "labelme" | "coco"
    mask: str  # the mask file, LabelMe JSON or COCO file
    mask_key: str | None = None  # the image's file_name inside a COCO file


@dataclass(frozen=True)
class Background:
    """A background photo or an AI-generated image, with the class it shows (if known)."""

    id: str
    path: str
    wnid: str | None = None
    source_id: str | None = None


@dataclass(frozen=True)
class Rejected:
    """An input left out of the build, and why."""

    file: str
    reason: str
    stage: str = "discover"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Inventory:
    """Everything a build reads, with what was rejected while finding it."""

    root: str
    classes: tuple[ClassInfo, ...]
    sources: list[Source]
    backgrounds: list[Background]
    generated: list[Background]
    rejected: list[Rejected]


def load_classes(path: Path | None) -> tuple[ClassInfo, ...]:
    """The class table: `classes.json` (list of {wnid, imagenet_index, name}) or the 12 classes."""
    if path is None or not path.exists():
        return CLASSES
    try:
        rows = json.loads(path.read_text())
        return make_classes([(r["wnid"], int(r["imagenet_index"]), r["name"]) for r in rows])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a class table (list of {{wnid, imagenet_index, name}}): {exc}") from exc


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _visible_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.parts))


def _source_id(wnid: str, stem: str) -> str:
    return stem if stem.startswith(f"{wnid}_") else f"{wnid}_{stem}"


def _authors_layout(root: Path, known: set[str], found: list[Source], rejected: list[Rejected]) -> None:
    for path in _visible_files(root / "image"):
        wnid = path.parent.name
        if not _is_image(path):
            rejected.append(Rejected(str(path), f"not an image file (suffix {path.suffix!r})"))
            continue
        if wnid not in known:
            rejected.append(Rejected(str(path), f"folder {wnid!r} is not a class of this build"))
            continue
        candidates = [root / d / wnid / f"{path.stem}.png" for d in AUTHOR_MASK_DIRS]
        mask = next((c for c in candidates if c.exists()), None)
        if mask is None:
            looked = " or ".join(str(c.relative_to(root)) for c in candidates)
            rejected.append(Rejected(str(path), f"missing mask: looked for {looked}"))
            continue
        found.append(Source(_source_id(wnid, path.stem), wnid, str(path), "png", str(mask)))


def _wnid_for(path: Path, known: set[str]) -> str | None:
    if path.parent.name in known:
        return path.parent.name
    match = WNID.match(path.stem)
    return match.group(0) if match and match.group(0) in known else None


def _is_coco(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
        return b'"images"' in head or b'"annotations"' in head
    except OSError:
        return False


def _coco_layout(
    path: Path, classes: tuple[ClassInfo, ...], found: list[Source], rejected: list[Rejected]
) -> set[Path]:
    """Sources of one COCO file; returns the image paths it claims."""
    try:
        data = json.loads(path.read_text())
        categories = {c["id"]: c["name"] for c in data.get("categories", [])}
        images = data["images"]
        annotations = data["annotations"]
    except (ValueError, KeyError, TypeError) as exc:
        rejected.append(Rejected(str(path), f"malformed COCO file: {exc}"))
        return set()
    by_name = {c.name: c.wnid for c in classes} | {c.wnid: c.wnid for c in classes}
    cats_of: dict = {}
    for ann in annotations:
        if isinstance(ann, dict):
            cats_of.setdefault(ann.get("image_id"), set()).add(categories.get(ann.get("category_id")))
    claimed: set[Path] = set()
    for image in images:
        file_name = str(image.get("file_name", ""))
        candidates = [path.parent / file_name, path.parent / "images" / file_name]
        image_path = next((c for c in candidates if c.exists()), candidates[0])
        claimed.add(image_path)
        names = cats_of.get(image.get("id"), set())
        wnids = {by_name.get(n) for n in names} - {None}
        if not names:
            rejected.append(Rejected(str(image_path), f"no annotation in {path.name}"))
        elif len(wnids) != 1:
            rejected.append(
                Rejected(
                    str(image_path),
                    f"categories {sorted(map(str, names))} in {path.name} do not name exactly one class of this build",
                )
            )
        elif not image_path.exists():
            rejected.append(Rejected(str(image_path), f"image listed in {path.name} does not exist"))
        else:
            wnid = wnids.pop()
            found.append(Source(_source_id(wnid, image_path.stem), wnid, str(image_path), "coco", str(path), file_name))
    return claimed


def _labelme_layout(
    root: Path, known: set[str], claimed: set[Path], found: list[Source], rejected: list[Rejected]
) -> None:
    for path in _visible_files(root):
        rel = path.relative_to(root)
        if rel.parts[0] in SKIP_DIRS or path in claimed or (len(rel.parts) == 1 and path.suffix.lower() == ".json"):
            continue
        if path.suffix.lower() == ".json":
            if not any(p.stem == path.stem and _is_image(p) for p in path.parent.iterdir()):
                rejected.append(Rejected(str(path), "annotation without an image beside it"))
            continue
        if not _is_image(path):
            if path.suffix.lower() not in {".md", ".txt"}:
                rejected.append(Rejected(str(path), f"not an image file (suffix {path.suffix!r})"))
            continue
        annotation = path.with_suffix(".json")
        wnid = _wnid_for(path, known)
        if not annotation.exists():
            rejected.append(Rejected(str(path), f"missing mask: no {annotation.name} beside it"))
        elif wnid is None:
            rejected.append(
                Rejected(str(path), "class unknown: neither its folder nor its name is a wnid of this build")
            )
        else:
            found.append(Source(_source_id(wnid, path.stem), wnid, str(path), "labelme", str(annotation)))


def _photos(folder: Path, known: set[str], rejected: list[Rejected], *, generated: bool) -> list[Background]:
    out: list[Background] = []
    if not folder.is_dir():
        return out
    for path in _visible_files(folder):
        if not _is_image(path):
            rejected.append(Rejected(str(path), f"not an image file (suffix {path.suffix!r})"))
            continue
        rel = path.relative_to(folder).with_suffix("").as_posix()
        wnid = path.parent.name if path.parent.name in known else None
        source_id = None
        if generated:
            match = SOURCE_ID.match(path.stem)
            if match is None:
                rejected.append(
                    Rejected(str(path), "generated image whose name does not start with a source id (<wnid>_<n>)")
                )
                continue
            source_id = match.group(1)
        out.append(Background(rel, str(path), wnid, source_id))
    return out


def _dedupe(sources: list[Source], rejected: list[Rejected]) -> list[Source]:
    first: dict[str, Source] = {}
    for source in sorted(sources, key=lambda s: (s.id, s.image)):
        if source.id in first:
            rejected.append(Rejected(source.image, f"duplicate id {source.id}: also {first[source.id].image}"))
        else:
            first[source.id] = source
    return list(first.values())


def discover(
    root: Path,
    *,
    classes: tuple[ClassInfo, ...] | None = None,
    backgrounds: Path | None = None,
    ai_backgrounds: Path | None = None,
) -> Inventory:
    """Find every source, background photo and generated image under `root`, sorted by id."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: sources folder not found")
    classes = classes or load_classes(root / "classes.json")
    known = {c.wnid for c in classes}
    found: list[Source] = []
    rejected: list[Rejected] = []
    if (root / "image").is_dir():
        _authors_layout(root, known, found, rejected)
    claimed: set[Path] = set()
    for path in sorted(root.glob("*.json")):
        if path.name != "classes.json" and _is_coco(path):
            claimed |= _coco_layout(path, classes, found, rejected)
    _labelme_layout(root, known, claimed, found, rejected)
    sources = _dedupe(found, rejected)
    ids = {s.id for s in sources}
    photos = _photos(backgrounds or root / "backgrounds", known, rejected, generated=False)
    generated = []
    for image in _photos(ai_backgrounds or root / "ai_backgrounds", known, rejected, generated=True):
        if image.source_id in ids:
            generated.append(image)
        else:
            rejected.append(
                Rejected(image.path, f"generated from {image.source_id}, which is not a source of this build")
            )
    rejected.sort(key=lambda r: (r.file, r.reason))
    return Inventory(str(root), classes, sources, photos, generated, rejected)
