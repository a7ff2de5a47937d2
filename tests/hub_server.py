"""Hub-compatible HTTP server for tests (stdlib + PyYAML) that the real huggingface_hub/datasets talk to.

Fixtures (register them in a conftest or test module with an import)::

    from tests.hub_server import hub_api_fixture, hub_server_fixture  # noqa: F401

* ``hub_server`` -> a started `HubServer` on ``http://127.0.0.1:<free port>``; token ``hf_test_token`` may
  write to namespace ``ns``; stopped at teardown; the test fails if the server hit an internal error.
* ``hub_api`` -> an in-process ``HfApi(endpoint=server.url, token=server.token)`` with Xet/offline patched off.

Typical use (the real client, in a subprocess, see `run_with_hub` / `hub_env`)::

    def test_publish(hub_server):
        run = hub_server.run('''
            from huggingface_hub import HfApi
            api = HfApi()
            api.create_repo("ns/demo", repo_type="dataset")
            emit(api.repo_info("ns/demo", repo_type="dataset").sha)
        ''')
        assert run.result == hub_server.commits("ns/demo")[-1].oid

huggingface_hub reads ``HF_ENDPOINT``/``HF_HUB_DISABLE_XET`` and datasets reads ``HF_ENDPOINT`` at import time,
so anything using ``load_dataset`` or implicit endpoints must run in a subprocess. In-process use only works
for APIs taking ``endpoint=`` (``HfApi``, ``hf_hub_download``, ``HfFileSystem``) with Xet disabled.

Wire protocol implemented (what huggingface_hub 2.x / datasets 5.x use):

* ``POST /api/repos/create``, ``DELETE /api/repos/delete``, ``GET /api/whoami-v2``, ``POST /api/validate-yaml``
* ``GET /api/{models,datasets,spaces}`` (listing), ``GET /api/{type}s/{repo_id}[/revision/{rev}]`` (repo info)
* ``GET /api/{type}s/{repo_id}/tree/{rev}[/{path}]`` (``recursive``, ``expand``, cursor pagination via ``Link``)
* ``POST /api/{type}s/{repo_id}/paths-info/{rev}``, ``POST .../preupload/{rev}``, ``POST .../commit/{rev}``
  (NDJSON; ``create_pr=1``), ``GET .../refs``, ``GET .../commits/{rev}``, ``POST|DELETE .../branch/{name}``,
  ``POST .../tag/{rev}``, ``DELETE .../tag/{name}``, ``GET|POST .../discussions``,
  ``GET .../discussions/{n}``, ``POST .../discussions/{n}/merge|status`` (squash merge of pull requests)
* ``POST /[{type}s/]{repo_id}.git/info/lfs/objects/batch`` (basic transfer) with upload/verify actions
  pointing to ``PUT /_hub/lfs/...`` (no auth, like a pre-signed URL) and ``POST /_hub/lfs-verify/...``
* ``GET|HEAD /[{type}s/]{repo_id}/resolve/{rev}/{path}`` with ETag, X-Repo-Commit, X-Linked-Etag/Size,
  Accept-Ranges and ``Range`` (206/416) support; revisions may be URL-encoded (``refs%2Fpr%2F1``).

Errors carry ``X-Error-Code`` (RepoNotFound, RevisionNotFound, EntryNotFound) and ``X-Error-Message`` headers
plus a JSON ``{"error": ...}`` body, so ``hf_raise_for_status`` raises the proper typed errors. A bad token
gets 401 "Invalid credentials in Authorization header" (plain ``HfHubHTTPError``), a write outside the
token's namespaces 403, a private repo of someone else 404 RepoNotFound.

Files are stored as LFS when the repo's ``.gitattributes`` says so (the initial commit has the Hub's usual
patterns: ``*.parquet``, ``*.png``, ...), when they are >= ``lfs_threshold`` (10 MiB) or look binary.
``fail_next_lfs_uploads = N`` makes the next N LFS PUTs fail with ``lfs_failure_status`` (400, not retried by
the client; a 5xx would be retried with backoff) after the body was received; nothing is stored for them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import datetime as _dt
import fnmatch
import hashlib
import http.server
import itertools
import json
import os
import posixpath
import subprocess
import sys
import tempfile
import textwrap
import threading
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
import yaml

if TYPE_CHECKING:
    from typing import Self

    from huggingface_hub import HfApi

__all__ = [
    "DEFAULT_TOKEN",
    "CommitRecord",
    "FileInfo",
    "HubRun",
    "HubServer",
    "RequestRecord",
    "hub_api_fixture",
    "hub_env",
    "hub_server_fixture",
    "run_with_hub",
]

DEFAULT_TOKEN = "hf_test_token"
REPO_ROOT = Path(__file__).resolve().parents[1]
LFS_UPLOAD_PREFIX = "/_hub/lfs/"
LFS_VERIFY_PREFIX = "/_hub/lfs-verify/"
_RESULT_MARKER = "@@HUB_RESULT@@ "
_REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_MiB = 1024 * 1024

# Same spirit as the `.gitattributes` the Hub writes in the initial commit of a new repo.
_LFS_PATTERNS = (
    "*.7z",
    "*.arrow",
    "*.bin",
    "*.bz2",
    "*.ckpt",
    "*.ftz",
    "*.gz",
    "*.h5",
    "*.joblib",
    "*.lfs.*",
    "*.lz4",
    "*.mds",
    "*.mlmodel",
    "*.model",
    "*.msgpack",
    "*.npy",
    "*.npz",
    "*.onnx",
    "*.ot",
    "*.parquet",
    "*.pb",
    "*.pickle",
    "*.pkl",
    "*.pt",
    "*.pth",
    "*.rar",
    "*.safetensors",
    "saved_model/**/*",
    "*.tar.*",
    "*.tar",
    "*.tflite",
    "*.tgz",
    "*.wasm",
    "*.xz",
    "*.zip",
    "*.zst",
    "*tfevents*",
    "*.mp3",
    "*.ogg",
    "*.wav",
    "*.flac",
    "*.bmp",
    "*.gif",
    "*.png",
    "*.tiff",
    "*.jpg",
    "*.jpeg",
    "*.webp",
    "*.mp4",
    "*.webm",
    "*.avi",
    "*.mkv",
    "*.db",
    "*.sqlite",
)
DEFAULT_GITATTRIBUTES = "".join(
    f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in _LFS_PATTERNS
)


# ----------------------------------------------------------------------------------------------------------------
# Public records
# ----------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RequestRecord:
    """One HTTP request seen by the server (raw path, without query string)."""

    method: str
    path: str
    query: str
    status: int
    bytes_in: int
    authenticated: bool


@dataclasses.dataclass(frozen=True)
class CommitRecord:
    """A commit as seen by tests: oid, messages, parents and the paths it added/changed or deleted."""

    oid: str
    title: str
    message: str
    parents: tuple[str, ...]
    added: tuple[str, ...]
    deleted: tuple[str, ...]
    date: str
    author: str


@dataclasses.dataclass(frozen=True)
class FileInfo:
    """Metadata of one file in a revision."""

    path: str
    size: int
    lfs: bool
    sha256: str
    git_oid: str


@dataclasses.dataclass
class HubRun:
    """Outcome of `run_with_hub`: exit code, output and the objects passed to ``emit()`` by the script."""

    returncode: int
    stdout: str
    stderr: str
    results: list[Any]

    @property
    def result(self) -> Any:
        """Return the last object emitted by the script."""
        if not self.results:
            raise AssertionError(
                f"script emitted nothing\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
            )
        return self.results[-1]


# ----------------------------------------------------------------------------------------------------------------
# Internal state
# ----------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Entry:
    sha256: str  # content key in the blob store
    size: int
    git_oid: str  # git blob id (of the LFS pointer for LFS files)
    lfs: bool
    pointer_size: int = 0


@dataclasses.dataclass
class _Commit:
    oid: str
    parents: tuple[str, ...]
    title: str
    message: str
    author: str
    date: str
    tree: dict[str, _Entry]
    added: tuple[str, ...]
    deleted: tuple[str, ...]


@dataclasses.dataclass
class _Discussion:
    num: int
    title: str
    author: str
    created_at: str
    is_pr: bool
    target: str  # target branch of a pull request
    base_oid: str  # commit the pull request started from
    status: str = "open"
    merge_commit: str | None = None


@dataclasses.dataclass
class _Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    uid: str
    commits: dict[str, _Commit] = dataclasses.field(default_factory=dict)
    branches: dict[str, str] = dataclasses.field(default_factory=dict)
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    pulls: dict[int, str] = dataclasses.field(default_factory=dict)
    discussions: dict[int, _Discussion] = dataclasses.field(default_factory=dict)
    lfs_objects: set[str] = dataclasses.field(default_factory=set)
    next_discussion: int = 1

    @property
    def namespace(self) -> str:
        return self.repo_id.split("/", 1)[0]


class _HTTPError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}
        self.extra = extra or {}


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@contextlib.contextmanager
def _lookup_errors() -> Iterator[None]:
    """Turn 'not found' HTTP errors of the direct (non-HTTP) API into KeyError."""
    try:
        yield
    except _HTTPError as err:
        raise KeyError(err.message) from None


def _git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def _lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("1", "true", "yes", "on")


def _split_front_matter(content: str) -> str | None:
    """Return the YAML block of a README (between the leading '---' lines) or None."""
    text = content.lstrip("\ufeff")
    if not text.startswith("---"):
        return None
    lines = text.splitlines()
    if lines[0].strip() != "---":
        return None
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "\n".join(lines[1:i])
    return None


def _git_pattern_matches(pattern: str, path: str) -> bool:
    pattern = pattern.strip()
    if not pattern:
        return False
    anchored = pattern.startswith("/")
    pattern = pattern.lstrip("/")
    if pattern.endswith("/"):
        prefix = pattern.rstrip("/")
        return path.startswith(prefix + "/") or any(
            fnmatch.fnmatchcase(part, prefix) for part in path.split("/")[:-1]
        )
    if "/" in pattern or anchored:
        return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(
            path, pattern.replace("**/", "")
        )
    return fnmatch.fnmatchcase(posixpath.basename(path), pattern) or any(
        fnmatch.fnmatchcase(part, pattern) for part in path.split("/")[:-1]
    )


def _validate_card_metadata(metadata: Any, repo_type: str) -> list[str]:
    """Lightweight version of the Hub's card metadata validation; returns error messages."""
    if metadata is None:
        return []
    if not isinstance(metadata, dict):
        return ["YAML metadata must be a mapping (key: value pairs)."]
    errors: list[str] = []
    if repo_type == "dataset" and "configs" in metadata:
        configs = metadata["configs"]
        if not isinstance(configs, list):
            return ['"configs" must be a list of config definitions.']
        seen: set[str] = set()
        for i, cfg in enumerate(configs):
            if not isinstance(cfg, dict):
                errors.append(f'"configs[{i}]" must be a mapping.')
                continue
            name = cfg.get("config_name")
            if not isinstance(name, str) or not name:
                errors.append(
                    f'"configs[{i}].config_name" is required and must be a string.'
                )
            elif name in seen:
                errors.append(f'"configs[{i}].config_name" {name!r} is duplicated.')
            else:
                seen.add(name)
            data_files = cfg.get("data_files")
            if data_files is None or isinstance(data_files, str):
                continue
            if not isinstance(data_files, list):
                errors.append(f'"configs[{i}].data_files" must be a string or a list.')
                continue
            for j, item in enumerate(data_files):
                if isinstance(item, str):
                    continue
                if not isinstance(item, dict) or not isinstance(item.get("split"), str):
                    errors.append(
                        f'"configs[{i}].data_files[{j}]" must be a path or a {{split, path}} mapping.'
                    )
                    continue
                paths = item.get("path")
                if not (
                    isinstance(paths, str)
                    or (
                        isinstance(paths, list)
                        and all(isinstance(p, str) for p in paths)
                    )
                ):
                    errors.append(
                        f'"configs[{i}].data_files[{j}].path" must be a string or a list of strings.'
                    )
        default_count = sum(
            1 for cfg in configs if isinstance(cfg, dict) and cfg.get("default") is True
        )
        if default_count > 1:
            errors.append('Only one config can be marked as "default: true".')
    return errors


