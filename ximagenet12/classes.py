"""The 12 XImageNet-12 classes: the one table labels, wnids and ImageNet-1k indices come from."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ClassInfo:
    """One class: its label in this dataset, WordNet id, ImageNet-1k index and name."""

    label: int
    wnid: str
    imagenet_index: int
    name: str

    def to_dict(self) -> dict:
        return asdict(self)


def make_classes(rows: list[tuple[str, int, str]]) -> tuple[ClassInfo, ...]:
    """Class table from (wnid, imagenet_index, name) rows; labels follow sorted wnid order."""
    ordered = sorted(rows, key=lambda row: row[0])
    if len({wnid for wnid, _, _ in ordered}) != len(ordered):
        raise ValueError("duplicate wnid in class table")
    return tuple(ClassInfo(i, wnid, index, name) for i, (wnid, index, name) in enumerate(ordered))


CLASSES: tuple[ClassInfo, ...] = make_classes(
    [
        ("n01689811", 44, "alligator lizard"),
        ("n01693334", 46, "green lizard"),
        ("n01985128", 124, "crayfish"),
        ("n02066245", 147, "grey whale"),
        ("n02085936", 153, "Maltese dog"),
        ("n02119022", 277, "red fox"),
        ("n02607072", 393, "anemone fish"),
        ("n02692877", 405, "airship"),
        ("n02974003", 479, "car wheel"),
        ("n02977058", 480, "cash machine"),
        ("n02992211", 486, "cello"),
        ("n07614500", 928, "ice cream"),
    ]
)

WNIDS: tuple[str, ...] = tuple(c.wnid for c in CLASSES)
BY_WNID: dict[str, ClassInfo] = {c.wnid: c for c in CLASSES}
