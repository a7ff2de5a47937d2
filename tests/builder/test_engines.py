"""Engines without a cluster: the local engine's failures, progress counts, node checks, and no Ray needed."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from ximagenet12_builder.cli import main
from ximagenet12_builder.engines import ShardFailed, one_line, task_counts
from ximagenet12_builder.engines.local import LocalEngine
from ximagenet12_builder.engines.ray import NodeMismatch, check_node, code_identity
from ximagenet12_builder.pipeline import BuildOptions, run_build
from ximagenet12_builder.plan import make_plan
from ximagenet12_builder.shards import parquet_format
from ximagenet12_builder.sources import discover
from ximagenet12_builder.worker import ShardJob, build_shard

from tests.builder.test_pipeline import tree_digest
from ximagenet12.classes import WNIDS
from ximagenet12.synthetic import make_source_tree

CONFIGS = ("original", "blur_bg", "mixed_same")


@pytest.fixture(scope="module")
def reference(synthetic_sources: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three configs of the synthetic sources, 3 sources a shard (4 shards), built in this process."""
    out = tmp_path_factory.mktemp("engines-ref") / "out"
    report = run_build(BuildOptions(synthetic_sources, out, configs=CONFIGS, sources_per_shard=3, progress=False))
    assert report.complete and report.built == [0, 1, 2, 3]
    return out


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_a_failing_shard_is_reported_once_and_the_others_are_recorded(
    synthetic_sources: Path, reference: Path, tmp_path: Path, workers: int
) -> None:
    out = tmp_path / "out"
    shard_1 = sorted((reference / "data" / "original").glob("*-00001-of-00004.parquet"))[0]
    blocked = out / shard_1.relative_to(reference)
    (out / ".build").mkdir(parents=True)  # an earlier build of ours, cut off before it wrote anything
    blocked.mkdir(parents=True)  # shard 1's file cannot be moved into place
    opts = BuildOptions(synthetic_sources, out, configs=CONFIGS, sources_per_shard=3, workers=workers, progress=False)
    with pytest.raises(ShardFailed) as caught:
        run_build(opts)
    assert [index for index, _ in caught.value.failures] == [1]
    assert caught.value.failures[0][1].startswith("IsADirectoryError: ")
    assert str(caught.value).startswith("1 of 4 shards failed (shard 1: IsADirectoryError: ")
    assert "\n" not in str(caught.value)
    assert sorted(p.name for p in (out / ".build" / "shards").iterdir()) == ["00000.json", "00002.json", "00003.json"]

    blocked.rmdir()
    report = run_build(opts)
    assert report.complete and report.built == [1] and report.skipped == [0, 2, 3]
    assert tree_digest(out) == tree_digest(reference)


def test_task_counts_equal_the_rows_reported_source_by_source(tmp_path: Path) -> None:
    root = tmp_path / "src"
    make_source_tree(root, n_per_class=2, wnids=WNIDS[:2])
    bad = next((root / "image").rglob("*.JPEG"))
    bad.write_bytes(bad.read_bytes()[:200])  # truncated: every row of that source is left out
    inv = discover(root)
    plan = make_plan(inv, CONFIGS, sources_per_shard=10)
    job = ShardJob(0, 1, plan.shard(0), str(tmp_path / "out"), "fp", parquet_format([c.name for c in inv.classes]))
    reported: dict[str, int] = {}

    def add(done: dict[str, int]) -> None:
        for key, n in done.items():
            reported[key] = reported.get(key, 0) + n

    result = build_shard(job, progress=add)
    expected: dict[str, int] = {}
    for item in plan.items:
        for row in item.rows:  # rows of the bad source, or with it as partner, are left out
            left_out = str(bad) in (item.source.image, row.partner.image if row.partner else None)
            key = "rejected" if left_out else row.config
            expected[key] = expected.get(key, 0) + 1
    assert expected["rejected"] > len(CONFIGS) - 1
    assert reported == expected
    assert task_counts(job, result) == expected


class _EndsItsHelper(ShardJob):
    """A job that ends any process but the driver that unpickles it, as the kernel's out-of-memory killer would."""

    driver: int = 0

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if os.getpid() != self.driver:
            os._exit(9)


def _one_source_jobs(tmp_path: Path, job_type: type[ShardJob] = ShardJob) -> list[ShardJob]:
    root = tmp_path / "src"
    make_source_tree(root, n_per_class=2, wnids=WNIDS[:2])
    inv = discover(root)
    plan = make_plan(inv, ("original",), sources_per_shard=1)
    fmt = parquet_format([c.name for c in inv.classes])
    out = str(tmp_path / "out")
    return [job_type(i, plan.num_shards, plan.shard(i), out, f"fp-{i}", fmt) for i in range(plan.num_shards)]


def test_the_driver_keeps_no_decoded_images_once_its_shards_are_built(tmp_path: Path) -> None:
    from ximagenet12_builder import worker

    jobs = _one_source_jobs(tmp_path)
    build_shard(jobs[0])
    assert worker._LOADER is not None and worker._LOADER.decodes > 0  # a job decodes through the process's loader
    LocalEngine(workers=1).run(jobs[1:], progress=lambda done: None, finished=lambda result: None)
    assert worker._LOADER is None