# ----------------------------------------------------------------------------------------------------------------
# Server
# ----------------------------------------------------------------------------------------------------------------


class HubServer:
    """Git-like, in-memory Hub (blobs on disk under ``root``) served over HTTP on 127.0.0.1 in a background thread."""

    def __init__(
        self,
        root: Path,
        token: str = DEFAULT_TOKEN,
        namespaces: Sequence[str] = ("ns",),
        *,
        lfs_threshold: int = 10 * _MiB,
        tree_page_size: int = 1000,
        tree_expand_page_size: int = 50,
        fail_on_internal_errors: bool = True,
        port: int = 0,
    ) -> None:
        """Configure the server (port 0: any free port); nothing listens until `start`."""
        self.root = Path(root)
        self.requested_port = port
        self.token = token
        self.namespaces = tuple(namespaces)
        self.lfs_threshold = lfs_threshold
        self.tree_page_size = tree_page_size
        self.tree_expand_page_size = tree_expand_page_size
        self.fail_on_internal_errors = fail_on_internal_errors
        self.requests_log: list[tuple[str, str]] = []
        self.request_records: list[RequestRecord] = []
        self.errors: list[str] = []
        self.lfs_uploads: list[str] = []
        self.fail_next_lfs_uploads = 0
        self.lfs_failure_status = 400
        self.url = ""
        self.port = 0
        self._tokens: dict[str, tuple[str, ...]] = {token: self.namespaces}
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._lock = threading.RLock()
        self._counter = itertools.count(1)
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        if self._httpd is not None:
            return self
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.requested_port), _Handler)
        httpd.daemon_threads = True
        httpd.hub = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=httpd.serve_forever, name="hub-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Self:
        """Start the server."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop the server."""
        self.stop()

    # -- configuration / direct manipulation (no HTTP) ------------------------------------------------------------

    def add_token(self, token: str, namespaces: Sequence[str]) -> None:
        """Register another valid token allowed to write to `namespaces`."""
        with self._lock:
            self._tokens[token] = tuple(namespaces)

    def clear_log(self) -> None:
        """Forget recorded requests and LFS uploads."""
        self.requests_log.clear()
        self.request_records.clear()
        self.lfs_uploads.clear()

    def create_repo(
        self, repo_id: str, repo_type: str = "dataset", private: bool = False
    ) -> None:
        """Create a repo (with the usual initial `.gitattributes` commit) without going through HTTP."""
        with self._lock:
            if (repo_type, repo_id) in self._repos:
                raise ValueError(f"{repo_type} repo {repo_id} already exists")
            self._new_repo(repo_type, repo_id, private, author=repo_id.split("/")[0])

    def commit_files(
        self,
        repo_id: str,
        files: Mapping[str, bytes | str | None],
        message: str = "Update files",
        revision: str = "main",
        repo_type: str = "dataset",
    ) -> str:
        """Commit files directly (value None deletes the path); return the new commit oid."""
        with self._lock, _lookup_errors():
            repo = self._repo_or_raise(repo_type, repo_id)
            if revision not in repo.branches:
                raise ValueError(f"{revision!r} is not a branch of {repo_id}")
            parent = repo.commits[repo.branches[revision]]
            tree = dict(parent.tree)
            added, deleted = [], []
            for path, data in files.items():
                if data is None:
                    tree.pop(path, None)
                    deleted.append(path)
                    continue
                raw = data.encode() if isinstance(data, str) else bytes(data)
                lfs = self._should_be_lfs(tree, path, len(raw), raw[:512])
                tree[path] = self._store(raw, lfs)
                if lfs:
                    repo.lfs_objects.add(tree[path].sha256)
                added.append(path)
            commit = self._add_commit(
                repo, (parent.oid,), message, "", repo.namespace, tree, added, deleted
            )
            repo.branches[revision] = commit.oid
            return commit.oid

    # -- introspection ---------------------------------------------------------------------------------------------

    def repo_exists(self, repo_id: str, repo_type: str = "dataset") -> bool:
        """Whether the repo exists."""
        return (repo_type, repo_id) in self._repos

    def files(
        self, repo_id: str, revision: str = "main", repo_type: str = "dataset"
    ) -> dict[str, bytes]:
        """Return ``{path: content}`` of every file at `revision` (branch, tag, ``refs/pr/N`` or commit oid)."""
        with self._lock, _lookup_errors():
            commit = self._resolve(self._repo_or_raise(repo_type, repo_id), revision)
            tree = dict(commit.tree)
        return {
            path: self._read_blob(entry.sha256) for path, entry in sorted(tree.items())
        }

    def file_infos(
        self, repo_id: str, revision: str = "main", repo_type: str = "dataset"
    ) -> dict[str, FileInfo]:
        """Return ``{path: FileInfo}`` (size, LFS or not, hashes) at `revision`."""
        with self._lock, _lookup_errors():
            commit = self._resolve(self._repo_or_raise(repo_type, repo_id), revision)
            return {
                p: FileInfo(
                    path=p, size=e.size, lfs=e.lfs, sha256=e.sha256, git_oid=e.git_oid
                )
                for p, e in sorted(commit.tree.items())
            }

    def commits(
        self, repo_id: str, repo_type: str = "dataset", revision: str | None = None
    ) -> list[CommitRecord]:
        """All commits of the repo oldest first, or only the first-parent history of `revision` (oldest first)."""
        with self._lock, _lookup_errors():
            repo = self._repo_or_raise(repo_type, repo_id)
            if revision is None:
                chain = list(repo.commits.values())
            else:
                chain = list(
                    reversed(self._history(repo, self._resolve(repo, revision)))
                )
            return [
                CommitRecord(
                    c.oid,
                    c.title,
                    c.message,
                    c.parents,
                    c.added,
                    c.deleted,
                    c.date,
                    c.author,
                )
                for c in chain
            ]

    def refs(self, repo_id: str, repo_type: str = "dataset") -> dict[str, str]:
        """Return ``{full ref name: commit oid}`` (``refs/heads/*``, ``refs/tags/*``, ``refs/pr/N``)."""
        with self._lock, _lookup_errors():
            repo = self._repo_or_raise(repo_type, repo_id)
            out = {f"refs/heads/{b}": oid for b, oid in repo.branches.items()}
            out.update({f"refs/tags/{t}": oid for t, oid in repo.tags.items()})
            out.update({f"refs/pr/{n}": oid for n, oid in repo.pulls.items()})
            return out

    def lfs_put_requests(self) -> list[str]:
        """Paths of every LFS upload (PUT) request received, failed ones included."""
        return [
            p
            for m, p in self.requests_log
            if m == "PUT" and p.startswith(LFS_UPLOAD_PREFIX)
        ]

    # -- client helpers --------------------------------------------------------------------------------------------

    def env(
        self, hf_home: Path | str | None = None, extra: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Environment for a client subprocess talking to this server (see `hub_env`)."""
        return hub_env(self, hf_home=hf_home, extra=extra)

    def run(self, script: str, **kwargs: Any) -> HubRun:
        """Run a Python snippet in a subprocess against this server (see `run_with_hub`)."""
        return run_with_hub(script, self, **kwargs)

    # -- internals: storage ----------------------------------------------------------------------------------------

    def _blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256[:2] / sha256

    def _write_blob(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self._blob_path(sha)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{sha}.{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return sha

    def _read_blob(self, sha256: str) -> bytes:
        return self._blob_path(sha256).read_bytes()

    def _store(self, data: bytes, lfs: bool) -> _Entry:
        sha = self._write_blob(data)
        if lfs:
            pointer = _lfs_pointer(sha, len(data))
            return _Entry(sha, len(data), _git_blob_oid(pointer), True, len(pointer))
        return _Entry(sha, len(data), _git_blob_oid(data), False)

    # -- internals: repos, revisions, commits ----------------------------------------------------------------------

    def _new_repo(
        self, repo_type: str, repo_id: str, private: bool, author: str
    ) -> _Repo:
        repo = _Repo(
            repo_type,
            repo_id,
            private,
            _now(),
            uid=hashlib.sha1(f"{repo_type}/{repo_id}".encode()).hexdigest()[:24],
        )
        tree = {
            ".gitattributes": self._store(DEFAULT_GITATTRIBUTES.encode(), lfs=False)
        }
        commit = self._add_commit(
            repo, (), "initial commit", "", author, tree, [".gitattributes"], []
        )
        repo.branches["main"] = commit.oid
        self._repos[(repo_type, repo_id)] = repo
        return repo

    def _add_commit(
        self,
        repo: _Repo,
        parents: tuple[str, ...],
        title: str,
        message: str,
        author: str,
        tree: dict[str, _Entry],
        added: Sequence[str],
        deleted: Sequence[str],
    ) -> _Commit:
        seed = (
            f"{repo.repo_type}/{repo.repo_id}\n{parents}\n{title}\n{next(self._counter)}\n{_now()}\n"
            f"{sorted(tree.items())}"
        )
        commit = _Commit(
            oid=hashlib.sha1(seed.encode()).hexdigest(),
            parents=parents,
            title=title,
            message=message,
            author=author,
            date=_now(),
            tree=tree,
            added=tuple(added),
            deleted=tuple(deleted),
        )
        repo.commits[commit.oid] = commit
        return commit

    def _repo_or_raise(self, repo_type: str, repo_id: str) -> _Repo:
        repo = self._repos.get((repo_type, repo_id))
        if repo is None:
            raise _HTTPError(
                404, f"Repository not found: {repo_type}s/{repo_id}", "RepoNotFound"
            )
        return repo

    def _resolve(self, repo: _Repo, revision: str) -> _Commit:
        rev = revision
        if rev in repo.branches:
            return repo.commits[repo.branches[rev]]
        if rev in repo.tags:
            return repo.commits[repo.tags[rev]]
        if rev.startswith("refs/heads/") and rev[len("refs/heads/") :] in repo.branches:
            return repo.commits[repo.branches[rev[len("refs/heads/") :]]]
        if rev.startswith("refs/tags/") and rev[len("refs/tags/") :] in repo.tags:
            return repo.commits[repo.tags[rev[len("refs/tags/") :]]]
        if rev.startswith("refs/pr/") and rev[len("refs/pr/") :].isdigit():
            num = int(rev[len("refs/pr/") :])
            if num in repo.pulls:
                return repo.commits[repo.pulls[num]]
        if 7 <= len(rev) <= 40 and all(c in "0123456789abcdef" for c in rev.lower()):
            matches = [oid for oid in repo.commits if oid.startswith(rev.lower())]
            if len(matches) == 1:
                return repo.commits[matches[0]]
        raise _HTTPError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def _history(self, repo: _Repo, head: _Commit) -> list[_Commit]:
        out = [head]
        while out[-1].parents:
            out.append(repo.commits[out[-1].parents[0]])
        return out

    def _last_commit(
        self, repo: _Repo, head: _Commit, path: str, is_dir: bool
    ) -> _Commit:
        def signature(commit: _Commit) -> Any:
            if is_dir:
                prefix = path + "/"
                return tuple(
                    (p, e.git_oid)
                    for p, e in sorted(commit.tree.items())
                    if p.startswith(prefix)
                )
            return commit.tree.get(path)

        current, sig = head, signature(head)
        while current.parents:
            parent = repo.commits[current.parents[0]]
            if signature(parent) != sig:
                return current
            current = parent
        return current

    def _should_be_lfs(
        self, tree: Mapping[str, _Entry], path: str, size: int, sample: bytes
    ) -> bool:
        if size == 0:
            return False
        if size >= self.lfs_threshold or b"\x00" in sample:
            return True
        attributes = tree.get(".gitattributes")
        text = (
            self._read_blob(attributes.sha256).decode("utf-8", "replace")
            if attributes
            else DEFAULT_GITATTRIBUTES
        )
        lfs = False
        for line in text.splitlines():
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            if _git_pattern_matches(parts[0], path):
                if "filter=lfs" in parts[1:]:
                    lfs = True
                elif "-filter" in parts[1:] or "!filter" in parts[1:]:
                    lfs = False
        return lfs

    # -- internals: auth -------------------------------------------------------------------------------------------

    def _identity(self, authorization: str | None) -> tuple[str, ...] | None:
        """Return the namespaces of the caller (None if anonymous); raise 401 on invalid credentials."""
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        token = value.strip()
        if scheme.lower() != "bearer" or token not in self._tokens:
            raise _HTTPError(401, "Invalid credentials in Authorization header")
        return self._tokens[token]

    @staticmethod
    def _check_read(repo: _Repo, who: tuple[str, ...] | None) -> None:
        if repo.private and (who is None or repo.namespace not in who):
            raise _HTTPError(
                404,
                f"Repository not found: {repo.repo_type}s/{repo.repo_id}",
                "RepoNotFound",
            )

    @staticmethod
    def _check_write(
        namespace: str, who: tuple[str, ...] | None, what: str = "write to"
    ) -> None:
        if who is None:
            raise _HTTPError(
                401,
                "You must be authenticated (Authorization: Bearer <token>) to perform this action.",
            )
        if namespace not in who:
            raise _HTTPError(
                403, f'You don\'t have the rights to {what} the namespace "{namespace}"'
            )


# ----------------------------------------------------------------------------------------------------------------
# HTTP handler
# ----------------------------------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes: with Nagle on, each response of a kept-alive
    # connection waits for the client's delayed ACK (~40 ms), as no real Hub does.
    disable_nagle_algorithm = True
    server_version = "HubServer/1.0"

    # Silence the default stderr access log.
    def log_message(self, format: str, *args: Any) -> None:
        return

    @property
    def hub(self) -> HubServer:
        return self.server.hub  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    # -- plumbing --------------------------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        self._raw_path = split.path
        self._query = {
            k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()
        }
        self._status = 0
        self.hub.requests_log.append((self.command, split.path))
        body = b""
        try:
            body = self._read_body()
            self._body = body
            _Router(self).route()
        except _HTTPError as err:
            self._send_error(err)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            tb = traceback.format_exc()
            self.hub.errors.append(f"{self.command} {self.path}\n{tb}")
            self._send_error(
                _HTTPError(
                    500, "HubServer internal error: " + tb.strip().splitlines()[-1]
                )
            )
        finally:
            self.hub.request_records.append(
                RequestRecord(
                    self.command,
                    split.path,
                    split.query,
                    self._status,
                    len(body),
                    bool(self.headers.get("Authorization")),
                )
            )

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        self._status = status
        self.send_response(status)
        hdrs = {"Content-Type": content_type, **(headers or {})}
        for key, value in hdrs.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def send_json(
        self,
        data: Any,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        self._send(status, json.dumps(data).encode(), headers, content_type)

    def _send_error(self, err: _HTTPError) -> None:
        message = " ".join(err.message.split())
        headers = {
            "X-Error-Message": message.encode("latin-1", "replace").decode("latin-1"),
            **err.headers,
        }
        if err.code:
            headers["X-Error-Code"] = err.code
        try:
            self.send_json({"error": err.message, **err.extra}, err.status, headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class _Router:
    """Request routing and endpoint implementations (one instance per request)."""

    def __init__(self, handler: _Handler) -> None:
        self.h = handler
        self.hub = handler.hub
        self.method = handler.command
        self.query = handler._query
        self.body: bytes = handler._body
        self.segs = handler._raw_path.split("/")[1:]
        if self.segs and self.segs[-1] == "" and len(self.segs) > 1:
            self.segs = self.segs[:-1]

    # -- helpers ---------------------------------------------------------------------------------------------------

    def who(self) -> tuple[str, ...] | None:
        return self.hub._identity(self.h.headers.get("Authorization"))

    def json_body(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except json.JSONDecodeError as exc:
            raise _HTTPError(400, f"Invalid JSON body: {exc}") from exc

    def repo_url(self, repo: _Repo) -> str:
        return f"{self.hub.url}/{_URL_PREFIX[repo.repo_type]}{repo.repo_id}"

    @staticmethod
    def take_revision(segs: list[str]) -> tuple[str, list[str]]:
        """Pop a revision from raw path segments (URL-encoded `refs%2Fpr%2F1` or plain `refs/pr/1`)."""
        if not segs:
            raise _HTTPError(400, "Missing revision")
        first = unquote(segs[0])
        if (
            first == "refs"
            and len(segs) >= 3
            and unquote(segs[1]) in ("pr", "heads", "tags", "convert")
        ):
            return f"refs/{unquote(segs[1])}/{unquote(segs[2])}", segs[3:]
        return first, segs[1:]

    def get_repo(
        self, repo_type: str, repo_id: str, who: tuple[str, ...] | None
    ) -> _Repo:
        repo = self.hub._repo_or_raise(repo_type, repo_id)
        self.hub._check_read(repo, who)
        return repo

    # -- routing ---------------------------------------------------------------------------------------------------

    def route(self) -> None:
        s, m = self.segs, self.method
        if s[:1] == ["api"]:
            return self.route_api(s[1:])
        if self.h._raw_path.startswith(LFS_UPLOAD_PREFIX) and m in (
            "PUT",
            "GET",
            "HEAD",
        ):
            return self.lfs_object(s[2:])
        if self.h._raw_path.startswith(LFS_VERIFY_PREFIX) and m == "POST":
            return self.lfs_verify(s[2:])
        # /[datasets|spaces/]ns/name.git/info/lfs/objects/batch  and  /[datasets|spaces/]ns/name/resolve/rev/path
        repo_type, rest = ("model", s)
        if s and s[0] in ("datasets", "spaces"):
            repo_type, rest = _REPO_TYPES[s[0]], s[1:]
        is_batch = (
            len(rest) == 6
            and rest[1].endswith(".git")
            and rest[2:] == ["info", "lfs", "objects", "batch"]
        )
        if is_batch and m == "POST":
            return self.lfs_batch(
                repo_type, f"{unquote(rest[0])}/{unquote(rest[1][:-4])}"
            )
        if len(rest) >= 4 and rest[2] == "resolve" and m in ("GET", "HEAD"):
            return self.resolve(
                repo_type, f"{unquote(rest[0])}/{unquote(rest[1])}", rest[3:]
            )
        raise _HTTPError(404, f"HubServer: no route for {m} {self.h._raw_path}")

    def route_api(self, s: list[str]) -> None:
        m = self.method
        if s == ["whoami-v2"] and m == "GET":
            return self.whoami()
        if s == ["validate-yaml"] and m == "POST":
            return self.validate_yaml()
        if s == ["repos", "create"] and m == "POST":
            return self.create_repo()
        if s == ["repos", "delete"] and m == "DELETE":
            return self.delete_repo()
        if s and s[0] in _REPO_TYPES:
            repo_type = _REPO_TYPES[s[0]]
            if len(s) == 1 and m == "GET":
                return self.list_repos(repo_type)
            if len(s) >= 3:
                repo_id = f"{unquote(s[1])}/{unquote(s[2])}"
                action, rest = (s[3] if len(s) > 3 else ""), s[4:]
                return self.route_repo(repo_type, repo_id, action, rest)
        raise _HTTPError(404, f"HubServer: no route for {m} {self.h._raw_path}")

    def route_repo(
        self, repo_type: str, repo_id: str, action: str, rest: list[str]
    ) -> None:
        m = self.method
        if action == "" and m == "GET":
            return self.repo_info(repo_type, repo_id, "main")
        if action == "revision" and m == "GET":
            rev, _ = self.take_revision(rest)
            return self.repo_info(repo_type, repo_id, rev)
        if action == "tree" and m == "GET":
            rev, path = self.take_revision(rest)
            return self.tree(
                repo_type, repo_id, rev, unquote("/".join(path)).strip("/")
            )
        if action == "paths-info" and m == "POST":
            return self.paths_info(repo_type, repo_id, self.take_revision(rest)[0])
        if action == "preupload" and m == "POST":
            return self.preupload(repo_type, repo_id, self.take_revision(rest)[0])
        if action == "commit" and m == "POST":
            return self.commit(repo_type, repo_id, self.take_revision(rest)[0])
        if action == "refs" and m == "GET":
            return self.list_refs(repo_type, repo_id)
        if action == "commits" and m == "GET":
            rev = self.take_revision(rest)[0] if rest else "main"
            return self.list_commits(repo_type, repo_id, rev)
        if action == "branch" and m in ("POST", "DELETE") and rest:
            return self.branch(repo_type, repo_id, unquote("/".join(rest)))
        if action == "tag" and m == "POST" and rest:
            return self.create_tag(repo_type, repo_id, self.take_revision(rest)[0])
        if action == "tag" and m == "DELETE" and rest:
            return self.delete_tag(repo_type, repo_id, unquote("/".join(rest)))
        if action == "discussions" and not rest:
            if m == "POST":
                return self.create_discussion(repo_type, repo_id)
            if m == "GET":
                return self.list_discussions(repo_type, repo_id)
        if action == "discussions" and rest and rest[0].isdigit():
            num, sub = int(rest[0]), rest[1:]
            if m == "GET" and not sub:
                return self.discussion_details(repo_type, repo_id, num)
            if m == "POST" and sub in (["merge"], ["status"]):
                return self.change_discussion(repo_type, repo_id, num, sub[0])
        if action == "resolve" and m in ("GET", "HEAD"):
            return self.resolve(repo_type, repo_id, rest)
        raise _HTTPError(404, f"HubServer: no route for {m} {self.h._raw_path}")

    # -- account / misc --------------------------------------------------------------------------------------------

    def whoami(self) -> None:
        who = self.who()
        if who is None:
            raise _HTTPError(401, "You must be authenticated to call whoami")
        user, orgs = (who[0] if who else "anonymous"), list(who[1:])
        self.h.send_json(
            {
                "type": "user",
                "id": hashlib.sha1(user.encode()).hexdigest()[:24],
                "name": user,
                "fullname": user,
                "email": f"{user}@example.com",
                "emailVerified": True,
                "isPro": False,
                "orgs": [
                    {"type": "org", "name": o, "fullname": o, "roleInOrg": "write"}
                    for o in orgs
                ],
                "auth": {
                    "type": "access_token",
                    "accessToken": {"displayName": "test", "role": "write"},
                },
            }
        )

    def validate_yaml(self) -> None:
        self.who()  # reject invalid credentials like every other endpoint
        payload = self.json_body()
        content = payload.get("content")
        repo_type = payload.get("repoType") or "model"
        if not isinstance(content, str):
            raise _HTTPError(400, '"content" must be a string')
        block = _split_front_matter(content)
        errors: list[str] = []
        if block is not None:
            try:
                metadata = yaml.safe_load(block)
            except yaml.YAMLError as exc:
                errors = [
                    f"Invalid YAML in README.md metadata: {' '.join(str(exc).split())}"
                ]
            else:
                errors = _validate_card_metadata(metadata, repo_type)
        if errors:
            body = {
                "errors": [{"message": e} for e in errors],
                "warnings": [],
                "error": "; ".join(errors),
            }
            self.h.send_json(
                body, 400, {"X-Error-Message": " ".join(errors[0].split())[:500]}
            )
            return
        self.h.send_json({"errors": [], "warnings": []})

    # -- repos -----------------------------------------------------------------------------------------------------

    def create_repo(self) -> None:
        who = self.who()
        payload = self.json_body()
        name = payload.get("name")
        if not isinstance(name, str) or not name or "/" in name:
            raise _HTTPError(400, "Invalid repo name")
        if who is None:
            raise _HTTPError(401, "You must be authenticated to create a repo")
        namespace = payload.get("organization") or (who[0] if who else "")
        repo_type = payload.get("type") or "model"
        if repo_type not in _URL_PREFIX:
            raise _HTTPError(400, f"Invalid repo type {repo_type!r}")
        self.hub._check_write(namespace, who, f"create a {repo_type} under")
        private = payload.get("private")
        visibility = payload.get("visibility")
        is_private = bool(private) if private is not None else visibility == "private"
        repo_id = f"{namespace}/{name}"
        with self.hub._lock:
            if (repo_type, repo_id) in self.hub._repos:
                repo = self.hub._repos[(repo_type, repo_id)]
                raise _HTTPError(
                    409,
                    f"You already created this {repo_type} repo: {repo_id}",
                    extra={"url": self.repo_url(repo)},
                )
            repo = self.hub._new_repo(repo_type, repo_id, is_private, author=who[0])
        self.h.send_json({"url": self.repo_url(repo), "name": repo_id, "id": repo.uid})

    def delete_repo(self) -> None:
        who = self.who()
        payload = self.json_body()
        namespace = payload.get("organization") or (who[0] if who else "")
        repo_type = payload.get("type") or "model"
        repo_id = f"{namespace}/{payload.get('name')}"
        with self.hub._lock:
            repo = self.get_repo(repo_type, repo_id, who)
            self.hub._check_write(repo.namespace, who, "delete repos in")
            del self.hub._repos[(repo_type, repo_id)]
        self.h.send_json({})

    def list_repos(self, repo_type: str) -> None:
        who = self.who()
        author, search = self.query.get("author"), self.query.get("search")
        out = []
        with self.hub._lock:
            for (rtype, rid), repo in sorted(self.hub._repos.items()):
                if rtype != repo_type or (
                    repo.private and (who is None or repo.namespace not in who)
                ):
                    continue
                if (author and repo.namespace != author) or (
                    search and search.lower() not in rid.lower()
                ):
                    continue
                out.append(
                    self.repo_json(
                        repo,
                        repo.commits[repo.branches["main"]],
                        blobs=False,
                        siblings=False,
                    )
                )
        self.h.send_json(out)

    def card_data(self, commit: _Commit) -> dict[str, Any] | None:
        entry = commit.tree.get("README.md")
        if entry is None:
            return None
        block = _split_front_matter(
            self.hub._read_blob(entry.sha256).decode("utf-8", "replace")
        )
        if block is None:
            return None
        try:
            data = yaml.safe_load(block)
        except yaml.YAMLError:
            return None
        return data if isinstance(data, dict) else None

    def repo_json(
        self, repo: _Repo, commit: _Commit, blobs: bool, siblings: bool = True
    ) -> dict[str, Any]:
        card = self.card_data(commit)
        data: dict[str, Any] = {
            "_id": repo.uid,
            "id": repo.repo_id,
            "author": repo.namespace,
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": list(card.get("tags") or [])
            if card and isinstance(card.get("tags"), list)
            else [],
            "usedStorage": sum(e.size for e in commit.tree.values()),
        }
        if repo.repo_type == "model":
            data["modelId"] = repo.repo_id
        if card is not None:
            data["cardData"] = card
        if siblings:
            sibs = []
            for path, entry in sorted(commit.tree.items()):
                sib: dict[str, Any] = {"rfilename": path}
                if blobs:
                    sib.update(size=entry.size, blobId=entry.git_oid)
                    if entry.lfs:
                        sib["lfs"] = {
                            "size": entry.size,
                            "sha256": entry.sha256,
                            "pointerSize": entry.pointer_size,
                        }
                sibs.append(sib)
            data["siblings"] = sibs
        return data

    def repo_info(self, repo_type: str, repo_id: str, revision: str) -> None:
        who = self.who()
        with self.hub._lock:
            repo = self.get_repo(repo_type, repo_id, who)
            commit = self.hub._resolve(repo, revision)
            data = self.repo_json(repo, commit, blobs=_truthy(self.query.get("blobs")))
        self.h.send_json(data)

    # -- tree / paths-info -----------------------------------------------------------------------------------------

    def path_json(
        self, repo: _Repo, head: _Commit, path: str, expand: bool
    ) -> dict[str, Any]:
        entry = head.tree.get(path)
        if entry is not None:
            item: dict[str, Any] = {
                "type": "file",
                "oid": entry.git_oid,
                "size": entry.size,
                "path": path,
            }
            if entry.lfs:
                item["lfs"] = {
                    "oid": entry.sha256,
                    "size": entry.size,
                    "pointerSize": entry.pointer_size,
                }
            if expand:
                item["securityFileStatus"] = {
                    "status": "safe",
                    "avScan": {"virusFound": False, "virusNames": None},
                    "pickleImportScan": None,
                }
        else:
            prefix = path + "/"
            listing = "\n".join(
                f"{p} {e.git_oid}"
                for p, e in sorted(head.tree.items())
                if p.startswith(prefix)
            )
            item = {
                "type": "directory",
                "oid": hashlib.sha1(listing.encode()).hexdigest(),
                "size": 0,
                "path": path,
            }
        if expand:
            last = self.hub._last_commit(repo, head, path, is_dir=entry is None)
            item["lastCommit"] = {
                "id": last.oid,
                "title": last.title,
                "date": last.date,
            }
        return item

    def tree(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        who = self.who()
        recursive, expand = (
            _truthy(self.query.get("recursive")),
            _truthy(self.query.get("expand")),
        )
        try:
            cursor = int(self.query.get("cursor") or 0)
        except ValueError as exc:
            raise _HTTPError(400, "Invalid cursor") from exc
        page_size = (
            self.hub.tree_expand_page_size if expand else self.hub.tree_page_size
        )
        if self.query.get("limit"):
            page_size = min(page_size, max(1, int(self.query["limit"])))
        with self.hub._lock:
            repo = self.get_repo(repo_type, repo_id, who)
            head = self.hub._resolve(repo, revision)
            if path and path in head.tree:
                raise _HTTPError(
                    404,
                    f"Entry not found: {path} is a file",
                    "EntryNotFound",
                    {"X-Repo-Commit": head.oid},
                )
            prefix = path + "/" if path else ""
            dirs: set[str] = set()
            files: list[str] = []
            for p in head.tree:
                if not p.startswith(prefix):
                    continue
                parts = p[len(prefix) :].split("/")
                if recursive:
                    dirs.update(
                        prefix + "/".join(parts[:i]) for i in range(1, len(parts))
                    )
                    files.append(p)
                elif len(parts) > 1:
                    dirs.add(prefix + parts[0])
                else:
                    files.append(p)
            if path and not dirs and not files:
                raise _HTTPError(
                    404,
                    f"Entry not found: {path}",
                    "EntryNotFound",
                    {"X-Repo-Commit": head.oid},
                )
            ordered = sorted(dirs | set(files))
            page = ordered[cursor : cursor + page_size]
            items = [self.path_json(repo, head, p, expand) for p in page]
        headers = {}
        if cursor + page_size < len(ordered):
            params = {
                "recursive": str(recursive).lower(),
                "expand": str(expand).lower(),
                "cursor": cursor + page_size,
            }
            if self.query.get("limit"):
                params["limit"] = self.query["limit"]
            query = "&".join(f"{k}={v}" for k, v in params.items())
            headers["Link"] = f'<{self.hub.url}{self.h._raw_path}?{query}>; rel="next"'
        self.h.send_json(items, headers=headers)

    def paths_info(self, repo_type: str, repo_id: str, revision: str) -> None:
        who = self.who()
        content_type = self.h.headers.get("Content-Type", "")
        if "json" in content_type:
            payload = self.json_body()
            paths, expand = payload.get("paths") or [], bool(payload.get("expand"))
        else:
            form = parse_qs(self.body.decode(), keep_blank_values=True)
            paths, expand = (
                form.get("paths", []),
                _truthy((form.get("expand") or ["false"])[-1]),
            )
        if isinstance(paths, str):
            paths = [paths]
        with self.hub._lock:
            repo = self.get_repo(repo_type, repo_id, who)
            head = self.hub._resolve(repo, revision)
            out = []
            for raw in paths:
                path = str(raw).strip("/")
                if not path:
                    continue
                if path in head.tree or any(
                    p.startswith(path + "/") for p in head.tree
                ):
                    out.append(self.path_json(repo, head, path, expand))
        self.h.send_json(out)

    # -- refs / commits --------------------------------------------------------------------------------------------

    def list_refs(self, repo_type: str, repo_id: str) -> None:
        who = self.who()
        with self.hub._lock:
            repo = self.get_repo(repo_type, repo_id, who)
            data: dict[str, Any] = {
                "branches": [
                    {"name": b, "ref": f"refs/heads/{b}", "targetCommit": o}
                    for b, o in repo.branches.items()
                ],
                "converts": [],
                "tags": [
                    {"name": t, "ref": f"refs/tags/{t}", "targetCommit": o}
                    for t, o in repo.tags.items()
                ],
            }
            if _truthy(self.query.get("include_prs")):
                data["pullRequests"] = [
                    {"name": f"refs/pr/{n}", "ref": f"refs/pr/{n}", "targetCommit": o}
                    for n, o in repo.pulls.items()
                ]
        self.h.send_json(data)

    def list_commits(self, repo_type: str, repo_id: str, revision: str) -> None:
        who = self.who()
        with self.hub._lock:
            repo = self.get_repo(repo_type, repo_id, who)
            history = self.hub._history(repo, self.hub._resolve(repo, revision))
            data = []
            for c in history:
                message = c.title + ("\n\n" + c.message if c.message else "")
                item: dict[str, Any] = {
                    "id": c.oid,
                    "title": c.title,
                    "message": message,
                    "authors": [{"user": c.author, "avatar": None}],
                    "date": c.date,
                }
                if self.query.get("expand[]") == "formatted":
                    item["formatted"] = {"title": c.title, "message": message}
                data.append(item)
        self.h.send_json(data)

    def branch(self, repo_type: str, repo_id: str, branch: str) -> None:
        who = self.who()
        with self.hub._lock:
            repo = self.get_repo(repo_type, repo_id, who)
            self.hub._check_write(repo.namespace, who)
            if self.method == "DELETE":
                if branch not in repo.branches:
                    raise _HTTPError(
                        404, f"Invalid rev id: {branch}", "RevisionNotFound"
                    )
                if branch == "main":
                    raise _HTTPError(403, "Cannot delete the default branch")
                del repo.branches[branch]
            else:
                if branch in repo.branches:
                    raise _HTTPError(
                        409, f"Reference already exists: refs/heads/{branch}"
                    )
                start = self.json_body().get("startingPoint") or "main"
                repo.branches[branch] = self.hub._resolve(repo, start).oid
        self.h.send_json({})

    def create_tag(self, repo_type: str, repo_id: str, revision: str) -> None:
        who = self.who()
        payload = self.json_body()
        tag = payload.get("tag")
        if not isinstance(tag, str) or not tag:
            raise _HTTPError(400, '"tag" is required')
        with self.hub._lock:
            repo = self.get_repo(repo_type, repo_id, who)
            self.hub._check_write(repo.namespace, who)
            if tag in repo.tags:
                raise _HTTPError(409, f"Tag already exists: {tag}")
            repo.tags[tag] = self.hub._resolve(repo, revision).oid
        self.h.send_json({})

    def delete_tag(self, repo_type: str, repo_id: str, tag: str) -> None:
        who = self.who()
        with self.hub._lock:
            repo = self.get_repo(repo_type, repo_id, who)
            self.hub._check_write(repo.namespace, who)
            if tag not in repo.tags:
                raise _HTTPError(404, f"Invalid rev id: {tag}", "RevisionNotFound")
            del repo.tags[tag]
        self.h.send_json({})

    def create_discussion(self, repo_type: str, repo_id: str) -> None:
        who = self.who()
        if who is None:
            raise _HTTPError(401, "You must be authenticated to open a discussion")
        payload = self.json_body()
        with self.hub._lock:
            repo = self.get_repo(repo_type, repo_id, who)
            head = repo.commits[repo.branches["main"]].oid
            title = str(payload.get("title") or "")
            if payload.get("pullRequest"):
                num = self.open_pull(repo, head, "main", head, title, who[0])
            else:
                num = repo.next_discussion
                repo.next_discussion += 1
                repo.discussions[num] = _Discussion(
                    num, title, who[0], _now(), False, "main", head
                )
            data = self.discussion_json(repo, repo.discussions[num])
        self.h.send_json(data)

    def open_pull(
        self, repo: _Repo, head: str, target: str, base: str, title: str, author: str
    ) -> int:
        num = repo.next_discussion
        repo.next_discussion += 1
        repo.pulls[num] = head
        repo.discussions[num] = _Discussion(
            num, title, author, _now(), True, target, base
        )
        return num

    def get_discussion(self, repo: _Repo, num: int) -> _Discussion:
        if num not in repo.discussions:
            raise _HTTPError(404, f"Discussion #{num} not found")
        return repo.discussions[num]

    def discussion_json(self, repo: _Repo, d: _Discussion) -> dict[str, Any]:
        data: dict[str, Any] = {
            "num": d.num,
            "title": d.title,
            "status": d.status,
            "isPullRequest": d.is_pr,
            "author": {"name": d.author},
            "createdAt": d.created_at,
            "repo": {"name": repo.repo_id, "type": repo.repo_type},
            "pinned": False,
            "numComments": 0,
            "events": [],
            "diff": "",
            "url": f"{self.repo_url(repo)}/discussions/{d.num}",
        }
        if d.is_pr:
            data["changes"] = {
                "base": f"refs/heads/{d.target}",
                "mergeCommitId": d.merge_commit,
            }
            data["filesWithConflicts"] = []
        return data

    def list_discussions(self, repo_type: str, repo_id: str) -> None:
        who = self.who()
        kind, status = self.query.get("type"), self.query.get("status")
        author = self.query.get("author")
        with self.hub._lock:
            repo = self.get_repo(repo_type, repo_id, who)
            items = [
                self.discussion_json(repo, d)
                for d in sorted(repo.discussions.values(), key=lambda d: -d.num)
                if (kind in (None, "all") or d.is_pr == (kind == "pull_request"))
                and (
                    status in (None, "all")
                    or (d.status == "open") == (status == "open")
                )
                and (author is None or d.author == author)
            ]
        closed = sum(1 for i in items if i["status"] != "open")
        self.h.send_json(
            {
                "discussions": items,
                "count": len(items),
                "start": 0,
                "numClosedDiscussions": closed,
            }
        )

    def discussion_details(self, repo_type: str, repo_id: str, num: int) -> None:
        who = self.who()
        with self.hub._lock:
            repo = self.get_repo(repo_type, repo_id, who)
            data = self.discussion_json(repo, self.get_discussion(repo, num))
        self.h.send_json(data)

    def change_discussion(
        self, repo_type: str, repo_id: str, num: int, action: str
    ) -> None:
        who = self.who()
        payload = self.json_body() if self.body else {}
        with self.hub._lock:
            repo = self.get_repo(repo_type, repo_id, who)
            d = self.get_discussion(repo, num)
            if action == "status":
                if who is None:
                    raise _HTTPError(401, "You must be authenticated")
                new_status = payload.get("status")
                if new_status not in ("open", "closed") or d.status == "merged":
                    raise _HTTPError(400, f"Cannot set status {new_status!r}")
                d.status = new_status
                event = {
                    "id": hashlib.sha1(f"{num}{_now()}".encode()).hexdigest()[:24],
                    "type": "status-change",
                    "createdAt": _now(),
                    "author": {"name": who[0]},
                    "data": {"status": new_status},
                }
                self.h.send_json({"newStatus": event})
                return
            self.hub._check_write(repo.namespace, who)
            if not d.is_pr or d.status != "open":
                raise _HTTPError(400, f"Discussion #{num} is not an open pull request")
            self.merge_pull(repo, d, who[0] if who else "anonymous")
        self.h.send_json({})

    def merge_pull(self, repo: _Repo, d: _Discussion, author: str) -> None:
        """Squash-merge a pull request: apply its changes (vs. its base) onto the target branch."""
        base, head = repo.commits[d.base_oid], repo.commits[repo.pulls[d.num]]
        target = repo.commits[repo.branches[d.target]]
        tree = dict(target.tree)
        added, deleted = [], []
        for path in sorted(set(base.tree) | set(head.tree)):
            before, after = base.tree.get(path), head.tree.get(path)
            if before == after:
                continue
            if after is None:
                tree.pop(path, None)
                deleted.append(path)
            else:
                tree[path] = after
                added.append(path)
        title = f"{d.title} (#{d.num})"
        commit = self.hub._add_commit(
            repo, (target.oid,), title, "", author, tree, added, deleted
        )
        repo.branches[d.target] = commit.oid
        d.status, d.merge_commit = "merged", commit.oid

    # -- upload: preupload, LFS, commit ----------------------------------------------------------------------------

    def check_push(
        self, repo: _Repo, who: tuple[str, ...] | None, pull_request: bool
    ) -> None:
        if pull_request:
            if who is None:
                raise _HTTPError(
                    401, "You must be authenticated to open a pull request"
                )
            return
        self.hub._check_write(repo.namespace, who)

    def preupload(self, repo_type: str, repo_id: str, revision: str) -> None:
        who = self.who()
        payload = self.json_body()
        files = payload.get("files")
        if not isinstance(files, list):
            raise _HTTPError(400, '"files" must be a list')
        with self.hub._lock:
            repo = self.get_repo(repo_type, repo_id, who)
            self.check_push(
                repo,
                who,
                _truthy(self.query.get("create_pr")) or revision.startswith("refs/pr/"),
            )
            head = self.hub._resolve(repo, revision)
            gitignore = payload.get("gitIgnore")
            if gitignore is None and ".gitignore" in head.tree:
                gitignore = self.hub._read_blob(head.tree[".gitignore"].sha256).decode(
                    "utf-8", "replace"
                )
            ignore_patterns = [
                ln.strip()
                for ln in (gitignore or "").splitlines()
                if ln.strip() and not ln.startswith("#")
            ]
            out = []
            for f in files:
                path, size = str(f.get("path", "")), int(f.get("size") or 0)
                sample = base64.b64decode(f.get("sample") or "")
                lfs = self.hub._should_be_lfs(head.tree, path, size, sample)
                existing = head.tree.get(path)
                oid = None
                if existing is not None:
                    oid = existing.sha256 if existing.lfs else existing.git_oid
                ignored = any(
                    _git_pattern_matches(p, path)
                    for p in ignore_patterns
                    if not p.startswith("!")
                )
                out.append(
                    {
                        "path": path,
                        "uploadMode": "lfs" if lfs else "regular",
                        "shouldIgnore": ignored,
                        "oid": oid,
                    }
                )
        self.h.send_json({"files": out, "commitOid": head.oid})

    def lfs_batch(self, repo_type: str, repo_id: str) -> None:
        who = self.who()
        payload = self.json_body()
        operation = payload.get("operation")
        ref = (payload.get("ref") or {}).get("name")
        objects = payload.get("objects")
        if operation not in ("upload", "download") or not isinstance(objects, list):
            raise _HTTPError(422, "Invalid LFS batch request")
        with self.hub._lock:
            repo = self.get_repo(repo_type, repo_id, who)
            if operation == "upload":
                self.check_push(
                    repo, who, ref is None or str(ref).startswith("refs/pr/")
                )
                if ref is not None:
                    self.hub._resolve(repo, str(ref))
            present = set(repo.lfs_objects)
        base = f"{self.hub.url}{{prefix}}{repo_type}/{repo_id}/"
        out = []
        for obj in objects:
            oid, size = obj.get("oid"), obj.get("size")
            if not (
                isinstance(oid, str)
                and len(oid) == 64
                and isinstance(size, int)
                and size >= 0
            ):
                out.append(
                    {
                        "oid": str(oid),
                        "size": size if isinstance(size, int) else -1,
                        "error": {
                            "code": 422,
                            "message": "Invalid object (oid must be sha256, size >= 0)",
                        },
                    }
                )
                continue
            item: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if operation == "download":
                if oid not in present:
                    item["error"] = {"code": 404, "message": "Object does not exist"}
                else:
                    item["actions"] = {
                        "download": {
                            "href": base.format(prefix=LFS_UPLOAD_PREFIX) + oid
                        }
                    }
            elif oid not in present:
                item["actions"] = {
                    "upload": {
                        "href": base.format(prefix=LFS_UPLOAD_PREFIX) + oid,
                        "header": {},
                    },
                    "verify": {
                        "href": base.format(prefix=LFS_VERIFY_PREFIX).rstrip("/"),
                        "header": {},
                    },
                }
            out.append(item)
        self.h.send_json(
            {"transfer": "basic", "objects": out, "hash_algo": "sha256"},
            content_type="application/vnd.git-lfs+json",
        )

    def lfs_target(self, segs: list[str]) -> tuple[_Repo, str | None]:
        if len(segs) < 3:
            raise _HTTPError(404, "Invalid LFS URL")
        repo_type, repo_id = unquote(segs[0]), f"{unquote(segs[1])}/{unquote(segs[2])}"
        with self.hub._lock:
            repo = self.hub._repo_or_raise(repo_type, repo_id)
        return repo, (segs[3] if len(segs) > 3 else None)

    def lfs_object(self, segs: list[str]) -> None:
        repo, oid = self.lfs_target(segs)
        if not oid:
            raise _HTTPError(404, "Missing LFS oid")
        if self.method in ("GET", "HEAD"):
            if oid not in repo.lfs_objects:
                raise _HTTPError(404, "LFS object not found")
            return self.h._send(
                200,
                self.hub._read_blob(oid),
                {"ETag": f'"{oid}"'},
                "application/octet-stream",
            )
        with self.hub._lock:
            fail = self.hub.fail_next_lfs_uploads > 0
            if fail:
                self.hub.fail_next_lfs_uploads -= 1
        if fail:
            got = len(self.body) // 2
            raise _HTTPError(
                self.hub.lfs_failure_status,
                f"IncompleteBody: upload of {oid} interrupted after {got} of {len(self.body)} bytes (simulated)",
            )
        if hashlib.sha256(self.body).hexdigest() != oid:
            raise _HTTPError(400, f"Uploaded content does not match sha256 {oid}")
        self.hub._write_blob(self.body)
        with self.hub._lock:
            repo.lfs_objects.add(oid)
        self.hub.lfs_uploads.append(oid)
        self.h._send(
            200, b"", {"ETag": f'"{hashlib.md5(self.body).hexdigest()}"'}, "text/plain"
        )

    def lfs_verify(self, segs: list[str]) -> None:
        who = self.who()
        repo, _ = self.lfs_target(segs)
        self.hub._check_read(repo, who)
        payload = self.json_body()
        oid, size = payload.get("oid"), payload.get("size")
        if oid not in repo.lfs_objects:
            raise _HTTPError(404, f"LFS object {oid} not found")
        if size is not None and self.hub._blob_path(str(oid)).stat().st_size != size:
            raise _HTTPError(422, f"LFS object {oid} has a different size")
        self.h.send_json(
            {"oid": oid, "size": size}, content_type="application/vnd.git-lfs+json"
        )

    def commit(self, repo_type: str, repo_id: str, revision: str) -> None:
        who = self.who()
        create_pr = _truthy(self.query.get("create_pr"))
        try:
            items = [
                json.loads(line) for line in self.body.splitlines() if line.strip()
            ]
        except json.JSONDecodeError as exc:
            raise _HTTPError(400, f"Invalid NDJSON commit payload: {exc}") from exc
        if not items or items[0].get("key") != "header":
            raise _HTTPError(400, "Commit payload must start with a header line")
        header = items[0].get("value") or {}
        summary = str(header.get("summary") or "").strip()
        if not summary:
            raise _HTTPError(400, "Commit summary is required")
        with self.hub._lock:
            repo = self.get_repo(repo_type, repo_id, who)
            is_pr_ref = revision.startswith("refs/pr/")
            self.check_push(repo, who, create_pr or is_pr_ref)
            base = self.hub._resolve(repo, revision)
            branch = revision.removeprefix("refs/heads/")
            if create_pr and branch not in repo.branches:
                raise _HTTPError(
                    404,
                    f"Invalid rev id: {revision} (not a branch)",
                    "RevisionNotFound",
                )
            if not create_pr and not is_pr_ref and branch not in repo.branches:
                raise _HTTPError(400, f"Cannot commit to {revision!r}: not a branch")
            parent_commit = header.get("parentCommit")
            if parent_commit:
                parent = self.hub._resolve(repo, str(parent_commit))
                if not create_pr and parent.oid != base.oid:
                    raise _HTTPError(
                        412,
                        "A commit has happened since. Please refresh and try again.",
                    )
                base = parent
            tree = dict(base.tree)
            added: list[str] = []
            deleted: list[str] = []
            for item in items[1:]:
                key, value = item.get("key"), item.get("value") or {}
                path = str(value.get("path", "")).strip("/")
                if (
                    not path
                    or ".." in path.split("/")
                    or path.split("/")[0] in (".git",)
                ):
                    raise _HTTPError(400, f"Invalid path {path!r}")
                if key == "file":
                    try:
                        raw = (
                            base64.b64decode(value.get("content", ""), validate=True)
                            if value.get("encoding") == "base64"
                            else str(value.get("content", "")).encode()
                        )
                    except binascii.Error as exc:
                        raise _HTTPError(
                            400, f"Invalid base64 content for {path}"
                        ) from exc
                    if len(raw) >= self.hub.lfs_threshold:
                        raise _HTTPError(
                            400,
                            f"Your push was rejected because {path} is larger than 10 MiB: use LFS",
                        )
                    if b"\x00" in raw:
                        raise _HTTPError(
                            400,
                            f"Your push was rejected because {path} is a binary file: use LFS",
                        )
                    tree[path] = self.hub._store(raw, lfs=False)
                    added.append(path)
                elif key == "lfsFile":
                    oid = str(value.get("oid", ""))
                    if (
                        value.get("algo", "sha256") != "sha256"
                        or oid not in repo.lfs_objects
                    ):
                        raise _HTTPError(
                            400,
                            f"Your push was rejected because an LFS pointer pointed to a file that does not exist"
                            f" ({path}, sha256 {oid})",
                        )
                    size = self.hub._blob_path(oid).stat().st_size
                    if value.get("size") is not None and int(value["size"]) != size:
                        raise _HTTPError(400, f"LFS pointer size mismatch for {path}")
                    pointer = _lfs_pointer(oid, size)
                    tree[path] = _Entry(
                        oid, size, _git_blob_oid(pointer), True, len(pointer)
                    )
                    added.append(path)
                elif key == "deletedFile":
                    if path not in tree:
                        raise _HTTPError(
                            404,
                            f"A file with this name doesn't exist: {path}",
                            "EntryNotFound",
                        )
                    del tree[path]
                    deleted.append(path)
                elif key == "deletedFolder":
                    victims = [p for p in tree if p.startswith(path + "/")]
                    if not victims:
                        raise _HTTPError(
                            404,
                            f"A folder with this name doesn't exist: {path}",
                            "EntryNotFound",
                        )
                    for p in victims:
                        del tree[p]
                    deleted.extend(sorted(victims))
                else:
                    raise _HTTPError(400, f"Unknown commit operation {key!r}")
            author = who[0] if who else "anonymous"
            commit = self.hub._add_commit(
                repo,
                (base.oid,),
                summary,
                str(header.get("description") or ""),
                author,
                tree,
                added,
                deleted,
            )
            data: dict[str, Any] = {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{self.repo_url(repo)}/commit/{commit.oid}",
                "hookOutput": "",
            }
            if create_pr:
                num = self.open_pull(
                    repo, commit.oid, branch, base.oid, summary, author
                )
                data["pullRequestUrl"] = f"{self.repo_url(repo)}/discussions/{num}"
            elif is_pr_ref:
                repo.pulls[int(revision[len("refs/pr/") :])] = commit.oid
            else:
                repo.branches[branch] = commit.oid
        self.h.send_json(data)

    # -- downloads -------------------------------------------------------------------------------------------------

    def resolve(self, repo_type: str, repo_id: str, segs: list[str]) -> None:
        who = self.who()
        revision, rest = self.take_revision(segs)
        path = unquote("/".join(rest))
        with self.hub._lock:
            repo = self.get_repo(repo_type, repo_id, who)
            head = self.hub._resolve(repo, revision)
            entry = head.tree.get(path)
        if entry is None:
            raise _HTTPError(
                404,
                f"Entry not found: {path}",
                "EntryNotFound",
                {"X-Repo-Commit": head.oid},
            )
        data = self.hub._read_blob(entry.sha256)
        etag = entry.sha256 if entry.lfs else entry.git_oid
        name = posixpath.basename(path)
        headers = {
            "X-Repo-Commit": head.oid,
            "ETag": f'"{etag}"',
            "Accept-Ranges": "bytes",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}; filename=\"{quote(name)}\"",
            "Cache-Control": "no-cache",
        }
        if entry.lfs:
            headers["X-Linked-Etag"] = f'"{entry.sha256}"'
            headers["X-Linked-Size"] = str(entry.size)
        status, body = 200, data
        range_header = self.h.headers.get("Range")
        if range_header:
            span = _parse_range(range_header, len(data))
            if span == "unsatisfiable":
                headers["Content-Range"] = f"bytes */{len(data)}"
                raise _HTTPError(
                    416, "Requested Range Not Satisfiable", headers=headers
                )
            if span is not None:
                start, end = span
                status, body = 206, data[start : end + 1]
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        self.h._send(status, body, headers, "application/octet-stream")


def _parse_range(value: str, total: int) -> tuple[int, int] | str | None:
    """Parse a single ``bytes=`` range; None means 'ignore (serve everything)'."""
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            length = int(last)
            if length <= 0:
                return "unsatisfiable"
            return max(0, total - length), total - 1
        start = int(first)
        end = int(last) if last else total - 1
    except ValueError:
        return None
    if start >= total or end < start:
        return "unsatisfiable"
    return start, min(end, total - 1)


# ----------------------------------------------------------------------------------------------------------------
# Client-side helpers: environment + subprocess runner
# ----------------------------------------------------------------------------------------------------------------

_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "ftp_proxy"}
_RUNNER = f"""\
import builtins, json, runpy, sys


def emit(obj):
    \"\"\"Send a JSON-serialisable object back to the test (see HubRun.results).\"\"\"
    sys.stdout.write({_RESULT_MARKER!r} + json.dumps(obj, default=str) + "\\n")
    sys.stdout.flush()


builtins.emit = emit
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def hub_env(
    server: HubServer,
    hf_home: Path | str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment pointing huggingface_hub/datasets at `server` (token, endpoint, isolated caches, no Xet/proxy)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (
            k.startswith(("HF_", "HUGGINGFACE_"))
            or k.lower() in _PROXY_VARS
            or k == "TRANSFORMERS_OFFLINE"
        )
    }
    home = Path(hf_home) if hf_home is not None else server.root / "client_home"
    home.mkdir(parents=True, exist_ok=True)
    pythonpath = [str(REPO_ROOT)] + (
        [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []
    )
    env.update(
        {
            "HF_ENDPOINT": server.url,
            "HF_TOKEN": server.token,
            "HF_HOME": str(home),
            "HF_HUB_CACHE": str(home / "hub"),
            "HF_DATASETS_CACHE": str(home / "datasets"),
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_OFFLINE": "0",
            "HF_DATASETS_OFFLINE": "0",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HUB_DISABLE_UPDATE_CHECK": "1",
            "HF_HUB_DISABLE_SYMLINKS_WARNING": "1",
            "HF_HUB_ETAG_TIMEOUT": "30",
            "HF_HUB_DOWNLOAD_TIMEOUT": "30",
            "DO_NOT_TRACK": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PYTHONPATH": os.pathsep.join(pythonpath),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    if extra:
        env.update(extra)
    return env


def run_with_hub(
    script: str,
    server: HubServer,
    *,
    hf_home: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 180.0,
    check: bool = True,
    cwd: Path | str | None = None,
    args: Sequence[str] = (),
) -> HubRun:
    """Run a (dedented) Python snippet with ``sys.executable`` against `server`.

    The snippet runs as ``__main__`` with ``sys.argv[1:] == args`` and a builtin ``emit(obj)`` that sends a
    JSON-serialisable object back (``HubRun.results``). With ``check=True`` a non-zero exit raises an
    AssertionError showing the output, the last requests and any server-side errors.
    """
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=server.root))
    script_path = run_dir / "hub_script.py"
    script_path.write_text(textwrap.dedent(script), encoding="utf-8")
    runner_path = run_dir / "hub_runner.py"
    runner_path.write_text(_RUNNER, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(runner_path), str(script_path), *args],
        env=hub_env(server, hf_home=hf_home, extra=env),
        cwd=str(cwd) if cwd is not None else str(run_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    results, lines = [], []
    for line in proc.stdout.split("\n"):
        if line.startswith(_RESULT_MARKER):
            results.append(json.loads(line[len(_RESULT_MARKER) :]))
        else:
            lines.append(line)
    run = HubRun(proc.returncode, "\n".join(lines), proc.stderr, results)
    if check and proc.returncode != 0:
        recent = "\n".join(
            f"  {r.status} {r.method} {r.path}{'?' + r.query if r.query else ''}"
            for r in server.request_records[-40:]
        )
        raise AssertionError(
            f"hub script failed (exit {proc.returncode})\n--- stdout ---\n{run.stdout[-4000:]}\n"
            f"--- stderr ---\n{proc.stderr[-8000:]}\n--- last requests ---\n{recent}\n"
            + (
                "--- server errors ---\n" + "\n".join(server.errors)
                if server.errors
                else ""
            )
        )
    return run


@pytest.fixture(name="hub_server")
def hub_server_fixture(tmp_path: Path) -> Iterator[HubServer]:
    """A started `HubServer` (token ``hf_test_token``, namespace ``ns``); fails the test on server-side bugs."""
    server = HubServer(tmp_path / "hub")
    server.start()
    try:
        yield server
    finally:
        server.stop()
    if server.fail_on_internal_errors and server.errors:
        pytest.fail(
            "HubServer internal errors:\n" + "\n".join(server.errors), pytrace=False
        )


@pytest.fixture(name="hub_api")
def hub_api_fixture(hub_server: HubServer, monkeypatch: pytest.MonkeyPatch) -> HfApi:
    """In-process ``HfApi`` bound to `hub_server` (Xet and offline mode patched off); needs `hub_server` too."""
    from huggingface_hub import HfApi, constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return HfApi(endpoint=hub_server.url, token=hub_server.token)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a loopback Hub until interrupted: `python -m tests.hub_server [--data-dir DIR] [--port N]`.

    Without `--data-dir` the repos live in a fresh temporary folder, removed when the server stops; nothing is
    written into the current folder.
    """
    import argparse
    import shutil
    import signal
    import time

    parser = argparse.ArgumentParser(description="A Hub-compatible test server on 127.0.0.1 (token hf_test_token).")
    parser.add_argument(
        "--data-dir",
        "--root",
        dest="data_dir",
        type=Path,
        help="where repos and blobs are kept (default: a temporary folder, removed on exit)",
    )
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    temporary = args.data_dir is None
    root = Path(tempfile.mkdtemp(prefix="ximagenet12-hub-")) if temporary else args.data_dir
    server = HubServer(root, port=args.port).start()
    kept = "temporary, removed on exit" if temporary else "kept"
    print(f"serving {server.url} (token {server.token}, namespace ns), data in {root} ({kept}); Ctrl-C to stop",
          flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if temporary:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
