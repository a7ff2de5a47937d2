"""The robustness score: the paper's Table 3 reproduced, the text's formula, and its properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ximagenet12.evaluation import PAPER_SCENARIOS, bg_gap, robustness_score

# Table 3, ResNet50: mu = 0.9524 and the squared deviations (in %) per scenario, in the paper's column order.
MU = 0.9524
EXTERNAL = dict(zip(PAPER_SCENARIOS, (0.18, 0.50, 1.17, 0.68, 0.10, 0.38, 53.04, 7.12), strict=True))
INTERNAL = dict(zip(PAPER_SCENARIOS, (0.10, 0.00, 0.11, 0.17, 0.20, 0.00, 6.96, 0.30), strict=True))


def accuracies_from(deviations_percent: dict[str, float], mu: float) -> dict[str, float]:
    """Accuracies that lie below mu by the square root of each squared deviation."""
    out = {s: mu - math.sqrt(d / 100) for s, d in deviations_percent.items()}
    out["original"] = mu
    return out


def test_table3_resnet50_row() -> None:
    score = robustness_score(accuracies_from(EXTERNAL, MU), internal=accuracies_from(INTERNAL, MU))
    assert score.method == "table3" and score.complete
    for scenario, percent in EXTERNAL.items():
        assert 100 * score.external.squared_deviations[scenario] == pytest.approx(percent, abs=1e-9)
    assert score.external.variance == pytest.approx(0.0902, abs=5e-5)
    assert score.internal is not None
    assert score.internal.variance == pytest.approx(0.0112, abs=5e-5)
    assert score.score == pytest.approx(0.8985, abs=2e-4)


def test_text_method_uses_standard_deviations_over_n() -> None:
    external, internal = accuracies_from(EXTERNAL, MU), accuracies_from(INTERNAL, MU)
    score = robustness_score(external, internal=internal, method="text")
    sigma_e = math.sqrt(sum(EXTERNAL.values()) / 100 / 8)
    sigma_i = math.sqrt(sum(INTERNAL.values()) / 100 / 8)
    assert score.external.term == pytest.approx(sigma_e)
    assert score.score == pytest.approx(1 - (sigma_e + sigma_i))
    assert "literally" in score.to_dict()["definition"]


def test_missing_scenarios_are_named_and_extra_configs_ignored() -> None:
    accuracies = {"original": 0.9, "blur_bg": 0.8, "seg_img": 0.7, "mixed_rand": 0.1}
    score = robustness_score(accuracies)
    assert score.scenarios == ("blur_bg", "seg_img")
    assert not score.complete and "rand_bg" in score.missing
    assert score.score == pytest.approx(1 - (0.01 + 0.04) / 1)


@pytest.mark.parametrize(
    "accuracies",
    [{"blur_bg": 0.5, "seg_img": 0.5}, {"original": 0.9, "blur_bg": 0.5}],
)
def test_needs_the_original_and_two_scenarios(accuracies: dict) -> None:
    with pytest.raises(ValueError):
        robustness_score(accuracies)


def test_unknown_method_and_incomplete_internal_are_refused() -> None:
    accuracies = accuracies_from(EXTERNAL, MU)
    with pytest.raises(ValueError):
        robustness_score(accuracies, method="std")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="internal"):
        robustness_score(accuracies, internal={"original": 0.9, "blur_bg": 0.9})


unit = st.floats(0, 1, allow_nan=False)


@given(st.fixed_dictionaries({s: unit for s in ("original", *PAPER_SCENARIOS)}), st.permutations(PAPER_SCENARIOS))
def test_score_properties(accuracies: dict[str, float], order: list[str]) -> None:
    table3 = robustness_score(accuracies)
    assert table3.score <= 1.0
    assert robustness_score(accuracies, scenarios=order).score == pytest.approx(table3.score)
    text = robustness_score(accuracies, method="text")
    assert text.external.variance == pytest.approx(table3.external.variance * 7 / 8)
    flat = dict.fromkeys(accuracies, accuracies["original"])
    assert robustness_score(flat).score == pytest.approx(1.0)


def test_bg_gap() -> None:
    assert bg_gap({"mixed_same": 0.8, "mixed_rand": 0.6}) == pytest.approx(0.2)
    assert bg_gap({"mixed_same": 0.8}) is None


def test_the_score_again_with_each_mask_variant_by_hand() -> None:
    """4 sources; original all right; each paper scenario 2 of 4 right; its @dilate3 config 3 of 4; @erode2
    only for seg_img. Table 3: external variance = sum (C - mu)^2 / (n - 1)."""
    import pyarrow as pa

    from ximagenet12.evaluation.analysis import analyse
    from ximagenet12.evaluation.reports import robustness_markdown

    rows = []
    for source in range(4):
        rows.append(("original", source, True))
        for s in PAPER_SCENARIOS:
            rows.append((s, source, source < 2))
            rows.append((f"{s}@dilate3", source, source < 3))
        rows.append(("seg_img@erode2", source, False))
    table = pa.table({
        "source_id": [f"n0_{s}" for _, s, _ in rows], "config": [c for c, _, _ in rows],
        "label": [0] * len(rows), "prediction": [0 if ok else 1 for *_, ok in rows], "correct": [ok for *_, ok in rows],
    })
    analysis = analyse(table, ["a", "b"], resamples=50)
    plain_term = 8 * (0.5 - 1.0) ** 2 / 7
    dilated_term = 8 * (0.75 - 1.0) ** 2 / 7
    assert math.isclose(analysis.robustness.score, 1 - plain_term)
    dilated = analysis.by_mask_variant["dilate3"]
    assert math.isclose(dilated["score"], 1 - dilated_term)
    assert math.isclose(dilated["change"], plain_term - dilated_term)
    assert dilated["missing"] == [] and dilated["scenarios"] == [f"{s}@dilate3" for s in PAPER_SCENARIOS]
    assert dilated["ci95"][0] <= dilated["score"] <= dilated["ci95"][1]
    eroded = analysis.by_mask_variant["erode2"]
    assert eroded["score"] is None and "at least 2" in eroded["note"]
    text = robustness_markdown(analysis)
    assert f"| `@dilate3` | {1 - dilated_term:.4f} |" in text and f"{plain_term - dilated_term:+.4f}" in text
