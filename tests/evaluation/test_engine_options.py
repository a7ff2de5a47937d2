"""`evaluate --engine`: the units Ray runs, and the options each engine refuses (no cluster needed)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ximagenet12_builder.cli import main

from ximagenet12.errors import EXIT_MISSING_EXTRA, EXIT_USAGE, XImageNet12Error
from ximagenet12.evaluation import evaluate
from ximagenet12.evaluation.ray_engine import check_node, eval_identity, plan_units
from ximagenet12.raycluster import NodeMismatch

from .toy_models import colour_logits

SPEC = "python:tests.evaluation.toy_models:colour_logits"


@given(
    rows=st.dictionaries(st.sampled_from(["original", "seg_img", "rand_bg"]), st.integers(0, 200), max_size=3),
    batch_size=st.integers(1, 40),
    unit_batches=st.integers(1, 5),
)
def test_units_cover_each_config_once_in_whole_batches(rows: dict[str, int], batch_size: int,
                                                       unit_batches: int) -> None:
    units = plan_units(rows, batch_size, unit_batches)
    assert [u.index for u in units] == list(range(len(units)))
    for config, total in rows.items():
        mine = [u for u in units if u.config == config]
        covered = [row for u in mine for row in range(u.start, u.stop)]
        assert covered == list(range(total))  # every row once, in order
        assert all(u.start % batch_size == 0 and 0 < u.stop - u.start <= batch_size * unit_batches for u in mine)
    assert [u.config for u in units] == sorted((u.config for u in units), key=list(rows).index)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--address", "auto"], "--address and --num-gpus-per-worker are for --engine ray"),
        (["--num-gpus-per-worker", "1"], "--address and --num-gpus-per-worker are for --engine ray"),
        (["--engine", "ray", "--challenge"], "--challenge runs on --engine local only"),
        (["--engine", "ray", "--device", "cuda"],
         "--device cuda with --engine ray needs --num-gpus-per-worker above 0"),
    ],
)
def test_options_that_do_not_fit_the_engine_are_one_line(extra: list[str], message: str, tiny_build: Path,
                                                         tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["evaluate", "--model", SPEC, "--data", str(tiny_build), "--out", str(tmp_path / "o"), *extra])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and err == f"ximagenet12 evaluate: error: {message}\n"
    assert not (tmp_path / "o").exists()


def test_without_ray_the_engine_names_the_extra(tiny_build: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as when it is not installed
    code = main(["evaluate", "--model", SPEC, "--data", str(tiny_build), "--out", str(tmp_path / "o"),
                 "--engine", "ray"])
    assert code == EXIT_MISSING_EXTRA
    assert capsys.readouterr().err == (
        "ximagenet12 evaluate: error: --engine ray needs the 'ray' extra: pip install 'ximagenet12[ray]'\n"
    )


def test_ray_needs_a_spec_not_a_python_object(tiny_build: Path) -> None:
    with pytest.raises(XImageNet12Error, match="loads the model on every node from its spec"):
        evaluate(colour_logits, tiny_build, engine="ray", progress=False)
    with pytest.raises(XImageNet12Error, match="unknown engine 'dask'"):
        evaluate(SPEC, tiny_build, engine="dask", progress=False)


def test_an_actor_refuses_a_node_that_does_not_see_the_drivers_build_or_code(tiny_build: Path, tmp_path: Path) -> None:
    sha = hashlib.sha256((tiny_build / "build_manifest.json").read_bytes()).hexdigest()
    driver = eval_identity()
    assert check_node(str(tiny_build), None, sha, driver, "n1").manifest_sha256 == sha
    with pytest.raises(NodeMismatch, match=r"^node n1 does not see the build .*/elsewhere \(FileNotFoundError: .*"
                       "--data must be on storage every node mounts at the same path$"):
        check_node(str(tmp_path / "elsewhere"), None, sha, driver, "n1")
    with pytest.raises(NodeMismatch, match=rf"^node n1 sees .* of sha256 {sha[:12]}\.\.\., the driver 000000000000"):
        check_node(str(tiny_build), None, "0" * 64, driver, "n1")
    with pytest.raises(NodeMismatch, match=r"^node n1 has numpy \S+, the driver 0\.0\.1; install the same versions"):
        check_node(str(tiny_build), None, sha, {**driver, "numpy": "0.0.1"}, "n1")
    with pytest.raises(NodeMismatch, match=r"^node n1 runs other ximagenet12 code than the driver"):
        check_node(str(tiny_build), None, sha, {**driver, "code": "0" * 64}, "n1")
