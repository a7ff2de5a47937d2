"""End-to-end checks of `tests/hub_server.py` driven by the real huggingface_hub and datasets clients."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import urllib.request
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.hub_server import (  # noqa: F401
    LFS_UPLOAD_PREFIX,
    HubServer,
    hub_api_fixture,
    hub_server_fixture,
    run_with_hub,
)

if TYPE_CHECKING:
    from huggingface_hub import HfApi

REPO = "ns/ximagenet12-mini"
CONFIGS = ("cfg_a", "cfg_b")
SPLITS = ("train", "test")

README = """\
---
license: apache-2.0
pretty_name: XImageNet-12 mini (hub server test)
configs:
- config_name: cfg_a
  default: true
  data_files:
  - split: train
    path: data/cfg_a/train-*.parquet
  - split: test
    path: data/cfg_a/test-*.parquet
- config_name: cfg_b
  data_files:
  - split: train
    path: data/cfg_b/train-*.parquet
  - split: test
    path: data/cfg_b/test-*.parquet
---

# XImageNet-12 mini

Tiny card used by the hub server tests.
"""


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """Encode a solid-colour RGB PNG with the standard library only."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _rows(config: str, split: str) -> list[dict[str, object]]:
    """Deterministic rows of one split: idx, label and a PNG (base64 for JSON transport)."""
    seed = CONFIGS.index(config) * 100 + SPLITS.index(split) * 10
    return [
        {
            "idx": seed + i,
            "label": f"{config}-{split}-{i}",
            "png_b64": base64.b64encode(
                _png(4 + i, 3, (seed % 256, (40 * i) % 256, 200))
            ).decode(),
        }
        for i in range(3)
    ]


BUILD_SCRIPT = """
import base64, json, sys
from pathlib import Path
from datasets import Dataset, Features, Image, Value

folder, spec = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())
features = Features({"idx": Value("int64"), "label": Value("string"), "image": Image()})
(folder / "README.md").write_text(spec["readme"], encoding="utf-8")
for config, splits in spec["data"].items():
    for split, rows in splits.items():
        out = folder / "data" / config / f"{split}-00000-of-00001.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        Dataset.from_dict(
            {
                "idx": [r["idx"] for r in rows],
                "label": [r["label"] for r in rows],
                "image": [{"bytes": base64.b64decode(r["png_b64"]), "path": None} for r in rows],
            },
            features=features,
        ).to_parquet(str(out))
"""


