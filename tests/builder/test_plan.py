"""The plan: stable split and fold, per-row seeds, deterministic pairings."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from ximagenet12_builder.plan import make_plan, row_seed
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


def _inventory(n_per_class: int, classes: int = 4) -> Inventory:
    sources = [
        Source(f"{c.wnid}_{k}", c.wnid, f"/x/{c.wnid}_{k}.JPEG", "png", f"/m/{c.wnid}_{k}.png")
        for c in CLASSES[:classes]
        for k in range(n_per_class)
    ]
    photos = [Background(f"bg{i}", f"/b/{i}.jpg", CLASSES[i % classes].wnid) for i in range(6)]
    return Inventory("/x", CLASSES, sources, photos, [], [])


def test_plan_is_independent_of_input_order() -> None:
    inv = _inventory(5)
    shuffled = Inventory(inv.root, inv.classes, inv.sources[::-1], inv.backgrounds, [], [])
    configs = ("rand_bg", "mixed_same", "mixed_rand", "mixed_next", "color_r")
    assert make_plan(inv, configs).items == make_plan(shuffled, configs).items


def test_pairings_follow_their_rules_and_are_recorded() -> None:
    plan = make_plan(_inventory(5), ("rand_bg", "mixed_same", "mixed_rand", "mixed_next"))
    wnids = [c.wnid for c in CLASSES[:4]]
    for item in plan.items:
        rows = {r.config: r for r in item.rows}
        assert rows["rand_bg"].background.wnid != item.source.wnid
        assert rows["mixed_same"].partner.wnid == item.source.wnid
        assert rows["mixed_same"].partner.id != item.source.id
        assert rows["mixed_rand"].partner.wnid != item.source.wnid
        assert rows["mixed_next"].partner.wnid == wnids[(wnids.index(item.source.wnid) + 1) % 4]
        assert all(r.background_id for r in item.rows)


def test_a_class_with_one_source_has_no_mixed_same_row() -> None:
    plan = make_plan(_inventory(1), ("mixed_same", "blur_bg"))
    assert all([r.config for r in item.rows] == ["blur_bg"] for item in plan.items)
    assert len(plan.rejected) == 4 and all("no partner" in r.reason for r in plan.rejected)


def test_shards_cut_the_sorted_sources_into_fixed_slices() -> None:
    plan = make_plan(_inventory(5), ("blur_bg",), sources_per_shard=6)
    assert plan.num_shards == 4
    assert [len(plan.shard(i)) for i in range(4)] == [6, 6, 6, 2]
    flat = [item.source.id for i in range(4) for item in plan.shard(i)]
    assert flat == sorted(flat)
