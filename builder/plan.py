"""The build plan: split, fold, per-row seeds and background pairings, fixed before any pixel is read.

Everything here is a pure function of the inventory, the configs and the release seed, so any
worker count, order, resumption or machine split gives the same rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
from dataclasses import dataclass, field

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
# Pairings are drawn within blocks: runs of at most BLOCK_SOURCES consecutive sources of one shard, in an
# order that spreads every class evenly. A shard job then decodes each partner once (its cache holds a
# block), and every drawn partner is still a uniform draw from its class, since the order is a seeded shuffle.
BLOCK_SOURCES = 40
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
    block_sources: int = BLOCK_SOURCES
    # shard index -> the background photos that shard decodes to check, whether or not a row uses them: each
    # photo is checked by the shard of the first block that may draw it, so a bad one is reported once.
    photo_checks: dict[int, tuple[Background, ...]] = field(default_factory=dict)

    @property
    def num_shards(self) -> int:
        return shards_for(len(self.items), self.sources_per_shard)

    def shard(self, index: int) -> list[SourcePlan]:
        start = index * self.sources_per_shard
        return self.items[start : start + self.sources_per_shard]

    def planned_configs(self) -> tuple[str, ...]:
        """The configs with at least one planned row, in the order asked for."""
        return tuple(c for c in self.configs if c not in self.not_built)


def _candidates(pool: list, rng: random.Random) -> tuple:
    """Up to CANDIDATES items of `pool` in a seeded order: the first is a uniform draw."""
    return tuple(rng.sample(pool, min(len(pool), CANDIDATES)))


def _draw_outside(pool: list[Source], taken: set[str], count: int, rng: random.Random) -> list[Source]:
    """Up to `count` members of `pool` whose ids are not in `taken`, in a seeded order."""
    picks = rng.sample(range(len(pool)), min(len(pool), count + len(taken)))
    return [pool[i] for i in picks if pool[i].id not in taken][:count]


def _partner_candidates(
    classes: list[str], near: dict[str, list[Source]], by_class: dict[str, list[Source]], source: Source, seed: int
) -> tuple:
    """Partners from `classes` in a seeded class order: each class's sources of the block first, then the rest."""
    rng = random.Random(seed)
    out: list[Source] = []
    for wnid in rng.sample(classes, len(classes)):
        pool = [s for s in near.get(wnid, ()) if s.id != source.id]
        out.extend(_candidates(pool, rng))
        if len(out) < CANDIDATES:
            taken = {s.id for s in pool} | {source.id}
            out.extend(_draw_outside(by_class[wnid], taken, CANDIDATES - len(out), rng))
        if len(out) >= CANDIDATES:
            break
    return tuple(out[:CANDIDATES])


def interleaved(sources: list[Source], seed: int) -> list[Source]:
    """The sources in a seeded order that spreads every class evenly: a run of n holds each class in proportion.

    Each class is shuffled and its i-th source placed at ((i + u) / class size) for a drawn offset u;
    every run of consecutive sources then holds each class's share of it, to within one source.
    """
    rng = random.Random(row_seed(seed, "", "plan", "order"))
    by_class: dict[str, list[Source]] = {}
    for source in sorted(sources, key=lambda s: s.id):
        by_class.setdefault(source.wnid, []).append(source)
    keyed: list[tuple[float, str, Source]] = []
    for wnid in sorted(by_class):
        members = by_class[wnid]
        order, offset = rng.sample(range(len(members)), len(members)), rng.random()
        keyed.extend(((i + offset) / len(members), members[k].id, members[k]) for i, k in enumerate(order))
    return [source for _, _, source in sorted(keyed, key=lambda t: t[:2])]


