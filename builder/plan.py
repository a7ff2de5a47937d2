"""The build plan: split, fold, per-row seeds and background pairings, fixed before any pixel is read.

Everything here is a pure function of the inventory, the configs and the release seed, so any
worker count, order, resumption or machine split gives the same rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from ximagenet12.features import fold_of, split_of
from ximagenet12.masks.variants import MaskVariant
from ximagenet12.scenarios import NO_MASK_VARIANTS, SCENARIOS, scenario_of

from .sources import TIGER_CAT, Background, Inventory, Rejected, Source

DEFAULT_SEED = 20231012
# Default shard sizing (no --sources-per-shard): at least MIN_SHARDS shards once there are MIN_SHARDS x
# MIN_SOURCES_PER_SHARD sources, so that up to 8 workers all have work on a build of 256 sources or more, and
# at most SOURCES_PER_SHARD sources per shard. It depends on the number of sources only, never on --workers:
# the shard count is in the file names, so the bytes would otherwise change with the worker count.
SOURCES_PER_SHARD = 2000
MIN_SHARDS = 8
MIN_SOURCES_PER_SHARD = 32
# How many candidates a paired row carries: the drawn one first, then deterministic fall-backs,
# so that a bad photo or partner costs only its own rows.
CANDIDATES = 8
# `mixed_rand` partner rules: ImageNet-9's (the default) and the older "never the own class".
MIXED_RAND_RULES = {
    "in9": (
        "ImageNet-9's Mixed-Rand: the background of a random image of a random class, the source's own class "
        "included (Xiao et al., ICLR 2021, Table 1)"
    ),
    "other-class": "the background of a random image of a class other than the source's own",
}
DEFAULT_MIXED_RAND_RULE = "in9"


def row_seed(release_seed: int, source_id: str, scenario: str, purpose: str = "") -> int:
    """A 63-bit seed from (release seed, source id, scenario[, purpose])."""
    key = f"{release_seed}\x1f{source_id}\x1f{scenario}\x1f{purpose}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") >> 1


@dataclass(frozen=True)
class Row:
    """One output row to compute: a scenario on a source, with its seed and, if paired, its candidates.

    `backgrounds` (photos or generated images) and `partners` (other sources) are tried in order;
    the first that loads and fits is used, so the drawn one whenever it is good. `params` are
    planned values the row records besides its drawn ones (the pairing rule, the mask variant).
    A mask-variant row (config `<scenario>@<variant>`) has its scenario row's seed and candidates, so
    only the masks differ between the two.
    """

    config: str
    seed: int
    backgrounds: tuple[Background, ...] = ()
    partners: tuple[Source, ...] = ()
    params: tuple[tuple[str, str], ...] = ()

    @property
    def mask_variant(self) -> str | None:
        """The `--mask-variant` spec the row's masks are changed by, if any."""
        return dict(self.params).get("mask_variant")

    @property
    def background(self) -> Background | None:
        """The drawn background (first candidate)."""
        return self.backgrounds[0] if self.backgrounds else None

    @property
    def partner(self) -> Source | None:
        """The drawn partner (first candidate)."""
        return self.partners[0] if self.partners else None

    @property
    def background_id(self) -> str | None:
        """The drawn candidate's id (the row records the one actually used)."""
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
    """The whole build, cut into shards of consecutive sources.

    `not_built` says, for every config of `configs` with no planned row, why the inputs cannot
    produce it, in words for a newcomer.
    """

    configs: tuple[str, ...]
    seed: int
    sources_per_shard: int
    items: list[SourcePlan]
    rejected: list[Rejected] = field(default_factory=list)
    not_built: dict[str, str] = field(default_factory=dict)
    mixed_rand_rule: str = DEFAULT_MIXED_RAND_RULE
    mask_variants: tuple[str, ...] = ()

    @property
    def num_shards(self) -> int:
        return max(1, math.ceil(len(self.items) / self.sources_per_shard))

    def shard(self, index: int) -> list[SourcePlan]:
        start = index * self.sources_per_shard
        return self.items[start : start + self.sources_per_shard]

    def planned_configs(self) -> tuple[str, ...]:
        """The configs with at least one planned row, in the order asked for."""
        return tuple(c for c in self.configs if c not in self.not_built)


def _candidates(pool: list, seed: int) -> tuple:
    """Up to CANDIDATES items of `pool` in a seeded order: the first is a uniform draw."""
    if not pool:
        return ()
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(pool), size=min(len(pool), CANDIDATES), replace=False)
    return tuple(pool[int(i)] for i in picks)


def _partner_candidates(classes: list[str], by_class: dict[str, list[Source]], source: Source, seed: int) -> tuple:
    """Partners from `classes` in a seeded class order, each class's images in a seeded order."""
    rng = np.random.default_rng(seed)
    out: list[Source] = []
    for index in rng.permutation(len(classes)):
        pool = [s for s in by_class[classes[int(index)]] if s.id != source.id]
        out.extend(_candidates(pool, int(rng.integers(2**63))))
        if len(out) >= CANDIDATES:
            break
    return tuple(out[:CANDIDATES])


def _pairing_pools(inv: Inventory) -> tuple[dict[str, list[Source]], list[str]]:
    by_class: dict[str, list[Source]] = {}
    for source in inv.sources:
        by_class.setdefault(source.wnid, []).append(source)
    present = [c.wnid for c in inv.classes if c.wnid in by_class]
    return by_class, present


