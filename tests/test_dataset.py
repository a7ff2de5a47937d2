"""`ximagenet12.load` and its `datasets` builder: shards checked against the manifest, clear refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import ximagenet12
from tests.hub_server import HubServer, hub_server_fixture  # noqa: F401
from ximagenet12 import manifest as mf
from ximagenet12.errors import DataError
from ximagenet12.verify import CACHE_ENV, verify_local


@pytest.fixture
def build(synthetic_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the session's build, and a private verification cache."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return Path(shutil.copytree(synthetic_build, tmp_path / "build"))


def flip_one_byte(path: Path, offset: int = 200) -> None:
    """Corrupt a file in place without changing its size."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def shard(out: Path, config: str, split: str = "test") -> Path:
    return out / mf.read_manifest(out).files_of(config, split)[0].path


@pytest.mark.parametrize("streaming", [False, True])
def test_a_flipped_byte_is_refused_naming_the_file(build: Path, tmp_path: Path, streaming: bool) -> None:
    target = shard(build, "seg_img")
    flip_one_byte(target)
    with pytest.raises(DataError, match=rf"{target.name}: sha256 .* differs from the manifest's"):
        ximagenet12.load("seg_img", split="test", data_dir=build, streaming=streaming, cache_dir=str(tmp_path / "c"))
    unchecked = ximagenet12.load(
        "seg_img", split="test", data_dir=build, streaming=streaming, cache_dir=str(tmp_path / "c"), verify=False
    )
    assert next(iter(unchecked.select_columns(["scenario"])))["scenario"] == "seg_img"


def test_a_shard_of_another_size_or_missing_is_refused(build: Path, tmp_path: Path) -> None:
    target = shard(build, "blur_bg")
    target.write_bytes(target.read_bytes() + b"\x00")
    with pytest.raises(DataError, match="bytes, the manifest says"):
        ximagenet12.load("blur_bg", split="test", data_dir=build, cache_dir=str(tmp_path / "c"))
    target.unlink()
    with pytest.raises(DataError, match="missing"):
        ximagenet12.load("blur_bg", split="test", data_dir=build, streaming=True)


def test_each_file_is_hashed_once_until_it_changes(build: Path) -> None:
    files = mf.read_manifest(build).files_of("rand_bg")
    assert verify_local(build, files) == len(files)
    assert verify_local(build, files) == 0
    target = build / files[0].path
    target.touch()
    assert verify_local(build, files) == 1
    flip_one_byte(target)
    with pytest.raises(DataError):
        verify_local(build, files)


def test_rows_are_the_stored_bytes(build: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    loaded = ximagenet12.load("transparent", split="train", data_dir=build, cache_dir=str(tmp_path / "c"))
    stored = pq.read_table(build / mf.read_manifest(build).files_of("transparent", "train")[0].path)
    assert loaded.data.table.column("image").to_pylist() == stored.column("image").to_pylist()


def test_a_config_without_rows_says_why(build: Path) -> None:
    manifest = json.loads((build / mf.MANIFEST_NAME).read_text())
    for entry in [f for f in manifest["files"] if f["config"] == "mixed_same"]:
        (build / entry["path"]).unlink()
    manifest["files"] = [f for f in manifest["files"] if f["config"] != "mixed_same"]
    manifest["configs"]["mixed_same"]["splits"] = {}
    (build / mf.MANIFEST_NAME).write_text(json.dumps(manifest))
    with (build / mf.REJECTED_NAME).open("a") as f:
        for n in range(3):
            f.write(json.dumps({"file": f"x{n}.jpg", "reason": "mixed_same: no partner source (same)"}) + "\n")
    with pytest.raises(ValueError, match=r"'mixed_same' has no rows in this build: mixed_same: no partner source "
                       r"\(same\) \(3 sources\)") as caught:
        ximagenet12.load("mixed_same", split="test", data_dir=build)
    assert "'mixed_same'" not in str(caught.value).split("configs with rows:")[1]
    with pytest.raises(ValueError, match="'ai_bg' is not in this build"):
        ximagenet12.load("ai_bg", split="test", data_dir=build)


def test_not_a_build_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(mf.ManifestError, match=r"build_manifest\.json: missing"):
        ximagenet12.load("original", split="test", data_dir=tmp_path)


HUB_LOAD = """
import sys
import ximagenet12
from ximagenet12.errors import DataError

config, streaming, verify = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1"
try:
    ds = ximagenet12.load(config, split="test", repo_id="ns/xin12", streaming=streaming, verify=verify)
    emit(["ok", [row["source_id"] for row in ds.select_columns(["source_id"])]])
except DataError as exc:
    emit(["DataError", str(exc)])
"""


@pytest.mark.slow
def test_hub_shards_are_checked_by_their_lfs_sha256(
    hub_server: HubServer, synthetic_build: Path, tmp_path: Path
) -> None:
    runs = iter(range(100))

    def load(streaming: str, verify: str = "1") -> list:
        cache = {"HF_DATASETS_CACHE": str(tmp_path / f"datasets-cache-{next(runs)}")}
        return hub_server.run(HUB_LOAD, args=["seg_img", streaming, verify], env=cache).result

    files = {p.relative_to(synthetic_build).as_posix(): p.read_bytes()
             for p in synthetic_build.rglob("*") if p.is_file() and mf.STATE_DIR not in p.parts}  # fmt: skip
    hub_server.create_repo("ns/xin12")
    hub_server.commit_files("ns/xin12", files)
    expected = ximagenet12.load("seg_img", split="test", data_dir=synthetic_build, streaming=True)
    ids = [row["source_id"] for row in expected]
    for streaming in ("0", "1"):
        assert load(streaming) == ["ok", ids]

    path = mf.read_manifest(synthetic_build).files_of("seg_img", "test")[0].path
    bad = bytearray(files[path])
    bad[200] ^= 0xFF
    hub_server.commit_files("ns/xin12", {path: bytes(bad)})
    for streaming in ("0", "1"):
        kind, message = load(streaming)
        assert kind == "DataError" and "ns/xin12@" in message and f"{path}: sha256" in message
    assert load("1", verify="0")[0] == "ok"
