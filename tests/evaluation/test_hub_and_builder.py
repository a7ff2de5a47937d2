"""Reading the real thing: a Hub dataset repo (loopback Hub server) and the project's own builder output."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hub_server import HubServer, hub_server_fixture  # noqa: F401
from ximagenet12.evaluation import evaluate
from ximagenet12.evaluation.source import open_build

from .tiny_build import make_synthetic_build
from .toy_models import colour_logits, imagenet_colour_logits

REPO = "ns/xin12-tiny"
SCRIPT = """
import sys
from ximagenet12.evaluation import evaluate
result = evaluate("python:tests.evaluation.toy_models:colour_logits", sys.argv[1], configs="all",
                  progress=False, resamples=50, out=sys.argv[2])
emit({"accuracy": result.accuracy, "dataset": result.summary["dataset"]})
"""


@pytest.mark.slow
def test_hub_repo_id_reads_the_same_rows_pinned_to_a_commit(hub_server: HubServer, tmp_path: Path) -> None:
    build = make_synthetic_build(tmp_path / "build", ("original", "seg_img", "transparent"), shards=2)
    files = {p.relative_to(build).as_posix(): p.read_bytes() for p in build.rglob("*") if p.is_file()}
    hub_server.create_repo(REPO)
    sha = hub_server.commit_files(REPO, files, message="tiny build")
    run = hub_server.run(SCRIPT, args=[REPO, str(tmp_path / "out")], cwd=Path(__file__).resolve().parents[2])
    remote = run.results[-1]
    local = evaluate(colour_logits, build, progress=False, resamples=50)
    assert remote["accuracy"] == local.accuracy
    assert remote["dataset"]["kind"] == "hub" and remote["dataset"]["revision"] == sha
    assert remote["dataset"]["manifest_sha256"] == local.summary["dataset"]["manifest_sha256"]
    assert (tmp_path / "out" / "report.md").is_file()


def test_the_builders_own_output(synthetic_build: Path) -> None:
    source = open_build(synthetic_build)
    split = max(source.splits("original"), key=lambda s: source.num_rows("original", s))
    result = evaluate(imagenet_colour_logits, synthetic_build, split=split, progress=False, resamples=50)
    assert result.summary["dataset"]["configs"] == [c for c in source.configs if split in source.splits(c)]
    assert result.summary["dataset"]["rows"]["original"] == source.num_rows("original", split) > 0
    assert result.summary["mapping"]["imagenet_indices"] == [c["imagenet_index"] for c in source.classes]
    assert result.robustness is not None and result.robustness.complete
    assert result.bg_gap is not None
    shown = [result.analysis.class_names[i] for i in result.analysis.present_classes]
    assert 0 < len(shown) < len(source.classes)  # the fixture builds a few of the 12 classes
    assert all(f"| {name} |" in result.to_markdown() for name in shown)
    assert "| ice cream |" not in result.to_markdown()


@pytest.mark.parametrize("data", ["not/a/folder/and/not/a/repo"])
def test_unknown_data_is_refused(data: str) -> None:
    with pytest.raises(FileNotFoundError):
        evaluate(colour_logits, data)