def blocks(count: int, per_shard: int, block_sources: int = BLOCK_SOURCES) -> list[range]:
    """The pairing blocks of `count` planned sources: each shard cut into nearly equal runs of <= block_sources."""
    out: list[range] = []
    for start in range(0, count, per_shard):
        size = min(per_shard, count - start)
        parts = math.ceil(size / block_sources)
        out.extend(range(start + size * j // parts, start + size * (j + 1) // parts) for j in range(parts))
    return out


def _photo_window(shuffled: list[Background], block: int, num_blocks: int) -> list[Background]:
    """The photos block `block` draws from: a window of the seeded shuffle of all photos (with many photos, each
    serves one block).

    Windows hold at least CANDIDATES photos (all, if fewer) and together cover every photo; a row's drawn
    photo is a uniform draw from all of them, since the shuffle is.
    """
    width = min(len(shuffled), max(CANDIDATES, math.ceil(len(shuffled) / num_blocks)))
    start = block * len(shuffled) // num_blocks
    return [shuffled[(start + j) % len(shuffled)] for j in range(width)]


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


def shards_for(sources: int, sources_per_shard: int | None = None) -> int:
    """How many shards a plan of `sources` sources has (at most: sources the plan leaves out shorten it)."""
    return max(1, math.ceil(sources / (sources_per_shard or default_sources_per_shard(sources))))


@dataclass(frozen=True)
class _Pools:
    """What rows are drawn from: the build's sources by class, the classes present, the generated images."""

    by_class: dict[str, list[Source]]
    present: list[str]
    generated: dict[str, list[Background]]
    mixed_rand_rule: str


def _partner_classes(pairing: str, source: Source, pools: _Pools) -> list[str]:
    """The classes a `mixed_<pairing>` partner of `source` may come from."""
    if pairing == "same":
        return [source.wnid]
    if pairing == "rand":
        own = pools.mixed_rand_rule == "in9"
        return [w for w in pools.present if own or w != source.wnid]
    nxt = pools.present[(pools.present.index(source.wnid) + 1) % len(pools.present)]
    return [nxt] if nxt != source.wnid else []


def _source_rows(
    source: Source, configs: tuple[str, ...], seed: int, pools: _Pools, near: dict[str, list[Source]],
    window: list[Background], rejected: list[Rejected],
) -> list[Row]:
    """Every row of `configs` for one source; a paired config with nothing to pair with is left out (or rejected)."""
    rows: list[Row] = []
    for config in configs:
        seed_row = row_seed(seed, source.id, config)
        pick_seed = row_seed(seed, source.id, config, "pairing")
        extra = SCENARIOS[config].extra
        if extra is None:
            rows.append(Row(config, seed_row))
        elif extra.origin == "photo":
            if window:
                rows.append(Row(config, seed_row, backgrounds=_candidates(window, random.Random(pick_seed))))
        elif extra.origin == "generated":
            rows.extend(Row(config, seed_row, backgrounds=(g,)) for g in pools.generated.get(source.id, []))
        else:
            classes = _partner_classes(extra.pairing, source, pools)
            partners = _partner_candidates(classes, near, pools.by_class, source, pick_seed)
            params = (("pairing", pools.mixed_rand_rule),) if extra.pairing == "rand" else ()
            if partners:
                rows.append(Row(config, seed_row, partners=partners, params=params))
            else:
                rejected.append(Rejected(source.image, f"{config}: no partner source ({extra.pairing})", "plan"))
    return rows


def make_plan(
    inv: Inventory,
    configs: tuple[str, ...],
    *,
    seed: int = DEFAULT_SEED,
    sources_per_shard: int | None = None,
    mixed_rand_rule: str = DEFAULT_MIXED_RAND_RULE,
    mask_variants: tuple[MaskVariant, ...] = (),
) -> Plan:
    """Plan every row of `configs` for the inventory's sources, in the seeded order of `interleaved`.

    `rand_bg` photos come only from the inventory's background photos, never from a class of the
    build; `mixed_*` partners are other sources of the build (ImageNet-9's rules; `mixed_rand_rule`
    picks ImageNet-9's or the other-class variant, see MIXED_RAND_RULES). Both are drawn within the
    source's pairing block (see BLOCK_SOURCES), partners falling back to the rest of their class. Each
    mask variant adds, for every config but `original` and `ai_bg`, the config `<config>@<variant>`.
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
    pools = _Pools(by_class, present, generated, mixed_rand_rule)
    photos = [b for b in inv.backgrounds if b.wnid not in labels]
    photos = random.Random(row_seed(seed, "", "plan", "photos")).sample(photos, len(photos))
    order = interleaved(inv.sources, seed)
    per_shard = sources_per_shard or default_sources_per_shard(len(order))
    cuts = blocks(len(order), per_shard)
    items: list[SourcePlan] = []
    rejected: list[Rejected] = []
    checker: dict[str, tuple[int, Background]] = {}
    for k, block in enumerate(cuts):
        near: dict[str, list[Source]] = {}
        for source in (order[i] for i in block):
            near.setdefault(source.wnid, []).append(source)
        window = _photo_window(photos, k, len(cuts))
        for photo in window:
            checker.setdefault(photo.id, (block.start // per_shard, photo))
        for source in (order[i] for i in block):
            rows = _source_rows(source, configs, seed, pools, near, window, rejected)
            rows += _variant_rows(rows, mask_variants)
            items.append(SourcePlan(source, labels[source.wnid], split_of(source.id), fold_of(source.id), tuple(rows)))
    planned = {row.config for item in items for row in item.rows}
    not_built = {c: _why_not_built(c, inv, present, mixed_rand_rule) for c in configs if c not in planned}
    variants = _variant_configs(configs, mask_variants)
    not_built |= {v: not_built[scenario_of(v)] for v in variants if scenario_of(v) in not_built}
    rejected = [r for r in rejected if r.reason.split(":")[0] not in not_built]
    specs = tuple(v.spec for v in mask_variants)
    photo_checks: dict[int, tuple[Background, ...]] = {}
    if any(SCENARIOS[c].extra and SCENARIOS[c].extra.origin == "photo" for c in configs if c not in not_built):
        for shard, photo in sorted(checker.values(), key=lambda t: (t[0], t[1].id)):
            photo_checks[shard] = (*photo_checks.get(shard, ()), photo)
    return Plan(
        tuple(configs) + variants, seed, per_shard, items, rejected, not_built, mixed_rand_rule, specs,
        photo_checks=photo_checks,
    )


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