def _why_not_built(config: str, inv: Inventory, present: list[str], rule: str) -> str:
    """Why `config` has no planned row, for the build summary and the manifest."""
    extra = SCENARIOS[config].extra
    if not inv.sources:
        return "no annotated source"
    if extra is None:
        return "no source could be planned"
    if extra.origin == "photo":
        return (
            "no background photos: add photos of classes outside the label set under SOURCES/backgrounds/ "
            f"(the authors used ImageNet tiger cat, {TIGER_CAT})"
        )
    if extra.origin == "generated":
        return (
            "no AI-generated images: make them with `ximagenet12 generate-backgrounds SOURCES --out "
            "SOURCES/ai_backgrounds` (extra 'generate'), or put images made elsewhere under SOURCES/ai_backgrounds/, "
            "named after the source they were made from (<source id>_<anything>.png)"
        )
    if extra.pairing == "same":
        return "every class has a single source, so no image has a partner of its own class"
    if extra.pairing == "rand" and rule == "in9":
        return "no other source to take a background from"
    return "the sources are all of one class, so there is no partner of another class"


def default_sources_per_shard(sources: int) -> int:
    """Sources per shard when none is asked for: shards of nearly equal size, see MIN_SHARDS."""
    shards = max(math.ceil(sources / SOURCES_PER_SHARD), min(MIN_SHARDS, math.ceil(sources / MIN_SOURCES_PER_SHARD)))
    return max(1, math.ceil(sources / max(1, shards)))


def make_plan(
    inv: Inventory,
    configs: tuple[str, ...],
    *,
    seed: int = DEFAULT_SEED,
    sources_per_shard: int | None = None,
    mixed_rand_rule: str = DEFAULT_MIXED_RAND_RULE,
    mask_variants: tuple[MaskVariant, ...] = (),
) -> Plan:
    """Plan every row of `configs` for the inventory's sources (sorted by id).

    `rand_bg` photos come only from the inventory's background photos, never from a class of the
    build; `mixed_*` partners are other sources of the build (ImageNet-9's rules; `mixed_rand_rule`
    picks ImageNet-9's or the other-class variant, see MIXED_RAND_RULES). Each mask variant adds,
    for every config but `original` and `ai_bg`, the config `<config>@<variant>`.
    """
    if mixed_rand_rule not in MIXED_RAND_RULES:
        raise ValueError(f"unknown mixed_rand rule {mixed_rand_rule!r}; known: {', '.join(MIXED_RAND_RULES)}")
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
    photos = [b for b in inv.backgrounds if b.wnid not in labels]
    items: list[SourcePlan] = []
    rejected: list[Rejected] = []
    planned: dict[str, int] = dict.fromkeys(configs, 0)

    for source in inv.sources:
        rows: list[Row] = []
        for config in configs:
            seed_row = row_seed(seed, source.id, config)
            pick_seed = row_seed(seed, source.id, config, "pairing")
            extra = SCENARIOS[config].extra
            if extra is None:
                row = Row(config, seed_row)
            elif extra.origin == "photo":
                row = Row(config, seed_row, backgrounds=_candidates(photos, pick_seed)) if photos else None
            elif extra.origin == "generated":
                rows.extend(Row(config, seed_row, backgrounds=(g,)) for g in generated.get(source.id, []))
                planned[config] += len(generated.get(source.id, []))
                continue
            else:
                pairing, params = extra.pairing, ()
                if pairing == "same":
                    classes = [source.wnid]
                elif pairing == "rand":
                    own = mixed_rand_rule == "in9"
                    classes = [w for w in present if own or w != source.wnid]
                    params = (("pairing", mixed_rand_rule),)
                else:
                    nxt = present[(present.index(source.wnid) + 1) % len(present)]
                    classes = [nxt] if nxt != source.wnid else []
                partners = _partner_candidates(classes, by_class, source, pick_seed)
                row = Row(config, seed_row, partners=partners, params=params) if partners else None
                if row is None:
                    rejected.append(Rejected(source.image, f"{config}: no partner source ({pairing})", "plan"))
            if row is not None:
                rows.append(row)
                planned[config] += 1
        rows += _variant_rows(rows, mask_variants)
        items.append(SourcePlan(source, labels[source.wnid], split_of(source.id), fold_of(source.id), tuple(rows)))
    not_built = {c: _why_not_built(c, inv, present, mixed_rand_rule) for c, n in planned.items() if n == 0}
    variants = _variant_configs(configs, mask_variants)
    not_built |= {v: not_built[scenario_of(v)] for v in variants if scenario_of(v) in not_built}
    rejected = [r for r in rejected if r.reason.split(":")[0] not in not_built]
    specs = tuple(v.spec for v in mask_variants)
    per_shard = sources_per_shard or default_sources_per_shard(len(items))
    return Plan(tuple(configs) + variants, seed, per_shard, items, rejected, not_built, mixed_rand_rule, specs)


def _variant_configs(configs: tuple[str, ...], variants: tuple[MaskVariant, ...]) -> tuple[str, ...]:
    """The `<config>@<variant>` configs the mask variants add, variant by variant."""
    return tuple(v.config_name(c) for v in variants for c in configs if c not in NO_MASK_VARIANTS)


def _variant_rows(rows: list[Row], variants: tuple[MaskVariant, ...]) -> list[Row]:
    """Each row again with every mask variant: same seed, candidates and params, the variant recorded."""
    return [
        dataclasses.replace(row, config=v.config_name(row.config), params=(*row.params, ("mask_variant", v.spec)))
        for v in variants
        for row in rows
        if row.config not in NO_MASK_VARIANTS
    ]
