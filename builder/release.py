"""What a release of a build folder holds: the card, the manifest, rejected.jsonl, the card's pictures, the shards.

Anything else in the folder is the user's (or a leftover of an interrupted write): `check` lists it as foreign and
`publish` leaves it out. Only paths inside the folder count, so a hand-edited card or manifest can never make
`publish` read or upload a file from elsewhere.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from ximagenet12 import manifest as mf

_LINKS = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def walk(out: Path) -> list[str]:
    """Every file of the folder, relative, except the private `.build/` state."""
    found = []
    for root, dirs, files in os.walk(out):
        rel = Path(root).relative_to(out)
        if rel == Path("."):
            dirs[:] = [d for d in dirs if d != mf.STATE_DIR]
        found += [(rel / name).as_posix() for name in files]
    return sorted(found)


def inside(path: str) -> bool:
    """Whether a relative path names a place inside the folder, outside the private `.build/` state."""
    parts = PurePosixPath(path).parts
    return bool(parts) and not PurePosixPath(path).is_absolute() and ".." not in parts and parts[0] != mf.STATE_DIR


def relative_links(text: str) -> list[str]:
    """The relative targets of a card body's images and links (no URLs, anchors or mail addresses)."""
    links = _LINKS.findall(text)
    return sorted({link for link in links if "://" not in link and not link.startswith(("#", "mailto:"))})


def card_links(text: str) -> list[str]:
    """Relative paths inside the folder that the images and links of a card body point to."""
    return [link for link in relative_links(text) if inside(link)]


def release_paths(manifest: mf.Manifest, card_text: str | None = None) -> set[str]:
    """Every path a release of this build holds, present or not: card, manifest, rejected.jsonl, links, shards."""
    paths = {mf.CARD_NAME, mf.MANIFEST_NAME, mf.REJECTED_NAME}
    paths |= {f.path for f in manifest.files if mf.is_shard_path(f.path)}
    if card_text is not None:
        paths |= set(card_links(card_text))
    return paths


def published_files(out: Path, manifest: mf.Manifest, card_text: str | None = None) -> list[str]:
    """The release files present in `out`; the card's links are read from `card_text` or else `out/README.md`."""
    out = Path(out)
    readme = out / mf.CARD_NAME
    if card_text is None and readme.is_file():
        card_text = readme.read_text(encoding="utf-8")
    return sorted(p for p in release_paths(manifest, card_text) if (out / p).is_file())


def foreign_files(out: Path, manifest: mf.Manifest) -> list[str]:
    """Files of the folder that are not part of the release (a user's notes, a leftover temporary file)."""
    ours = set(published_files(out, manifest))
    return [p for p in walk(Path(out)) if p not in ours]
