"""What a release of a build folder holds: the card, the manifest, rejected.jsonl, the card's pictures, the shards."""

from __future__ import annotations

import os
import re
from pathlib import Path

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


def card_links(text: str) -> list[str]:
    """Relative paths of the images and links in a card body."""
    links = _LINKS.findall(text)
    return sorted({link for link in links if "://" not in link and not link.startswith(("#", "mailto:"))})


def published_files(out: Path, manifest: mf.Manifest) -> list[str]:
    """The release files present in `out`: card, manifest, rejected.jsonl, the card's linked assets, the shards."""
    out = Path(out)
    files = {mf.CARD_NAME, mf.MANIFEST_NAME, mf.REJECTED_NAME} | {f.path for f in manifest.files}
    readme = out / mf.CARD_NAME
    if readme.is_file():
        files |= {p for p in card_links(readme.read_text(encoding="utf-8")) if (out / p).is_file()}
    return sorted(p for p in files if (out / p).is_file())