@pytest.fixture(scope="module")
def dataset_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local dataset folder (README with two configs + Parquet files with an Image column), built once."""
    base = tmp_path_factory.mktemp("dataset_src")
    folder = base / "folder"
    folder.mkdir()
    spec = base / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "readme": README,
                "data": {c: {s: _rows(c, s) for s in SPLITS} for c in CONFIGS},
            }
        )
    )
    script = base / "build.py"
    script.write_text(BUILD_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(
        HF_HOME=str(base / "hf_home"),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_CACHE=str(base / "hf_home" / "ds"),
    )
    proc = subprocess.run(
        [sys.executable, str(script), str(folder), str(spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return folder


@pytest.fixture
def folder(dataset_folder: Path, tmp_path: Path) -> Path:
    """A private, mutable copy of `dataset_folder`."""
    return Path(shutil.copytree(dataset_folder, tmp_path / "upload"))


def _local_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _repo_files(server: HubServer, revision: str = "main") -> dict[str, bytes]:
    files = server.files(REPO, revision)
    files.pop(".gitattributes")
    return files


UPLOAD = """
from huggingface_hub import HfApi
api = HfApi()
api.create_repo({repo!r}, repo_type="dataset", exist_ok=True)
info = api.upload_folder(repo_id={repo!r}, repo_type="dataset", folder_path={folder!r}, commit_message="Publish")
emit(info.oid)
"""


def _upload(server: HubServer, folder: Path) -> str:
    return run_with_hub(UPLOAD.format(repo=REPO, folder=str(folder)), server).result


@pytest.mark.slow
def test_upload_folder_then_load_dataset(hub_server: HubServer, folder: Path) -> None:
    """create_repo + upload_folder, then load_dataset (regular and streaming) returns the uploaded rows."""
    run = hub_server.run(
        UPLOAD.format(repo=REPO, folder=str(folder))
        + textwrap.dedent(
            """
            import base64
            from datasets import Image, load_dataset

            def dump(ds):
                ds = ds.cast_column("image", Image(decode=False))
                return [
                    {"idx": r["idx"], "label": r["label"], "png_b64": base64.b64encode(r["image"]["bytes"]).decode()}
                    for r in ds
                ]

            emit(dump(load_dataset(REPO, "cfg_b", split="test")))
            emit(dump(load_dataset(REPO, "cfg_a", split="train")))
            rows = []
            for row in dump(load_dataset(REPO, "cfg_b", split="test", streaming=True)):
                rows.append(row)  # iterate to the end (no early break)
            emit(rows)
            """
        ).replace("REPO", repr(REPO))
    )
    commit_oid, cfg_b_test, cfg_a_train, streamed = run.results
    assert cfg_b_test == _rows("cfg_b", "test")
    assert cfg_a_train == _rows("cfg_a", "train")
    assert streamed == _rows("cfg_b", "test")

    assert _repo_files(hub_server) == _local_files(folder)
    infos = hub_server.file_infos(REPO)
    assert not infos["README.md"].lfs
    assert all(info.lfs for path, info in infos.items() if path.endswith(".parquet"))
    commits = hub_server.commits(REPO)
    assert [c.title for c in commits] == ["initial commit", "Publish"]
    assert commits[-1].oid == commit_oid
    assert all(len(c.oid) == 40 for c in commits)
    # the regular load went through HEAD/GET on resolve, streaming through Range requests
    assert any(m == "HEAD" and "/resolve/" in p for m, p in hub_server.requests_log)
    assert any(r.status == 206 for r in hub_server.request_records)


@pytest.mark.slow
def test_reupload_same_folder_uploads_nothing(
    hub_server: HubServer, folder: Path
) -> None:
    """Re-running the same upload_folder sends no LFS bytes and creates no commit."""
    first = _upload(hub_server, folder)
    n_parquet = sum(1 for p in _local_files(folder) if p.endswith(".parquet"))
    assert len(hub_server.lfs_put_requests()) == n_parquet
    before = hub_server.commits(REPO)

    hub_server.clear_log()
    second = _upload(hub_server, folder)

    assert hub_server.lfs_put_requests() == []
    assert hub_server.lfs_uploads == []
    assert not any(m == "POST" and "/commit/" in p for m, p in hub_server.requests_log)
    assert hub_server.commits(REPO) == before
    assert second == first  # the client reports the unchanged head


def test_upload_folder_delete_patterns(hub_server: HubServer, folder: Path) -> None:
    """delete_patterns removes exactly the matching remote files in the same commit."""
    _upload(hub_server, folder)
    shutil.rmtree(folder / "data" / "cfg_b")
    hub_server.run(
        f"""
        from huggingface_hub import HfApi
        api = HfApi()
        api.upload_file(repo_id={REPO!r}, repo_type="dataset", path_or_fileobj=b"keep me", path_in_repo="notes/b.txt")
        api.upload_folder(repo_id={REPO!r}, repo_type="dataset", folder_path={str(folder)!r},
                          delete_patterns=["data/cfg_b/*"], commit_message="Drop cfg_b")
        """
    )
    files = _repo_files(hub_server)
    assert files == {**_local_files(folder), "notes/b.txt": b"keep me"}
    last = hub_server.commits(REPO)[-1]
    assert last.title == "Drop cfg_b"
    assert sorted(last.deleted) == [
        f"data/cfg_b/{s}-00000-of-00001.parquet" for s in ("test", "train")
    ]
    assert last.added == ()  # unchanged files are not re-committed


def test_pull_request_tag_and_download(hub_server: HubServer, folder: Path) -> None:
    """create_pr=True opens refs/pr/1 leaving main alone; tag + download at the tag; merge."""
    _upload(hub_server, folder)
    main_before = hub_server.refs(REPO)["refs/heads/main"]
    (folder / "README.md").write_text(README + "\nPR change.\n", encoding="utf-8")
    run = hub_server.run(
        f"""
        from pathlib import Path
        from huggingface_hub import HfApi, HfFileSystem, hf_hub_download
        api = HfApi()
        pr = api.upload_folder(repo_id={REPO!r}, repo_type="dataset", folder_path={str(folder)!r}, create_pr=True)
        emit([pr.pr_revision, pr.pr_num, pr.oid])
        api.create_tag({REPO!r}, repo_type="dataset", tag="v1.0", revision="main")
        refs = api.list_repo_refs({REPO!r}, repo_type="dataset", include_pull_requests=True)
        emit(sorted(t.name for t in refs.tags) + sorted(p.name for p in refs.pull_requests))
        for rev in ("v1.0", "refs/pr/1"):
            emit(Path(hf_hub_download({REPO!r}, "README.md", repo_type="dataset", revision=rev)).read_text())
        parquet = hf_hub_download({REPO!r}, "data/cfg_a/test-00000-of-00001.parquet", repo_type="dataset",
                                  revision="v1.0")
        emit(Path(parquet).stat().st_size)
        fs = HfFileSystem()
        emit(sorted(fs.glob("datasets/{REPO}@refs%2Fpr%2F1/data/*/*.parquet")))
        with fs.open("datasets/{REPO}@v1.0/README.md", "rb", block_size=16) as f:
            f.seek(4)
            emit(f.read(10).decode())
        emit(api.dataset_info({REPO!r}).sha)  # main, before merging the pull request
        api.merge_pull_request({REPO!r}, pr.pr_num, repo_type="dataset")
        """
    )
    (
        (pr_revision, pr_num, pr_oid),
        ref_names,
        at_tag,
        at_pr,
        parquet_size,
        globbed,
        chunk,
        main_sha_before_merge,
    ) = run.results
    assert (pr_revision, pr_num) == ("refs/pr/1", 1)
    refs = hub_server.refs(REPO)
    assert main_sha_before_merge == main_before
    assert refs["refs/pr/1"] == pr_oid
    assert refs["refs/tags/v1.0"] == main_before
    assert ref_names == ["v1.0", "refs/pr/1"]
    assert at_tag == README
    assert at_pr == README + "\nPR change.\n"
    assert (
        parquet_size
        == (folder / "data" / "cfg_a" / "test-00000-of-00001.parquet").stat().st_size
    )
    assert hub_server.files(REPO, "refs/pr/1")["README.md"] == at_pr.encode()
    assert hub_server.files(REPO, "v1.0")["README.md"] == README.encode()
    # after the merge, main has the pull request's change in a squash commit
    assert hub_server.files(REPO)["README.md"] == at_pr.encode()
    merge = hub_server.commits(REPO)[-1]
    assert merge.parents == (main_before,) and merge.added == ("README.md",)
    assert len(globbed) == 4 and all(
        g.startswith(f"datasets/{REPO}@refs%2Fpr%2F1/data/") for g in globbed
    )
    assert chunk == README.encode()[4:14].decode()


@pytest.mark.filterwarnings(
    "ignore:Use 'content=:DeprecationWarning"
)  # from huggingface_hub
def test_in_process_hub_api(
    hub_api: HfApi, hub_server: HubServer, tmp_path: Path
) -> None:
    """The `hub_api` fixture drives the server in-process (no subprocess) when `endpoint=` is passed."""
    from huggingface_hub import hf_hub_download

    hub_api.create_repo("ns/fast", repo_type="dataset")
    hub_api.upload_file(
        repo_id="ns/fast",
        repo_type="dataset",
        path_or_fileobj=b"PAR1" * 8,
        path_in_repo="x.parquet",
    )
    assert hub_api.list_repo_files("ns/fast", repo_type="dataset") == [
        ".gitattributes",
        "x.parquet",
    ]
    assert hub_server.file_infos("ns/fast")["x.parquet"].lfs
    path = hf_hub_download(
        "ns/fast",
        "x.parquet",
        repo_type="dataset",
        endpoint=hub_server.url,
        token=hub_server.token,
        cache_dir=tmp_path / "cache",
    )
    assert Path(path).read_bytes() == b"PAR1" * 8


def test_auth_and_not_found_errors(hub_server: HubServer) -> None:
    """Bad token -> 401, foreign namespace -> 403, missing repo/revision/file -> typed errors."""
    run = hub_server.run(
        """
        from huggingface_hub import HfApi, hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError

        def outcome(fn):
            try:
                fn()
            except HfHubHTTPError as err:
                return [type(err).__name__, err.response.status_code]
            except Exception as err:
                return [type(err).__name__, None]
            return ["ok", None]

        api = HfApi()
        emit(outcome(lambda: HfApi(token="hf_wrong").create_repo("ns/x", repo_type="dataset")))
        emit(outcome(lambda: api.create_repo("other/x", repo_type="dataset")))
        emit(outcome(lambda: api.repo_info("ns/missing", repo_type="dataset")))
        api.create_repo("ns/present", repo_type="dataset")
        emit(outcome(lambda: HfApi(token=False).upload_file(
            repo_id="ns/present", repo_type="dataset", path_or_fileobj=b"x", path_in_repo="x.txt")))
        emit(outcome(lambda: api.repo_info("ns/present", repo_type="dataset", revision="nope")))
        emit(outcome(lambda: hf_hub_download("ns/present", "missing.txt", repo_type="dataset")))
        """
    )
    bad_token, foreign, missing_repo, anonymous_write, missing_rev, missing_file = (
        run.results
    )
    assert bad_token == ["HfHubHTTPError", 401]
    assert foreign == ["HfHubHTTPError", 403]
    assert missing_repo == ["RepositoryNotFoundError", 404]
    assert anonymous_write == ["HfHubHTTPError", 401]
    assert missing_rev == ["RevisionNotFoundError", 404]
    assert missing_file == ["RemoteEntryNotFoundError", 404]
    assert not hub_server.repo_exists("ns/x") and not hub_server.repo_exists("other/x")


def test_cut_off_upload_then_resume(hub_server: HubServer, folder: Path) -> None:
    """An LFS upload failing mid-way makes upload_folder raise without committing; a rerun completes."""
    hub_server.fail_next_lfs_uploads = 1
    run = hub_server.run(
        f"""
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo({REPO!r}, repo_type="dataset")
        kwargs = dict(repo_id={REPO!r}, repo_type="dataset", folder_path={str(folder)!r})
        try:
            api.upload_folder(**kwargs)
        except Exception as err:
            emit([type(err).__name__, str(err.__cause__ or err)])
        else:
            emit(["no error", ""])
        emit(len(api.list_repo_files({REPO!r}, repo_type="dataset")))
        emit(api.upload_folder(**kwargs).oid)
        """
    )
    (error_type, error_message), files_after_failure, final_oid = run.results
    assert error_type == "RuntimeError"
    assert "IncompleteBody" in error_message
    assert files_after_failure == 1  # only .gitattributes: nothing was committed
    assert hub_server.fail_next_lfs_uploads == 0
    assert _repo_files(hub_server) == _local_files(folder)
    assert [c.oid for c in hub_server.commits(REPO)][-1] == final_oid
    assert len(hub_server.commits(REPO)) == 2
    n_parquet = sum(1 for p in _local_files(folder) if p.endswith(".parquet"))
    # every object is stored exactly once: those uploaded before the failure were not re-sent
    assert len(hub_server.lfs_uploads) == n_parquet
    assert len(hub_server.lfs_put_requests()) == n_parquet + 1  # + the failed attempt
    assert all(p.startswith(LFS_UPLOAD_PREFIX) for p in hub_server.lfs_put_requests())


@pytest.mark.parametrize("data_dir", [False, True])
def test_standalone_server_keeps_its_data_out_of_the_working_folder(tmp_path: Path, data_dir: bool) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    args = ["--port", "0"] + (["--data-dir", str(tmp_path / "kept")] if data_dir else [])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.hub_server", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        url, root = re.search(r"serving (\S+) .* data in (\S+) \(", proc.stdout.readline()).groups()
        request = urllib.request.Request(f"{url}/api/whoami-v2", headers={"authorization": "Bearer hf_test_token"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert json.load(answer)["name"] == "ns"
        assert Path(root).is_dir()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert list(cwd.iterdir()) == []
    if data_dir:
        assert Path(root) == tmp_path / "kept" and Path(root).is_dir()
    else:
        assert not Path(root).exists()