def test_two_workers_are_this_process_and_one_spawned_beside_it(tmp_path: Path) -> None:
    engine = LocalEngine(workers=2)
    engine.start(jobs=4)
    try:
        assert len(multiprocessing.active_children()) == 1
    finally:
        engine.close()
    assert multiprocessing.active_children() == []
    jobs = _one_source_jobs(tmp_path)
    results = LocalEngine(workers=2).run(jobs, progress=lambda done: None, finished=lambda result: None)
    assert sorted(r.index for r in results) == list(range(len(jobs)))


def test_a_full_disk_while_recording_a_result_stops_the_build_from_any_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread_errors: list = []
    monkeypatch.setattr(threading, "excepthook", thread_errors.append)

    def record(result) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as caught:
        LocalEngine(workers=2).run(_one_source_jobs(tmp_path), progress=lambda done: None, finished=record)
    assert caught.value.errno == errno.ENOSPC
    assert thread_errors == []  # no feeder thread died with a traceback
    assert multiprocessing.active_children() == []


@pytest.mark.slow
def test_a_helper_process_that_dies_costs_its_shard_only(tmp_path: Path) -> None:
    jobs = _one_source_jobs(tmp_path, _EndsItsHelper)
    for job in jobs:
        job.driver = os.getpid()
    finished: list[int] = []
    with pytest.raises(ShardFailed) as caught:
        LocalEngine(workers=2).run(jobs, progress=lambda done: None, finished=lambda r: finished.append(r.index))
    [(lost, reason)] = caught.value.failures
    assert reason.startswith("BrokenProcessPool: ")
    assert sorted(finished) == sorted(set(range(len(jobs))) - {lost})  # the driver built every other shard
    assert multiprocessing.active_children() == []


def _job(out: Path, fingerprint: str = "fp-0") -> ShardJob:
    return ShardJob(0, 1, [], str(out), fingerprint, parquet_format(["a"]))


def test_a_node_that_does_not_see_the_output_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NodeMismatch, match=r"plan\.json as the driver wrote it: --out must be on storage every node"):
        check_node(_job(tmp_path / "elsewhere"), code_identity())


def test_a_node_that_sees_another_build_or_no_sources_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "out" / ".build" / "plan.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"fingerprints": ["fp-0"], "sources_root": str(tmp_path / "src")}))
    with pytest.raises(NodeMismatch, match="as the driver wrote it"):
        check_node(_job(tmp_path / "out", "fp-of-another-plan"), code_identity())
    with pytest.raises(NodeMismatch, match=r"does not see the sources folder .*src: SOURCES must be on storage"):
        check_node(_job(tmp_path / "out"), code_identity())
    (tmp_path / "src").mkdir()
    check_node(_job(tmp_path / "out"), code_identity())


def test_a_node_with_other_libraries_or_code_is_refused(tmp_path: Path) -> None:
    driver = {**code_identity(), "numpy": "0.0.1"}
    with pytest.raises(NodeMismatch, match=r"has numpy \S+, the driver 0\.0\.1; install the same versions"):
        check_node(_job(tmp_path), driver)
    with pytest.raises(NodeMismatch, match="runs other ximagenet12 code than the driver"):
        check_node(_job(tmp_path), {**code_identity(), "code": "0" * 64})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--engine", "ray", "--workers", "2"], "--workers is for --engine local"),
        (["--address", "auto"], "--address is for --engine ray"),
    ],
)
def test_options_of_the_other_engine_are_refused(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["build", str(tmp_path), "--out", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ximagenet12 build: error: {message}") and err.count("\n") == 1


@pytest.mark.slow
def test_without_ray_the_local_engine_builds_and_the_ray_engine_names_the_extra(
    synthetic_sources: Path, tmp_path: Path
) -> None:
    no_ray = "import sys; sys.modules['ray'] = None; from ximagenet12_builder.cli import main; sys.exit(main())"

    def build(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", no_ray, "build", str(synthetic_sources), *argv, "--configs", "original"],
            capture_output=True,
            text=True,
        )

    refused = build("--out", str(tmp_path / "ray"), "--engine", "ray")
    assert refused.returncode == 8
    assert refused.stderr == (
        "ximagenet12 build: error: --engine ray needs the 'ray' extra: pip install 'ximagenet12[ray]'\n"
    )
    assert not (tmp_path / "ray").exists()
    local = build("--out", str(tmp_path / "local"), "--no-progress")
    assert local.returncode == 0, local.stderr
    assert (tmp_path / "local" / "build_manifest.json").is_file()


def test_an_address_where_no_cluster_answers_is_one_line_at_once(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    argv = ["build", str(tmp_path), "--out", str(tmp_path / "out"), "--engine", "ray", "--address"]
    assert main([*argv, f"127.0.0.1:{port}"]) == 2
    assert capsys.readouterr().err == (
        f"ximagenet12 build: error: --address 127.0.0.1:{port}: no Ray cluster answers there (Connection refused); "
        "start one with `ray start --head` or fix the address\n"
    )
    assert main([*argv, "ray://nowhere"]) == 2
    assert "expected auto, HOST:PORT or ray://HOST:PORT" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_reason_is_one_line_and_keeps_what_follows_a_colon() -> None:
    assert one_line(IsADirectoryError(21, "Is a directory")) == "IsADirectoryError: [Errno 21] Is a directory"
    assert one_line(ConnectionAbortedError("failure from server:\n\n  port 23000 in use\nmore")) == (
        "ConnectionAbortedError: failure from server: port 23000 in use"
    )
    assert one_line(MemoryError()) == "MemoryError"
