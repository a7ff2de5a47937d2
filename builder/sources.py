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
import os
import re
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ximagenet12.classes import CLASSES, ClassInfo, make_classes
from ximagenet12.errors import XImageNet12Error, named_once

IMAGE_SUFFIXES = frozenset({".jpeg", ".jpg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
AUTHOR_MASK_DIRS = ("standard_masks", "masks")
GENERATION_RECORDS = "generation.jsonl"  # beside the generated images: how each was made
SKIP_DIRS = frozenset({"image", *AUTHOR_MASK_DIRS, "backgrounds", "ai_backgrounds"})
WNID = re.compile(r"n\d{8}")
SOURCE_ID = re.compile(r"(n\d{8}_\d+)")
TIGER_CAT = "n02123159"
# What `ximagenet12 build` reads, one line each: printed when a folder holds none of it.
LAYOUTS = (
    "image/<wnid>/<id>.JPEG with masks/<wnid>/<id>.png (V7 export, object red on black) "
    "or standard_masks/<wnid>/<id>.png (0/255): the authors' layout",
    "<any folder>/<id>.<jpg|png|...> with <id>.json beside it (LabelMe / AnyLabeling polygons); "
    "the wnid is the folder's name or the start of the file name",
    "<name>.json at the top with COCO 'images', 'annotations' and 'categories' (a category names a wnid or "
    "a class); images beside it or under images/",
    f"backgrounds/[<wnid>/]<photo>: photos of classes outside the label set for rand_bg (the authors used "
    f"ImageNet tiger cat, {TIGER_CAT})",
    "ai_backgrounds/<source id>_<anything>.<ext>: images generated elsewhere from that source, for ai_bg",
)


class SourcesError(XImageNet12Error, ValueError):
    """A sources folder or class table that cannot be read as a whole; names the file."""


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
    """A background photo or an AI-generated image, with the class it shows (if known).

    `origin` is where it came from, relative to SOURCES (or to its own folder's parent when it
    lies outside SOURCES): what a row records, never an absolute path.
    """

    id: str
    path: str
    wnid: str | None = None
    source_id: str | None = None
    origin: str | None = None
    record: str | None = None  # for a generated image: how it was made (JSON), from generation.jsonl


@dataclass(frozen=True)
class Rejected:
    """An input left out of the build, and why."""

    file: str
    reason: str
    stage: str = "discover"

    def to_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        """`file: reason`, the file named once: many reasons already start with it."""
        return named_once(self.file, self.reason)


@dataclass
class Inventory:
    """Everything a build reads, with what was rejected while finding it."""

    root: str
    classes: tuple[ClassInfo, ...]
    sources: list[Source]
    backgrounds: list[Background]
    generated: list[Background]
    rejected: list[Rejected]
    files_seen: int = field(default=0, compare=False)

    @property
    def background_classes(self) -> tuple[str, ...]:
        """The wnids the background photos are known to show, sorted."""
        return tuple(sorted({b.wnid for b in self.backgrounds if b.wnid}))


def load_classes(path: Path | None) -> tuple[ClassInfo, ...]:
    """The class table: `classes.json` (list of {wnid, imagenet_index, name}) or the 12 classes."""
    if path is None or not path.exists():
        return CLASSES
    try:
        rows = json.loads(path.read_text())
        return make_classes([(r["wnid"], int(r["imagenet_index"]), r["name"]) for r in rows])
    except OSError as exc:
        raise SourcesError(f"{path}: cannot read the class table ({exc.strerror or exc})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise SourcesError(f"{path}: not a class table (list of {{wnid, imagenet_index, name}}): {exc}") from None


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


class Walk:
    """Every visible regular file under a folder, sorted; unreadable or odd entries are rejected with the reason.

    Hidden entries (names starting with ".") are skipped. Symbolic links are followed (each folder
    once); a dangling link, a FIFO, a socket or device, an unreadable folder and a folder named like
    an image file are reported rather than opened.
    """

    def __init__(self, rejected: list[Rejected]):
        self.rejected = rejected
        self._seen_dirs: set[tuple[int, int]] = set()

    def files(self, folder: Path) -> list[Path]:
        """The regular files under `folder` (which may be missing: no files)."""
        out: list[Path] = []
        if folder.is_dir():
            self._walk(folder, out)
        return sorted(out)

    def _walk(self, folder: Path, out: list[Path]) -> None:
        try:
            info = os.stat(folder)
            if (info.st_dev, info.st_ino) in self._seen_dirs:
                return
            self._seen_dirs.add((info.st_dev, info.st_ino))
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            self.rejected.append(Rejected(str(folder), f"cannot read folder ({exc.strerror or exc})"))
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                mode = os.stat(path).st_mode
            except FileNotFoundError:
                self.rejected.append(Rejected(str(path), "dangling symbolic link (its target does not exist)"))
                continue
            except OSError as exc:
                self.rejected.append(Rejected(str(path), f"cannot read ({exc.strerror or exc})"))
                continue
            if stat.S_ISDIR(mode):
                if _is_image(path):
                    self.rejected.append(Rejected(str(path), "a folder named like an image file, not an image"))
                else:
                    self._walk(path, out)
            elif stat.S_ISREG(mode):
                if os.access(path, os.R_OK):
                    out.append(path)
                else:
                    self.rejected.append(Rejected(str(path), "cannot read file (Permission denied)"))
            else:
                self.rejected.append(Rejected(str(path), f"{_kind(mode)}, not an image file"))


def _source_id(wnid: str, stem: str) -> str:
    return stem if stem.startswith(f"{wnid}_") else f"{wnid}_{stem}"


def _authors_layout(
    root: Path, walk: Walk, known: set[str], found: list[Source], rejected: list[Rejected]
) -> None:
    masks = {d: set(walk.files(root / d)) for d in AUTHOR_MASK_DIRS}
    for path in walk.files(root / "image"):
        wnid = path.parent.name
        if not _is_image(path):
            rejected.append(Rejected(str(path), f"not an image file (suffix {path.suffix!r})"))
            continue
        if wnid not in known:
            rejected.append(Rejected(str(path), f"folder {wnid!r} is not a class of this build"))
            continue
        candidates = [root / d / wnid / f"{path.stem}.png" for d in AUTHOR_MASK_DIRS]
        mask = next((c for d, c in zip(AUTHOR_MASK_DIRS, candidates, strict=True) if c in masks[d]), None)
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
        images = [i for i in data["images"] if isinstance(i, dict)]
        annotations = data["annotations"]
        if not isinstance(annotations, list):
            raise TypeError("'annotations' is not a list")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        rejected.append(Rejected(str(path), f"malformed COCO file: {type(exc).__name__}: {exc}"))
        return set()
    by_name = {c.name: c.wnid for c in classes} | {c.wnid: c.wnid for c in classes}
    cats_of: dict = {}
    for ann in annotations:
        if isinstance(ann, dict) and isinstance(ann.get("image_id"), (int, str)):
            category = ann.get("category_id")
            cats_of.setdefault(ann["image_id"], set()).add(
                categories.get(category) if isinstance(category, (int, str)) else None
            )
    claimed: set[Path] = set()
    for image in images:
        file_name = str(image.get("file_name", ""))
        candidates = [path.parent / file_name, path.parent / "images" / file_name]
        image_path = next((c for c in candidates if c.exists()), candidates[0])
        claimed.add(image_path)
        image_id = image.get("id")
        names = cats_of.get(image_id, set()) if isinstance(image_id, (int, str)) else set()
        wnids = {by_name.get(n) for n in names if isinstance(n, str)} - {None}
        if not names:
            rejected.append(Rejected(str(image_path), f"no annotation in {path.name}"))
        elif len(wnids) != 1:
            rejected.append(
                Rejected(
                    str(image_path),
                    f"categories {sorted(map(str, names))} in {path.name} do not name exactly one class of this build",
                )
            )
        elif not image_path.is_file():
            rejected.append(Rejected(str(image_path), f"image listed in {path.name} does not exist"))
        else:
            wnid = wnids.pop()
            found.append(Source(_source_id(wnid, image_path.stem), wnid, str(image_path), "coco", str(path), file_name))
    return claimed


def _labelme_layout(
    root: Path, files: list[Path], known: set[str], claimed: set[Path], found: list[Source], rejected: list[Rejected]
) -> None:
    present = set(files)
    image_stems = {(p.parent, p.stem) for p in files if _is_image(p)}
    for path in files:
        rel = path.relative_to(root)
        if rel.parts[0] in SKIP_DIRS or path in claimed or (len(rel.parts) == 1 and path.suffix.lower() == ".json"):
            continue
        if path.suffix.lower() == ".json":
            if (path.parent, path.stem) not in image_stems:
                rejected.append(Rejected(str(path), "annotation without an image beside it"))
            continue
        if not _is_image(path):
            if path.suffix.lower() not in {".md", ".txt"}:
                rejected.append(Rejected(str(path), f"not an image file (suffix {path.suffix!r})"))
            continue
        annotation = path.with_suffix(".json")
        wnid = _wnid_for(path, known)
        if annotation not in present:
            rejected.append(Rejected(str(path), f"missing mask: no {annotation.name} beside it"))
        elif wnid is None:
            rejected.append(
                Rejected(str(path), "class unknown: neither its folder nor its name is a wnid of this build")
            )
        else:
            found.append(Source(_source_id(wnid, path.stem), wnid, str(path), "labelme", str(annotation)))


def _origin(path: Path, root: Path, folder: Path) -> str:
    """Where a photo came from, relative to SOURCES, else to its folder's parent: never absolute."""
    for base in (root, folder.parent):
        try:
            return path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            continue
    return path.name


def _photo_wnid(path: Path, folder: Path) -> str | None:
    """The wnid a photo shows: its sub-folder's name, or the start of its file name (ImageNet style)."""
    rel = path.relative_to(folder)
    for part in (*rel.parts[:-1], path.stem):
        match = WNID.match(part)
        if match:
            return match.group(0)
    return None


def _photos(
    folder: Path, root: Path, walk: Walk, known: set[str], rejected: list[Rejected], *, generated: bool
) -> list[Background]:
    out: list[Background] = []
    for path in walk.files(folder):
        if generated and path.name == GENERATION_RECORDS and path.parent == folder:
            continue
        if not _is_image(path):
            rejected.append(Rejected(str(path), f"not an image file (suffix {path.suffix!r})"))
            continue
        rel = path.relative_to(folder).with_suffix("").as_posix()
        origin = _origin(path, root, folder)
        if generated:
            match = SOURCE_ID.match(path.stem)
            if match is None:
                rejected.append(
                    Rejected(str(path), "generated image whose name does not start with a source id (<wnid>_<n>)")
                )
                continue
            wnid = path.parent.name if path.parent.name in known else None
            out.append(Background(rel, str(path), wnid, match.group(1), origin))
            continue
        wnid = _photo_wnid(path, folder)
        if wnid in known:
            rejected.append(
                Rejected(
                    str(path),
                    f"background photo of {wnid}, one of this build's classes: rand_bg needs photos of classes "
                    f"outside the label set (the authors used ImageNet tiger cat, {TIGER_CAT})",
                )
            )
            continue
        out.append(Background(rel, str(path), wnid, None, origin))
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
    """Find every source, background photo and generated image under `root`, sorted by id.

    Nothing is opened but JSON annotations and the head of top-level JSON files; an entry that
    cannot be read is rejected with the reason and the rest goes on.
    """
    root = Path(root)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "sources folder not found"
        raise SourcesError(f"{root}: {what}")
    classes = classes or load_classes(root / "classes.json")
    known = {c.wnid for c in classes}
    found: list[Source] = []
    rejected: list[Rejected] = []
    walk = Walk(rejected)
    files = walk.files(root)
    if (root / "image").is_dir():
        _authors_layout(root, Walk([]), known, found, rejected)
    claimed: set[Path] = set()
    for path in (p for p in files if p.parent == root and p.suffix.lower() == ".json"):
        if path.name != "classes.json" and _is_coco(path):
            claimed |= _coco_layout(path, classes, found, rejected)
    _labelme_layout(root, files, known, claimed, found, rejected)
    sources = _dedupe(found, rejected)
    ids = {s.id for s in sources}
    background_dir = backgrounds or root / "backgrounds"
    generated_dir = ai_backgrounds or root / "ai_backgrounds"
    outside = Walk(rejected)
    photos = _photos(background_dir, root, outside if backgrounds else Walk([]), known, rejected, generated=False)
    generated = []
    extra_walk = outside if ai_backgrounds else Walk([])
    for image in _photos(generated_dir, root, extra_walk, known, rejected, generated=True):
        if image.source_id in ids:
            generated.append(image)
        else:
            rejected.append(
                Rejected(image.path, f"generated from {image.source_id}, which is not a source of this build")
            )
    unique = {(r.file, r.reason, r.stage): r for r in rejected}
    rejected = sorted(unique.values(), key=lambda r: (r.file, r.reason))
    return Inventory(str(root), classes, sources, photos, generated, rejected, files_seen=len(files))
