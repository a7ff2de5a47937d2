"""Shared fixtures: small synthetic source trees, one build of them and the Ray test cluster, made once per session."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# `datasets` keys its cache of a local folder by the card's YAML alone, not by the files' contents or
# times: a test folder rebuilt with other rows of the same sizes would load the rows of an earlier run,
# of any session on this machine. So each session gets its own cache, set before `datasets` is imported.
_DATASETS_CACHE = tempfile.mkdtemp(prefix="ximagenet12-tests-datasets-")
os.environ["HF_DATASETS_CACHE"] = _DATASETS_CACHE
atexit.register(shutil.rmtree, _DATASETS_CACHE, True)

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

import pytest  # noqa: E402

from ximagenet12.classes import WNIDS  # noqa: E402
from ximagenet12.synthetic import make_source_tree  # noqa: E402

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


@pytest.fixture
def cluster(ray_cluster: Cluster) -> Cluster:
    """The session's two-node cluster, with both nodes up (a test may have killed the worker node)."""
    ray_cluster.ensure_worker()
    return ray_cluster
