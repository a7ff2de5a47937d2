"""`ximagenet12 evaluate --engine ray` on the session's real two-node Ray cluster, against a local run.

Each Ray run goes through the CLI in a child process, as a user runs it, on a build whose configs are cut
into several units (row ranges that start inside a row group and span two shards).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from ximagenet12_builder.cli import main

from tests.ray_cluster import Cluster, node_processes
from ximagenet12.errors import EXIT_FAULTS, EXIT_USAGE
from ximagenet12.evaluation.ray_engine import UNIT_BATCHES

from .tiny_build import make_synthetic_build
from .toy_models import onnx_colour_model

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]  # one worker starts the one cluster

CONFIGS = ("original", "seg_img", "rand_bg", "blur_bg")
BATCH = 2
FLAGS = ["--batch-size", str(BATCH), "--resize", "240", "--crop", "200", "--bootstrap", "100", "--no-progress"]


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 test rows a config in two shards of row groups of 3: each config is two units, cut inside a row group."""
    root = make_synthetic_build(tmp_path_factory.mktemp("ray-eval") / "build", CONFIGS, per_class=20, shards=2)
    rows = pq.ParquetFile(next((root / "data" / "original").glob("test-*"))).metadata
    assert BATCH * UNIT_BATCHES < 30 and (BATCH * UNIT_BATCHES) % rows.row_group(0).num_rows
    return root


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return onnx_colour_model(tmp_path_factory.mktemp("ray-model") / "colour.onnx", size=200)


@pytest.fixture(scope="module")
def local_run(build: Path, model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: the same evaluation on the local engine."""
    out = tmp_path_factory.mktemp("ray-eval-local") / "results"
    assert main(["evaluate", "--model", f"onnx:{model}", "--data", str(build), "--out", str(out), *FLAGS]) == 0
    return out


def evaluate_on_ray(cluster: Cluster, *argv: str) -> tuple[int, str, str]:
    """`ximagenet12 evaluate ARGV --engine ray --address HEAD` in a child process: exit code, stdout, stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "ximagenet12_builder.cli", "evaluate", *argv, "--engine", "ray",
         "--address", cluster.address],
        capture_output=True, text=True, env=cluster.env, timeout=300,
    )  # fmt: skip
    return proc.returncode, proc.stdout, proc.stderr


def data_bytes(path: Path) -> bytes:
    """The Parquet file's rows written again without its metadata (which holds the run's timings)."""
    sink = io.BytesIO()
    pq.write_table(pq.read_table(path).replace_schema_metadata(None), sink)
    return sink.getvalue()


def test_a_ray_run_on_two_nodes_equals_the_local_run(cluster: Cluster, build: Path, model: Path, local_run: Path,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "results"
    code, stdout, stderr = evaluate_on_ray(cluster, "--model", f"onnx:{model}", "--data", str(build),
                                           "--out", str(out), *FLAGS)
    assert code == 0, stderr[-3000:]
    assert "Robustness score" in stdout
    files = sorted(p.relative_to(local_run).as_posix() for p in local_run.rglob("*.parquet"))
    assert files == sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet"))
    assert len(files) == 1 + len(CONFIGS)
    for name in files:
        assert data_bytes(out / name) == data_bytes(local_run / name), name
        assert pq.read_table(out / name).equals(pq.read_table(local_run / name)), name
    ray_summary = json.loads((out / "summary.json").read_text())
    local_summary = json.loads((local_run / "summary.json").read_text())
    assert ray_summary["results"] == local_summary["results"]
    for part in ("model", "dataset", "preprocessing", "mapping", "libraries"):
        assert ray_summary[part] == local_summary[part], part
    engine = ray_summary["runtime"]["engine"]
    assert engine["name"] == "ray" and engine["units"] == 2 * len(CONFIGS) and engine["actors"] == 2
    assert len(engine["units_per_node"]) == 2, "the units did not run on both nodes"
    assert sum(engine["units_per_node"].values()) == engine["units"]

    # The cache keys are the engine's business no more than the bytes are: a local rerun resumes every config.
    assert main(["evaluate", "--model", f"onnx:{model}", "--data", str(build), "--out", str(out), *FLAGS]) == 0
    resumed = json.loads((out / "summary.json").read_text())["runtime"]["resumed_configs"]
    assert resumed == ray_summary["dataset"]["configs"] and sorted(resumed) == sorted(CONFIGS)


def test_a_failing_model_is_reported_once_with_its_config(cluster: Cluster, build: Path, tmp_path: Path) -> None:
    spec = "python:tests.evaluation.toy_models:broken_logits"
    code, stdout, stderr = evaluate_on_ray(cluster, "--model", spec, "--data", str(build),
                                           "--out", str(tmp_path / "o"), *FLAGS)
    assert code == EXIT_FAULTS
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr[-3000:]
    assert lines[0].startswith(f"ximagenet12 evaluate: error: {spec}: config original (rows 0-16): "
                               f"RuntimeError: the toy model is broken ({BATCH} images) (on node ")
    assert (stdout + stderr).count("the toy model is broken") == 1
    assert not (tmp_path / "o" / "summary.json").exists()

    code, _, stderr = evaluate_on_ray(cluster, "--model", "python:tests.evaluation.toy_models:nope",
                                      "--data", str(build), "--out", str(tmp_path / "o"), *FLAGS)
    assert code == EXIT_USAGE
    assert stderr.count("\n") == 1 and "toy_models has no attribute 'nope' (on node " in stderr, stderr[-3000:]


def test_losing_the_worker_node_mid_run_ends_in_the_same_predictions(cluster: Cluster, build: Path,
                                                                    tmp_path: Path) -> None:
    configs = "original,seg_img"
    reference = tmp_path / "local"
    assert main(["evaluate", "--model", "python:tests.evaluation.toy_models:colour_logits", "--data", str(build),
                 "--configs", configs, "--out", str(reference), *FLAGS]) == 0
    out = tmp_path / "ray"
    argv = ["evaluate", "--model", "python:tests.evaluation.toy_models:slow_colour_logits", "--data", str(build),
            "--configs", configs, "--out", str(out), *FLAGS, "--engine", "ray", "--address", cluster.address]
    with open(tmp_path / "stderr", "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "ximagenet12_builder.cli", *argv], stdout=subprocess.DEVNULL,
                                stderr=stderr, env=cluster.env)
    deadline = time.monotonic() + 120
    while not any(cmd.startswith("ray::UnitWorker.score") for cmd in node_processes(cluster.groups["worker"]).values()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("no unit ran on the worker node")
        time.sleep(0.02)
    cluster.kill("worker")
    code = proc.wait(timeout=300)
    assert code == 0, f"Ray did not rerun the lost unit: {(tmp_path / 'stderr').read_text()[-3000:]}"
    assert data_bytes(out / "predictions.parquet") == data_bytes(reference / "predictions.parquet")
    engine = json.loads((out / "summary.json").read_text())["runtime"]["engine"]
    assert sum(engine["units_per_node"].values()) == engine["units"] == 4
