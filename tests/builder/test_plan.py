"""The plan: stable split and fold, per-row seeds, deterministic pairings."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ximagenet12_builder.plan import BLOCK_SOURCES, CANDIDATES, blocks, interleaved, make_plan, row_seed, shards_for
from ximagenet12_builder.sources import Background, Inventory, Source

from ximagenet12.classes import CLASSES
from ximagenet12.features import fold_of, split_of

ids = st.from_regex(r"n\d{8}_\d{1,6}", fullmatch=True)


@given(ids)
def test_split_and_fold_are_functions_of_the_id(source_id: str) -> None:
    assert split_of(source_id) == split_of(str(source_id))
    assert split_of(source_id) in ("train", "test")
    assert 0 <= fold_of(source_id) < 12


def test_split_is_about_80_20_and_folds_balanced() -> None:
    many = [f"n01689811_{i}" for i in range(5000)]
    test_share = sum(split_of(i) == "test" for i in many) / len(many)
    assert 0.17 < test_share < 0.23
    counts = [sum(fold_of(i) == f for i in many) for f in range(12)]
    assert min(counts) > 5000 / 12 * 0.8


@given(ids, st.sampled_from(["blur_bg", "rand_bg"]), st.integers(0, 2**31))
def test_row_seeds_differ_by_scenario_and_release_seed(source_id: str, scenario: str, seed: int) -> None:
    assert row_seed(seed, source_id, scenario) == row_seed(seed, source_id, scenario)
    assert row_seed(seed, source_id, scenario) != row_seed(seed, source_id, "color_r")
    assert row_seed(seed, source_id, scenario) != row_seed(seed + 1, source_id, scenario)
    assert 0 <= row_seed(seed, source_id, scenario) < 2**63


def _inventory(n_per_class: int, classes: int = 4, photos: int = 6) -> Inventory:
    sources = [
        Source(f"{c.wnid}_{k}", c.wnid, f"/x/{c.wnid}_{k}.JPEG", "png", f"/m/{c.wnid}_{k}.png")
        for c in CLASSES[:classes]
        for k in range(n_per_class)
    ]
    outside = [Background(f"tiger{i}", f"/b/n02123159/{i}.jpg", "n02123159") for i in range(photos)]
    return Inventory("/x", CLASSES, sources, outside, [], [])


def test_plan_is_independent_of_input_order() -> None:
    inv = _inventory(5)
    shuffled = Inventory(inv.root, inv.classes, inv.sources[::-1], inv.backgrounds[::-1], [], [])
    configs = ("rand_bg", "mixed_same", "mixed_rand", "mixed_next", "color_r")
    assert make_plan(inv, configs).items == make_plan(shuffled, configs).items


def test_pairings_follow_their_rules_and_are_recorded() -> None:
    plan = make_plan(_inventory(5), ("rand_bg", "mixed_same", "mixed_rand", "mixed_next"))
    wnids = [c.wnid for c in CLASSES[:4]]
    for item in plan.items:
        rows = {r.config: r for r in item.rows}
        assert rows["rand_bg"].background.wnid == "n02123159"
        assert rows["mixed_same"].partner.wnid == item.source.wnid
        assert all(p.wnid == item.source.wnid for p in rows["mixed_same"].partners)
        assert rows["mixed_next"].partner.wnid == wnids[(wnids.index(item.source.wnid) + 1) % 4]
        assert dict(rows["mixed_rand"].params) == {"pairing": "in9"}
        for row in item.rows:
            assert row.background_id
            ids = [c.id for c in (*row.backgrounds, *row.partners)]
            assert len(ids) == len(set(ids)) <= CANDIDATES and item.source.id not in ids


def test_rand_bg_never_uses_a_photo_of_a_build_class() -> None:
    inv = _inventory(5)
    inside = [Background(f"in{i}", f"/b/{c.wnid}/{i}.jpg", c.wnid) for i, c in enumerate(CLASSES)]
    inv = Inventory(inv.root, inv.classes, inv.sources, inside + inv.backgrounds[:1], [], [])
    plan = make_plan(inv, ("rand_bg",))
    used = {b.id for item in plan.items for row in item.rows for b in row.backgrounds}
    assert used == {"tiger0"}


def test_without_background_photos_rand_bg_is_not_planned_and_says_what_to_add() -> None:
    plan = make_plan(_inventory(3, photos=0), ("rand_bg", "blur_bg"))
    assert all([r.config for r in item.rows] == ["blur_bg"] for item in plan.items)
    assert plan.rejected == []
    assert set(plan.not_built) == {"rand_bg"}
    assert "backgrounds/" in plan.not_built["rand_bg"] and "n02123159" in plan.not_built["rand_bg"]
    assert plan.planned_configs() == ("blur_bg",)


def test_mixed_rand_follows_imagenet9_by_default_and_other_class_on_request() -> None:
    """ImageNet-9: a random class, own included (1 in 4 here); the option never pairs the own class."""
    inv = _inventory(150)
    default = make_plan(inv, ("mixed_rand",))
    own = [item.rows[0].partner.wnid == item.source.wnid for item in default.items]
    # 600 draws of a 1-in-4 event: mean 150, sd ~10.6; a rule excluding the own class would give 0.
    assert 110 < sum(own) < 190
    classes = Counter(item.rows[0].partner.wnid for item in default.items)
    assert set(classes) == {c.wnid for c in CLASSES[:4]} and min(classes.values()) > 110
    other = make_plan(inv, ("mixed_rand",), mixed_rand_rule="other-class")
    assert all(item.rows[0].partner.wnid != item.source.wnid for item in other.items)
    assert all(dict(item.rows[0].params) == {"pairing": "other-class"} for item in other.items)
    with pytest.raises(ValueError, match="unknown mixed_rand rule"):
        make_plan(inv, ("mixed_rand",), mixed_rand_rule="nope")


def test_the_drawn_partner_comes_first_and_fallbacks_are_stable() -> None:
    inv = _inventory(20)
    a = make_plan(inv, ("mixed_same", "rand_bg"), seed=5)
    b = make_plan(inv, ("mixed_same", "rand_bg"), seed=5)
    c = make_plan(inv, ("mixed_same", "rand_bg"), seed=6)
    assert a.items == b.items and a.items != c.items
    firsts = Counter(item.rows[0].partner.id for item in a.items if item.source.wnid == CLASSES[0].wnid)
    assert len(firsts) > 5, "the first candidate is a draw, not always the same source"


def test_a_class_with_one_source_has_no_mixed_same_row() -> None:
    plan = make_plan(_inventory(1), ("mixed_same", "blur_bg"))
    assert all([r.config for r in item.rows] == ["blur_bg"] for item in plan.items)
    assert plan.rejected == [], "a config that no source can have is explained once, not per source"
    assert "single source" in plan.not_built["mixed_same"]


def test_one_single_source_class_among_others_is_reported_per_source() -> None:
    inv = _inventory(3)
    lone = Source(f"{CLASSES[5].wnid}_1", CLASSES[5].wnid, "/x/lone.JPEG", "png", "/m/lone.png")
    plan = make_plan(Inventory(inv.root, inv.classes, [*inv.sources, lone], inv.backgrounds, [], []), ("mixed_same",))
    assert [(r.file, r.stage) for r in plan.rejected] == [("/x/lone.JPEG", "plan")]
    assert "no partner" in plan.rejected[0].reason and plan.not_built == {}


def test_shards_cut_the_interleaved_sources_into_fixed_slices() -> None:
    inv = _inventory(5)
    plan = make_plan(inv, ("blur_bg",), sources_per_shard=6)
    assert plan.num_shards == 4
    assert [len(plan.shard(i)) for i in range(4)] == [6, 6, 6, 2]
    flat = [item.source for i in range(4) for item in plan.shard(i)]
    assert flat == interleaved(inv.sources, plan.seed)
    assert sorted(s.id for s in flat) == sorted(s.id for s in inv.sources)


@pytest.mark.parametrize("per_shard", [None, 1, 6, 7, 100])
@pytest.mark.parametrize("per_class", [1, 5, 30])
def test_the_shard_count_known_before_planning_is_the_plans(per_class: int, per_shard: int | None) -> None:
    inv = _inventory(per_class)
    plan = make_plan(inv, ("blur_bg",), sources_per_shard=per_shard)
    assert shards_for(len(inv.sources), per_shard) == plan.num_shards


@given(st.lists(st.integers(1, 60), min_size=1, max_size=12), st.integers(0, 2**32))
def test_interleaving_gives_every_run_each_class_share(sizes: list[int], seed: int) -> None:
    """Any run of consecutive sources holds each class's share of the run, to within one source (and the run's
    length to within the number of classes)."""
    sources = [Source(f"{CLASSES[c].wnid}_{k}", CLASSES[c].wnid, "i", "png", "m") for c, n in enumerate(sizes)
               for k in range(n)]
    order = interleaved(sources[::-1], seed)
    assert sorted(s.id for s in order) == sorted(s.id for s in sources)
    total = len(order)
    for length in {1, 7, 40, total // 3, total}:
        for start in range(0, total - length + 1, max(1, length // 2)):
            run = Counter(s.wnid for s in order[start : start + length])
            for c, n in enumerate(sizes):
                assert abs(run[CLASSES[c].wnid] - n * length / total) < 1 + len(sizes), (c, start, length)


@given(st.integers(1, 5000), st.integers(1, 2500))
def test_blocks_cut_each_shard_into_nearly_equal_runs(count: int, per_shard: int) -> None:
    cuts = blocks(count, per_shard)
    assert [i for block in cuts for i in block] == list(range(count))
    assert all(0 < len(b) <= BLOCK_SOURCES for b in cuts)
    by_shard: dict[int, list[int]] = {}
    for block in cuts:
        assert block.start // per_shard == (block.stop - 1) // per_shard, "a block never straddles two shards"
        by_shard.setdefault(block.start // per_shard, []).append(len(block))
    for shard, sizes in by_shard.items():
        assert sum(sizes) == min(per_shard, count - shard * per_shard) and max(sizes) - min(sizes) <= 1


def _block_of(plan) -> dict[str, int]:
    return {plan.items[i].source.id: k for k, block in enumerate(blocks(len(plan.items), plan.sources_per_shard))
            for i in block}


def test_partners_and_photos_are_drawn_within_the_block() -> None:
    """So that a shard job decodes every partner once: the drawn partner shares the source's block whenever
    the block has one of the partner's class, and few blocks share a photo."""
    inv = _inventory(120, classes=12, photos=400)
    plan = make_plan(inv, ("rand_bg", "mixed_same", "mixed_rand", "mixed_next"))
    block_of = _block_of(plan)
    assert max(Counter(block_of.values()).values()) <= BLOCK_SOURCES and len(set(block_of.values())) > 8
    photo_blocks: dict[str, set[int]] = {}
    for item in plan.items:
        for row in item.rows:
            if row.partner is not None:
                assert block_of[row.partner.id] == block_of[item.source.id], (item.source.id, row.config)
            else:
                photo_blocks.setdefault(row.background.id, set()).add(block_of[item.source.id])
    assert max(len(b) for b in photo_blocks.values()) <= 2


