"""`ximagenet12 build --engine ray` on a real two-node Ray cluster, started once, the way a user starts one.

The cluster (`tests/ray_cluster.py`) is the session's, shared with the evaluate tests. Builds go through
the CLI in a child process, as a user runs them; each is compared byte for byte with a local build of the
same inputs.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from ximagenet12_builder.pipeline import BuildOptions, run_build

from tests.builder.test_pipeline import tree_digest
from tests.ray_cluster import Cluster, node_processes
from ximagenet12.classes import WNIDS
from ximagenet12.synthetic import make_source_tree

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]  # one worker starts the one cluster

TASK_TITLE = "ray::build_shard_task"


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 synthetic sources of 4 classes with two background photos, big enough that a shard task takes a while."""
    root = tmp_path_factory.mktemp("ray-sources")
    make_source_tree(root, n_per_class=3, wnids=WNIDS[:4], size=(720, 960), seed=5)
    from ximagenet12.imageio import encode_jpeg
    from ximagenet12.synthetic import make_scene

    (root / "backgrounds").mkdir()
    for i in range(2):
        (root / "backgrounds" / f"photo_{i}.jpg").write_bytes(encode_jpeg(make_scene(2000 + i, 90, 120)[0]))
    return root


@pytest.fixture(scope="module")
def local_build(sources: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: the same sources built by the local engine, one source a shard."""
    out = tmp_path_factory.mktemp("ray-local") / "out"
    report = run_build(BuildOptions(sources, out, sources_per_shard=1, progress=False))
    assert report.complete and len(report.built) == 12
    return out


class Build:
    """`ximagenet12 build --engine ray` on the cluster, in a child process as a user runs it."""

    def __init__(self, cluster: Cluster, sources: Path, out: Path, *extra: str, address: str | None = None):
        address = address or cluster.address
        argv = ["build", str(sources), "--out", str(out), "--engine", "ray", "--address", address]
        self.logs = out.parent / f"{out.name}.stdout", out.parent / f"{out.name}.stderr"
        with open(self.logs[0], "w") as stdout, open(self.logs[1], "w") as stderr:  # files: no pipe to fill
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ximagenet12_builder.cli", *argv, "--sources-per-shard", "1", *extra],
                stdout=stdout,
                stderr=stderr,
                env=cluster.env,
            )

    def running(self) -> bool:
        return self.proc.poll() is None

    def finish(self) -> tuple[int, str, str]:
        """Exit code, stdout and stderr, once the build has ended."""
        code = self.proc.wait(timeout=300)
        return code, self.logs[0].read_text(), self.logs[1].read_text()


def _nodes_running_a_shard(cluster: Cluster) -> set[str]:
    return {
        name
        for name, group in cluster.groups.items()
        if any(cmd.startswith(TASK_TITLE) for cmd in node_processes(group).values())
    }


def test_a_build_on_two_nodes_through_ray_client_equals_the_local_build(
    cluster: Cluster, sources: Path, local_build: Path, tmp_path: Path
) -> None:
    build = Build(cluster, sources, tmp_path / "out", address=cluster.client_address)
    seen: set[str] = set()
    while build.running():
        seen |= _nodes_running_a_shard(cluster)
        time.sleep(0.05)
    code, stdout, stderr = build.finish()
    assert code == 0, stderr[-3000:]
    assert seen == {"head", "worker"}, "the shard tasks did not run on both nodes"
    assert "shards built 12, already done 0" in stdout
    total = int(stdout.split(" rows in ")[0].split()[-1])
    assert f"{total}/{total}" in stderr, "the progress bar did not reach every planned row"
    assert tree_digest(tmp_path / "out") == tree_digest(local_build)


def test_a_deterministic_failure_is_reported_once_with_its_shard(
    cluster: Cluster, sources: Path, local_build: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    blocked = out / "data" / "original" / "train-00004-of-00012.parquet"
    assert (local_build / blocked.relative_to(out)).is_file(), "pick a shard the reference build has"
    (out / ".build").mkdir(parents=True)  # an earlier build of ours, cut off before it wrote anything
    blocked.mkdir(parents=True)  # the shard's file cannot be renamed into place on any node, however often tried
    code, stdout, stderr = Build(cluster, sources, out, "--no-progress").finish()
    assert code == 1
    assert (stdout + stderr).count("IsADirectoryError") == 1, "the failure was reported more than once"
    errors = [line for line in stderr.splitlines() if line.strip()]
    assert len(errors) == 1, stderr
    assert errors[0].startswith("ximagenet12 build: error: 1 of 12 shards failed (shard 4: IsADirectoryError")
    assert len(list((out / ".build" / "shards").glob("*.json"))) == 11
    assert not (out / "build_manifest.json").exists()
    written, reference = tree_digest(out), tree_digest(local_build)
    others = {path for path in reference if path.startswith("data/") and "-00004-of-" not in path}
    assert others <= set(written), "a shard other than the failed one is missing"
    assert all(reference[path] == sha for path, sha in written.items())


def test_killing_the_worker_node_mid_build_ends_in_the_same_bytes(
    cluster: Cluster, sources: Path, local_build: Path, tmp_path: Path
) -> None:
    # Ray may, on a busy machine, run every task on the head node before the worker's first one starts:
    # then there is nothing to kill, and the build is tried again in a fresh folder (three tries at most).
    for attempt in range(3):
        out = tmp_path / f"out{attempt}"
        build = Build(cluster, sources, out, "--no-progress")
        deadline = time.monotonic() + 180
        while "worker" not in _nodes_running_a_shard(cluster) and build.running() and time.monotonic() < deadline:
            time.sleep(0.02)
        if build.running():
            break
        build.finish()
    else:
        pytest.fail("in three builds no shard task ran on the worker node")
    recorded_before = len(list((out / ".build" / "shards").glob("*.json")))
    cluster.kill("worker")
    code, stdout, stderr = build.finish()
    assert code == 0, f"Ray did not rerun the lost task elsewhere: {stderr[-3000:]}"
    assert recorded_before < 12 and "shards built 12, already done 0" in stdout
    assert tree_digest(out) == tree_digest(local_build)
    assert not list(out.rglob("*.partial")), "a killed attempt's partial file was left behind"
