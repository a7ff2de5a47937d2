"""The build plan: split, fold, per-row seeds and background pairings, fixed before any pixel is read.

Everything here is a pure function of the inventory, the configs and the release seed, so any
worker count, order, resumption or machine split gives the same rows.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from ximagenet12.features import fold_of, split_of
from ximagenet12.scenarios import SCENARIOS

from .sources import Background, Inventory, Rejected, Source

DEFAULT_SEED = 20231012
SOURCES_PER_SHARD = 2000


def row_seed(release_seed: int, source_id: str, scenario: str, purpose: str = "") -> int:
    """A 63-bit seed from (release seed, source id, scenario[, purpose])."""
    key = f"{release_seed}\x1f{source_id}\x1f{scenario}\x1f{purpose}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") >> 1


@dataclass(frozen=True)
class Row:
    """One output row to compute: a scenario on a source, with its seed and partner if any."""

    config: str
    seed: int
    background: Background | None = None
    partner: Source | None = None

    @property
    def background_id(self) -> str | None:
        if self.partner is not None:
            return self.partner.id
        return self.background.id if self.background is not None else None


@dataclass(frozen=True)
class SourcePlan:
    """Everything to build for one source."""

    source: Source
    label: int
    split: str
    fold: int
    rows: tuple[Row, ...]


@dataclass
class Plan:
    """The whole build, cut into shards of consecutive sources."""

    configs: tuple[str, ...]
    seed: int
    sources_per_shard: int
    items: list[SourcePlan]
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def num_shards(self) -> int:
        return max(1, math.ceil(len(self.items) / self.sources_per_shard))

    def shard(self, index: int) -> list[SourcePlan]:
        start = index * self.sources_per_shard
        return self.items[start : start + self.sources_per_shard]


def _pick(candidates: list, seed: int):
    return candidates[int(np.random.default_rng(seed).integers(len(candidates)))] if candidates else None


def _pairing_pools(inv: Inventory) -> tuple[dict[str, list[Source]], list[str]]:
    by_class: dict[str, list[Source]] = {}
    for source in inv.sources:
        by_class.setdefault(source.wnid, []).append(source)
    present = [c.wnid for c in inv.classes if c.wnid in by_class]
    return by_class, present


def make_plan(
    inv: Inventory,
    configs: tuple[str, ...],
    *,
    seed: int = DEFAULT_SEED,
    sources_per_shard: int = SOURCES_PER_SHARD,
) -> Plan:
    """Plan every row of `configs` for the inventory's sources (sorted by id)."""
    inv = Inventory(
        inv.root,
        inv.classes,
        sorted(inv.sources, key=lambda s: s.id),
        sorted(inv.backgrounds, key=lambda b: b.id),
        sorted(inv.generated, key=lambda b: b.id),
        inv.rejected,
    )
    labels = {c.wnid: c.label for c in inv.classes}
    by_class, present = _pairing_pools(inv)
    generated: dict[str, list[Background]] = {}
    for image in inv.generated:
        generated.setdefault(image.source_id, []).append(image)
    photo_fallback = [Background(s.id, s.image, s.wnid) for s in inv.sources]
    photos = inv.backgrounds or photo_fallback
    photo_pool = {wnid: [b for b in photos if b.wnid != wnid] for wnid in present}
    items: list[SourcePlan] = []
    rejected: list[Rejected] = []

    for source in inv.sources:
        rows: list[Row] = []
        other_classes = [w for w in present if w != source.wnid]
        for config in configs:
            seed_row = row_seed(seed, source.id, config)
            pick_seed = row_seed(seed, source.id, config, "pairing")
            extra = SCENARIOS[config].extra
            if extra is None:
                rows.append(Row(config, seed_row))
            elif extra.origin == "photo":
                choice = _pick(photo_pool[source.wnid], pick_seed)
                if choice is None:
                    rejected.append(Rejected(source.image, "rand_bg: no background photo of another class", "plan"))
                else:
                    rows.append(Row(config, seed_row, background=choice))
            elif extra.origin == "generated":
                rows.extend(Row(config, seed_row, background=g) for g in generated.get(source.id, []))
            else:
                pairing = extra.pairing
                if pairing == "same":
                    pool = [s for s in by_class[source.wnid] if s.id != source.id]
                elif pairing == "rand":
                    other = _pick(other_classes, row_seed(seed, source.id, config, "class"))
                    pool = by_class[other] if other else []
                else:
                    nxt = present[(present.index(source.wnid) + 1) % len(present)]
                    pool = by_class[nxt] if nxt != source.wnid else []
                partner = _pick(pool, pick_seed)
                if partner is None:
                    rejected.append(Rejected(source.image, f"{config}: no partner source ({pairing})", "plan"))
                else:
                    rows.append(Row(config, seed_row, partner=partner))
        items.append(SourcePlan(source, labels[source.wnid], split_of(source.id), fold_of(source.id), tuple(rows)))
    return Plan(tuple(configs), seed, sources_per_shard, items, rejected)
