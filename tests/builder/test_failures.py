"""A build when the world fails it: a full disk, a reader that goes away, folders it may not read; and what it says."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from ximagenet12_builder.check import check_build

from ximagenet12.classes import WNIDS
from ximagenet12.synthetic import make_source_tree

CLI = [sys.executable, "-m", "ximagenet12_builder.cli"]


def _mount_tmpfs(where: Path, size: str) -> bool:
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    return proc.returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """A 1 MB tmpfs when this machine lets us mount one, else a 1 MB file-size limit (RLIMIT_FSIZE) on the build."""
    where = tmp_path / "disk"
    where.mkdir()
    if _mount_tmpfs(where, "1m"):
        try:
            yield where, []
        finally:
            subprocess.run(["umount", str(where)], check=True)
        return
    limit = (
        "import resource, signal, sys, runpy; signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20));"
        "sys.argv = ['ximagenet12'] + sys.argv[1:]; runpy.run_module('ximagenet12_builder.cli', run_name='__main__')"
    )
    yield where, ["-c", limit]


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_leaves_nothing_check_accepts(synthetic_sources: Path, small_disk) -> None:
    disk, prefix = small_disk
    out = disk / "out"
    command = [sys.executable, *prefix] if prefix else CLI
    proc = subprocess.run(
        [*command, "build", str(synthetic_sources), "--out", str(out), "--no-progress", "--sources-per-shard", "2"],
        capture_output=True, text=True, timeout=600,
    )
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert len(err) == 1 and err[0].startswith(f"ximagenet12 build: error: {out}: disk full"), err
    assert "bytes" in err[0] and "more" in err[0] and "rerun to resume" in err[0]
    assert not (out / "build_manifest.json").exists()
    leftovers = [p for p in out.rglob("*") if p.name.endswith((".partial", ".tmp"))]
    assert leftovers == []
    assert check_build(out, stream=False), "check refuses the unfinished folder"


@pytest.mark.slow
def test_a_reader_that_goes_away_ends_the_build_quietly(synthetic_sources: Path, tmp_path: Path) -> None:
    """`ximagenet12 build | head`: no traceback, no 'Exception ignored' when the pipe closes."""
    for reader, out in (("true", tmp_path / "a"), ("head -n 1", tmp_path / "b")):
        shell = f"{' '.join(CLI)} build {synthetic_sources} --out {out} --no-progress --configs blur_bg | {reader}"
        proc = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0
        assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
        assert (out / "build_manifest.json").exists(), "the build itself finished"


NOBODY = 65534
AS_NOBODY = """
import json, os, sys
from pathlib import Path
from ximagenet12_builder.cli import main
# Import everything the build loads lazily while the interpreter's own files are still readable.
warm = Path(sys.argv[3])
assert main(["build", sys.argv[4], "--out", str(warm), "--no-progress", "--configs", "original,blur_bg"]) == 0
os.setgid(65534)
os.setuid(65534)
assert os.getuid() == 65534
print(json.dumps({"code": main(["build", sys.argv[1], "--out", sys.argv[2], "--no-progress", "--configs", "blur_bg"])}))
"""


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A folder another user can reach (pytest's own tmp is private to root)."""
    where = Path(tempfile.mkdtemp(prefix="ximagenet12-perm-", dir="/tmp"))
    where.chmod(0o755)
    try:
        yield where
    finally:
        for path in where.rglob("*"):
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(where)


@pytest.mark.slow
def test_folders_and_files_it_may_not_read_are_reported_and_the_build_goes_on(open_tmp: Path) -> None:
    """Run as the unprivileged user `nobody`: a folder and a file it may not read end in rejected.jsonl."""
    src = open_tmp / "src"
    make_source_tree(src, n_per_class=2, wnids=WNIDS[:3])
    locked_folder = src / "image" / WNIDS[2]
    locked_file = src / "image" / WNIDS[1] / f"{WNIDS[1]}_2.JPEG"
    locked_folder.chmod(0o000)
    locked_file.chmod(0o000)
    out_parent = open_tmp / "outs"
    out_parent.mkdir()
    out_parent.chmod(0o777)
    warm_src = open_tmp / "warm_src"
    make_source_tree(warm_src, n_per_class=1, wnids=WNIDS[:2])
    proc = subprocess.run(
        [sys.executable, "-c", AS_NOBODY, str(src), str(out_parent / "out"), str(open_tmp / "warm"), str(warm_src)],
        capture_output=True, text=True, timeout=600,
    )
    if "Operation not permitted" in proc.stderr and "setuid" in proc.stderr:
        pytest.skip("this machine does not let root drop privileges (os.setuid): the FIFO/link tests still run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["code"] == 0
    out = out_parent / "out"
    rejected = {r["file"]: r["reason"] for r in map(json.loads, (out / "rejected.jsonl").read_text().splitlines())}
    assert rejected[f"image/{WNIDS[2]}"] == "cannot read folder (Permission denied)"
    assert rejected[f"image/{WNIDS[1]}/{WNIDS[1]}_2.JPEG"] == "cannot read file (Permission denied)"
    manifest = json.loads((out / "build_manifest.json").read_text())
    assert sum(s["num_examples"] for s in manifest["configs"]["blur_bg"]["splits"].values()) == 3
    assert os.stat(locked_file).st_mode & 0o777 == 0, "the user's file is as it was"


@pytest.mark.slow
def test_the_sample_build_explains_what_it_cannot_build(tmp_path: Path) -> None:
    """One progress bar with rows/s and an ETA; then the table and, in plain words, what is missing and why."""
    out = tmp_path / "sample"
    proc = subprocess.run([*CLI, "build", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    bar = proc.stderr
    assert "row/s" in bar and "original=" not in bar and "rejected=" not in bar
    lines = proc.stdout.splitlines()
    start = lines.index("not built, because the inputs cannot produce them:")
    reasons = dict(line.strip().split(": ", 1) for line in lines[start + 1 : start + 3])
    assert set(reasons) == {"ai_bg", "mixed_same"}
    assert "single source" in reasons["mixed_same"] and "ai_backgrounds/" in reasons["ai_bg"]
    assert any(line.startswith("greyscale sources: 1 ") for line in lines), "the sample's tripod is a greyscale JPEG"
    manifest = json.loads((out / "build_manifest.json").read_text())
    assert set(manifest["not_built"]) == {"ai_bg", "mixed_same"}
    assert "mixed_same" not in manifest["configs"] and "rand_bg" in manifest["configs"]
    assert manifest["sources"]["background_photos"] == 3 and manifest["sources"]["greyscale_sources"] == 1
