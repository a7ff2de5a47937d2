"""Planning a publish: which release files to add, change or delete, by comparing hashes with the remote tree."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ximagenet12 import manifest as mf
from ximagenet12.manifest import Manifest
from ximagenet12.scenarios import SCENARIOS

from ..release import published_files


@dataclass(frozen=True)
class Change:
    """One file the publish adds, changes or deletes, with its size (local, or remote for a deletion)."""

    action: str
    path: str
    size: int


@dataclass
class PublishPlan:
    """What publishing a build folder would do to a repo, against the remote head it was computed from."""

    repo_id: str
    exists: bool
    head: str | None
    changes: list[Change] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def paths(self, *actions: str) -> list[str]:
        """The paths of the changes with these actions."""
        return [c.path for c in self.changes if c.action in actions]

    @property
    def empty(self) -> bool:
        """True when the repo already holds exactly this build's files."""
        return self.exists and not self.changes

    @property
    def upload_bytes(self) -> int:
        """Bytes of the files to add or change."""
        return sum(c.size for c in self.changes if c.action != "delete")

    def summary(self) -> str:
        """One line: counts and bytes."""
        adds, changed, deleted = (len(self.paths(a)) for a in ("add", "change", "delete"))
        return (
            f"{self.repo_id}: add {adds}, change {changed}, delete {deleted}, unchanged {len(self.unchanged)}; "
            f"upload {self.upload_bytes} bytes"
        )

    def describe(self) -> str:
        """The summary and one line per change."""
        where = f"at {self.head[:12]}" if self.head else "(repo does not exist yet: it will be created)"
        lines = [f"plan against {self.repo_id} {where}", self.summary()]
        lines += [f"  {c.action:<6} {c.path} ({c.size} bytes)" for c in self.changes]
        return "\n".join(lines)


def git_blob_oid(data: bytes) -> str:
    """The git object id of a file's content, as the Hub reports it for regular (non-LFS) files."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def ours(path: str) -> bool:
    """Whether a remote path is named like one of our shards (`data/<scenario>/<split>-NNNNN-of-NNNNN.parquet`).

    Only such files are ever deleted by a publish: anything else in the repo (a user's notes, another config's
    files, even other files under our config folders) is left alone.
    """
    return mf.is_shard_path(path, set(SCENARIOS))


def _same(remote, local: Path, sha256: str | None, content: bytes | None) -> bool:
    """Whether a remote file (huggingface_hub RepoFile) holds the local file's bytes."""
    if remote.lfs is not None:
        if sha256 is None:
            data = content if content is not None else local.read_bytes()
            sha256 = hashlib.sha256(data).hexdigest()
        return remote.lfs.sha256 == sha256
    data = content if content is not None else local.read_bytes()
    return remote.blob_id == git_blob_oid(data)


def plan_publish(
    out: Path,
    manifest: Manifest,
    repo_id: str,
    remote: dict | None,
    head: str | None = None,
    card: bytes | None = None,
) -> PublishPlan:
    """Compare the release files with the remote tree (`path -> RepoFile`, None if no repo).

    `card` is the README.md to publish in place of the folder's (rendered for `repo_id`); its links decide which
    pictures belong to the release. Remote files named like our shards and absent from the build are deleted.
    """
    out = Path(out)
    hashes = {f.path: f.sha256 for f in manifest.files}
    overrides = {mf.CARD_NAME: card} if card is not None else {}
    card_text = card.decode("utf-8") if card is not None else None
    plan = PublishPlan(repo_id, remote is not None, head)
    local = sorted(set(published_files(out, manifest, card_text)) | set(overrides))
    for path in local:
        content = overrides.get(path)
        size = len(content) if content is not None else (out / path).stat().st_size
        there = (remote or {}).get(path)
        if there is None:
            plan.changes.append(Change("add", path, size))
        elif _same(there, out / path, hashes.get(path), content):
            plan.unchanged.append(path)
        else:
            plan.changes.append(Change("change", path, size))
    mine = set(local)
    for path, there in sorted((remote or {}).items()):
        if path not in mine and ours(path):
            plan.changes.append(Change("delete", path, there.size))
    return plan
