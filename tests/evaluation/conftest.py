"""Fixtures: tiny builds made in the test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from .tiny_build import make_synthetic_build

PAPER_AND_MIXED = (
    "original", "blur_bg", "blur_obj", "color_r", "color_g", "color_b", "color_grey", "seg_img",
    "rand_bg", "transparent", "mixed_same", "mixed_rand",
)


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic scenes with the paper's eight scenarios, transparent and two mixed configs (read-only)."""
    return make_synthetic_build(tmp_path_factory.mktemp("tiny") / "build", PAPER_AND_MIXED)


@pytest.fixture(scope="session")
def e2e_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build the real model is scored on: `ximagenet12 build` of the shipped sample."""
    from ximagenet12_builder.pipeline import BuildOptions, run_build

    from ximagenet12.sample_data import sample_root

    out = tmp_path_factory.mktemp("sample") / "build"
    assert run_build(BuildOptions(sources=sample_root(), out=out, progress=False)).complete
    return out