def test_a_partner_is_a_uniform_draw_from_its_class() -> None:
    """Over release seeds, one source's drawn `mixed_same` partner and `rand_bg` photo are uniform over their
    pools, not confined to the source's neighbours."""
    inv = _inventory(12, classes=3, photos=12)
    source = inv.sources[0].id
    partners: Counter = Counter()
    photos: Counter = Counter()
    for seed in range(1100):
        item = next(i for i in make_plan(inv, ("mixed_same", "rand_bg"), seed=seed).items if i.source.id == source)
        partners[item.rows[0].partner.id] += 1
        photos[item.rows[1].background.id] += 1
    # 1,100 draws over 11 partners (12 photos): 100 (92) expected each, sd about 9.5; 5 sd either side.
    assert len(partners) == 11 and source not in partners
    assert min(partners.values()) > 52 and max(partners.values()) < 148
    assert len(photos) == 12 and min(photos.values()) > 44 and max(photos.values()) < 140


def test_every_photo_is_checked_by_exactly_one_shard_when_rand_bg_is_planned() -> None:
    inv = _inventory(30, classes=12, photos=50)
    plan = make_plan(inv, ("rand_bg", "blur_bg"), sources_per_shard=60)
    checked = [(shard, p.id) for shard, photos in plan.photo_checks.items() for p in photos]
    assert sorted(p for _, p in checked) == sorted(b.id for b in inv.backgrounds)
    assert set(plan.photo_checks) <= set(range(plan.num_shards))
    drawn = {}
    for shard in range(plan.num_shards):
        for item in plan.shard(shard):
            for b in item.rows[0].backgrounds:
                drawn.setdefault(b.id, set()).add(shard)
    assert all(shard in drawn[p] for shard, p in checked if p in drawn), "a shard checks photos its rows may draw"
    assert make_plan(inv, ("blur_bg",)).photo_checks == {}
