"""Shared fixtures: small synthetic source trees, one build of them and the Ray test cluster, made once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ximagenet12.classes import WNIDS
from ximagenet12.synthetic import make_source_tree

if TYPE_CHECKING:
    from tests.ray_cluster import Cluster

SYNTHETIC_WNIDS = WNIDS[:4]


@pytest.fixture(scope="session")
def synthetic_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 synthetic sources (4 classes x 3) in the authors' layout, with two background photos."""
    root = tmp_path_factory.mktemp("sources")
    make_source_tree(root, n_per_class=3, wnids=SYNTHETIC_WNIDS, layout="authors")
    from ximagenet12.imageio import encode_jpeg
    from ximagenet12.synthetic import make_scene

    (root / "backgrounds").mkdir()
    for i in range(2):
        image, _ = make_scene(1000 + i, 80, 120)
        (root / "backgrounds" / f"photo_{i}.jpg").write_bytes(encode_jpeg(image))
    return root


@pytest.fixture(scope="session")
def synthetic_build(synthetic_sources: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One complete build of `synthetic_sources` (every config, one worker)."""
    from ximagenet12_builder.pipeline import BuildOptions, run_build

    out = tmp_path_factory.mktemp("build") / "out"
    report = run_build(BuildOptions(sources=synthetic_sources, out=out, progress=False))
    assert report.complete and report.num_rows > 0
    return out


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Cluster]:
    """One two-node Ray cluster for every Ray test of the session (tests/ray_cluster.py), stopped at the end."""
    from tests.ray_cluster import two_node_cluster

    with two_node_cluster() as cluster:
        yield cluster
