"""The output folder: refused when it could hold or overlap the user's files, and only our own files ever removed."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from ximagenet12_builder.cli import main
from ximagenet12_builder.pipeline import BuildOptions, run_build


def digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def build(sources: Path, out: Path, *extra: str) -> int:
    """The CLI's exit code (argparse's own errors leave through SystemExit, as from the console script)."""
    try:
        return main(["build", str(sources), "--out", str(out), "--no-progress", *extra])
    except SystemExit as exc:
        return int(exc.code)


def one_line_error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("ximagenet12 build: error: ")
    return err[0]


@pytest.fixture
def sources(synthetic_sources: Path, tmp_path: Path) -> Path:
    """A private copy of the synthetic sources (some tests put the output inside it)."""
    return Path(shutil.copytree(synthetic_sources, tmp_path / "src"))


def test_a_non_empty_folder_that_is_not_a_build_is_refused_and_untouched(
    sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "mine"
    (out / "data" / "blur_bg").mkdir(parents=True)
    (out / "data" / "blur_bg" / "user_notes.txt").write_text("mine")
    (out / "README.md").write_text("my readme")
    before = digest(out)
    assert build(sources, out) == 2
    assert "not empty and not an earlier build" in one_line_error(capsys)
    assert digest(out) == before and not (out / ".build").exists()


@pytest.mark.parametrize("where", ["equal", "inside"])
def test_an_output_folder_in_the_sources_is_refused(
    sources: Path, capsys: pytest.CaptureFixture, where: str
) -> None:
    before = digest(sources)
    out = sources if where == "equal" else sources / "out"
    assert build(sources, out) == 2
    message = one_line_error(capsys)
    assert ("is the sources folder" if where == "equal" else "inside the sources folder") in message
    assert digest(sources) == before and not (sources / "out").exists() and not (sources / ".build").exists()


def test_sources_inside_the_output_folder_are_refused(tmp_path: Path, synthetic_sources: Path, capsys) -> None:
    out = tmp_path / "out"
    shutil.copytree(synthetic_sources, out / "src")
    (out / ".build").mkdir()  # even an earlier build of ours may not hold the sources
    before = digest(out)
    assert build(out / "src", out) == 2
    assert "lies inside --out" in one_line_error(capsys)
    assert digest(out) == before and not (out / ".build" / "lock").exists()


def test_an_output_path_that_is_a_file_is_refused(sources: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    assert build(sources, tmp_path / "file") == 2
    assert "is not a folder" in one_line_error(capsys)
    assert build(sources, tmp_path / "file" / "out") == 2
    assert "is not a folder" in one_line_error(capsys)
    assert (tmp_path / "file").read_text() == "x"


def test_an_output_folder_that_cannot_be_created_is_one_line(sources: Path, tmp_path: Path, capsys) -> None:
    """As root, permissions do not stop a write: a read-only place does (/proc), and the error is one line."""
    assert build(sources, Path("/proc/ximagenet12-out")) == 2
    assert "/proc/ximagenet12-out" in one_line_error(capsys)


def test_missing_sources_create_nothing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    assert build(tmp_path / "nope", out) == 2
    assert "sources folder not found" in one_line_error(capsys)
    assert not out.exists()


def test_a_locked_or_refused_build_leaves_no_lock(sources: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "refused"
    out.mkdir()
    (out / "x.txt").write_text("mine")
    assert build(sources, out) == 2
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["x.txt"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sources-per-shard", "0"], "--sources-per-shard must be a whole number of at least 1, got 0"),
        (["--sources-per-shard", "-3"], "--sources-per-shard must be a whole number of at least 1, got -3"),
        (["--sources-per-shard", "two"], "not a whole number: 'two'"),
        (["--workers", "0"], "--workers must be a whole number of at least 1, got 0"),
        (["--configs", "blur_bg,nope"], "unknown config(s) nope"),
        (["--configs", ","], "--configs names no config"),
        (["--engine", "ray", "--workers", "2"], "--workers is for --engine local"),
        (["--address", "127.0.0.1:6379"], "--address is for --engine ray"),
        (["--engine", "spark"], "invalid choice: 'spark'"),
        (["--mask-variant", "blur:3"], "expected erode:K"),
        (["--mixed-rand", "nope"], "invalid choice: 'nope'"),
    ],
)
def test_options_are_checked_before_anything_is_written(
    sources: Path, tmp_path: Path, capsys, args: list[str], message: str
) -> None:
    out = tmp_path / "o"
    assert build(sources, out, *args) == 2
    assert message in one_line_error(capsys)
    assert not out.exists()


def test_an_earlier_build_keeps_the_users_files_and_loses_only_its_own(
    synthetic_sources: Path, synthetic_build: Path, tmp_path: Path
) -> None:
    out = Path(shutil.copytree(synthetic_build, tmp_path / "out"))
    old = {f["path"] for f in json.loads((out / "build_manifest.json").read_text())["files"]}
    user = {
        "data/blur_bg/user_notes.txt": "notes",
        "data/original/train-00099-of-00100.parquet": "a user's file named like a shard, never listed by us",
        "data/mine/keep.bin": "x",
        "notes.md": "top-level note",
    }
    for rel, text in user.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    report = run_build(BuildOptions(synthetic_sources, out, configs=("blur_bg",), progress=False))
    assert report.complete
    for rel, text in user.items():
        assert (out / rel).read_text() == text, rel
    now = {f["path"] for f in json.loads((out / "build_manifest.json").read_text())["files"]}
    assert {p for p in old if p.startswith("data/blur_bg/")} == now
    for rel in old - now:
        assert not (out / rel).exists(), f"{rel} was ours and is no longer in the build"
    assert not (out / "data" / "rand_bg").exists(), "a folder of ours left empty goes"


def test_finalising_drops_a_killed_attempts_partial_file_and_nothing_else(build: Path) -> None:
    from ximagenet12_builder.pipeline import finalize

    shard = sorted((build / "data" / "original").glob("*.parquet"))[0]
    ours = shard.with_name(f".{shard.name}.0123456789ab.partial")  # an attempt killed while writing
    ours.write_bytes(b"half a shard")
    theirs = [shard.with_name(f".{shard.name}.partial"), shard.with_name(f".{shard.name}.notes.partial")]
    for path in theirs:
        path.write_bytes(b"a user's")
    report = finalize(build)
    assert report.complete
    assert not ours.exists()
    assert all(path.read_bytes() == b"a user's" for path in theirs)
