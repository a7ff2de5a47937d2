"""Publishing a checked build folder to a Hub dataset repo: plan against the remote, upload what changed, tag.

The whole release goes in one commit (`create_commit`), so the repo never shows half a build. The card is rendered
for the repo in memory and checked as it will be uploaded; the local folder is touched only after the push
succeeded, to make its README.md the card that was pushed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ximagenet12 import manifest as mf
from ximagenet12.manifest import Manifest
from ximagenet12.provenance import write_atomic

from ..card import render_card_for
from ..check import README, check_folder
from .errors import EXIT_AUTH, EXIT_FAULTS, EXIT_UPLOAD, EXIT_USAGE, PublishError, hub_errors, status_of
from .plan import PublishPlan, plan_publish

REPO_TYPE = "dataset"
FOREIGN_SHOWN = 20

Log = Callable[[str], None]


@dataclass
class PublishResult:
    """What a publish did."""

    plan: PublishPlan
    commit: str | None = None
    commit_url: str | None = None
    pr_url: str | None = None
    tag: str | None = None


def _remote_tree(api, repo_id: str) -> tuple[dict | None, str | None]:
    """The remote files (`path -> RepoFile`) and head sha on main, or (None, None) when the repo does not exist."""
    from huggingface_hub.errors import RepositoryNotFoundError
    from huggingface_hub.hf_api import RepoFile

    try:
        head = api.repo_info(repo_id, repo_type=REPO_TYPE).sha
    except RepositoryNotFoundError:
        return None, None
    tree = api.list_repo_tree(repo_id, repo_type=REPO_TYPE, recursive=True, revision=head)
    return {e.path: e for e in tree if isinstance(e, RepoFile)}, head


def _existing_tag(api, repo_id: str, tag: str) -> str | None:
    refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE)
    return next((t.target_commit for t in refs.tags if t.name == tag), None)


def _commit_text(manifest: Manifest, plan: PublishPlan) -> tuple[str, str]:
    rows = sum(f.num_rows for f in manifest.files)
    configs = sorted({f.config for f in manifest.files})
    title = f"Publish XImageNet-12 build: {len(configs)} configs, {rows} rows"
    body = "\n".join(
        [
            plan.summary(),
            f"seed {manifest.seed}; " + ", ".join(f"{k} {v}" for k, v in sorted(manifest.versions.items())),
            "configs: " + ", ".join(configs),
        ]
    )
    return title, body


def _log_foreign(foreign: list[str], log: Log) -> None:
    if not foreign:
        return
    log(f"note: {len(foreign)} files in the folder are not part of the release; publish leaves them out:")
    for path in foreign[:FOREIGN_SHOWN]:
        log(f"  {path}")
    if len(foreign) > FOREIGN_SHOWN:
        log(f"  ... and {len(foreign) - FOREIGN_SHOWN} more (`ximagenet12 check` lists them all)")


def publish(
    out: Path,
    repo_id: str,
    *,
    private: bool = False,
    create_pr: bool = False,
    tag: str | None = None,
    dry_run: bool = False,
    stream_check: bool = True,
    progress: bool | None = None,
    log: Log = print,
) -> PublishResult:
    """Check the folder with the card rendered for `repo_id`, plan against the repo, and (unless `dry_run`) upload.

    `stream_check=False` skips check's streaming probe (every other check still runs). `progress`: show one upload
    bar (default: unless huggingface_hub's progress bars are disabled).
    """
    from huggingface_hub import HfApi, get_token

    out = Path(out)
    if tag and create_pr:
        raise PublishError(
            "--tag with --create-pr: a tag marks a commit of main; merge the pull request, then run "
            "`publish --tag` again (it uploads nothing and only tags)",
            EXIT_USAGE,
        )
    manifest = mf.read_manifest(out)
    if get_token() is None and not dry_run:
        raise PublishError("no Hugging Face token: set HF_TOKEN or run `hf auth login`", EXIT_AUTH)
    card = render_card_for(out, manifest, repo_id)
    api = HfApi()
    with hub_errors(repo_id):
        remote, head = _remote_tree(api, repo_id)
        report = check_folder(out, stream=stream_check, card_text=card)
        if report.faults:
            for fault in report.faults:
                log(f"fault: {fault}")
            raise PublishError(
                f"{out} fails `ximagenet12 check` ({len(report.faults)} faults); refusing to publish", EXIT_FAULTS
            )
        _log_foreign(report.foreign, log)
        plan = plan_publish(out, manifest, repo_id, remote, head, card=card.encode("utf-8"))
        log(plan.describe() if dry_run else plan.summary())
        if tag and remote is not None:
            tagged = _existing_tag(api, repo_id, tag)
            if tagged is not None and not (plan.empty and tagged == head):
                raise PublishError(f"tag {tag} already exists at {tagged[:12]}; tags are never moved", EXIT_USAGE)
        if dry_run:
            return PublishResult(plan)
        if remote is None:
            api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
            log(f"created {'private ' if private else ''}dataset repo {repo_id}")
            remote, head = _remote_tree(api, repo_id)
            plan = plan_publish(out, manifest, repo_id, remote, head, card=card.encode("utf-8"))
        elif private:
            log(f"note: {repo_id} exists; --private only applies when the repo is created")
        result = _commit(api, out, manifest, plan, card, create_pr, progress, log)
        if tag:
            _tag(api, repo_id, tag, result.commit, log)
            result.tag = tag
    _keep_card(out, card, log)
    return result


def _keep_card(out: Path, card: str, log: Log) -> None:
    """After a successful push, make the folder's README.md the card that was pushed."""
    path = out / README
    try:
        if not path.is_file() or path.read_text(encoding="utf-8") != card:
            write_atomic(path, card)
    except OSError as exc:
        log(f"note: published, but {path} could not be updated to the pushed card ({exc.strerror or exc})")


def _commit(
    api, out: Path, manifest: Manifest, plan: PublishPlan, card: str, create_pr: bool, progress: bool | None, log: Log
) -> PublishResult:
    """Upload the plan's changes in one commit (or pull request); no commit at all when the plan is empty."""
    result = PublishResult(plan, commit=plan.head)
    if plan.empty:
        log(f"nothing to publish: {plan.repo_id} already holds this build")
        return result
    title, body = _commit_text(manifest, plan)
    info = _upload(api, out, plan, card, title, body, create_pr, progress)
    result.commit, result.commit_url, result.pr_url = info.oid, info.commit_url, info.pr_url
    log(f"committed {info.oid[:12]}: {info.commit_url}")
    if info.pr_url:
        log(f"opened pull request {info.pr_url}; merge it to release")
    return result


def _tag(api, repo_id: str, tag: str, commit: str, log: Log) -> None:
    """Tag `commit`, unless the tag already marks it (checked before uploading)."""
    if _existing_tag(api, repo_id, tag) is None:
        api.create_tag(repo_id, repo_type=REPO_TYPE, tag=tag, revision=commit)
        log(f"tagged {commit[:12]} as {tag}")
    else:
        log(f"tag {tag} already marks this build")


@contextmanager
def upload_bar(total: int, repo_id: str, enabled: bool | None) -> Iterator[tqdm]:
    """One bar for the whole upload, by bytes, with huggingface_hub's own (per-file) bars off meanwhile.

    `enabled=None` shows it unless huggingface_hub's bars are disabled. `HF_HUB_DISABLE_PROGRESS_BARS=0` asks for
    huggingface_hub's own bars explicitly: they are then left on and this bar is not shown.
    """
    from huggingface_hub import constants
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    forced = constants.HF_HUB_DISABLE_PROGRESS_BARS is False
    was_disabled = are_progress_bars_disabled()
    show = (not was_disabled if enabled is None else enabled) and not forced
    if not forced:
        disable_progress_bars()
    try:
        with tqdm(
            total=total, unit="B", unit_scale=True, unit_divisor=1000, desc=f"upload to {repo_id}",
            disable=not show, dynamic_ncols=True,
        ) as bar:  # fmt: skip
            yield bar
    finally:
        if not forced and not was_disabled:
            enable_progress_bars()


def _upload(api, out: Path, plan: PublishPlan, card: str, title: str, body: str, create_pr: bool, progress):
    """Send each changed file (the bar advancing as each is stored), then commit them all and the deletions at once.

    Files are stored before the commit, so an interrupted upload commits nothing, and running publish again
    sends only what the Hub does not hold yet.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    sizes = {c.path: c.size for c in plan.changes}
    additions = [
        CommitOperationAdd(path, card.encode("utf-8") if path == README else str(out / path))
        for path in plan.paths("add", "change")
    ]
    deletions = [CommitOperationDelete(path) for path in plan.paths("delete")]
    try:
        with upload_bar(plan.upload_bytes, plan.repo_id, progress) as bar:
            for addition in additions:
                api.preupload_lfs_files(plan.repo_id, [addition], repo_type=REPO_TYPE, create_pr=create_pr)
                bar.update(sizes[addition.path_in_repo])
        return api.create_commit(
            plan.repo_id,
            operations=[*deletions, *additions],
            commit_message=title,
            commit_description=body,
            repo_type=REPO_TYPE,
            create_pr=create_pr,
            parent_commit=plan.head,
        )
    except RuntimeError as exc:
        cause = exc.__cause__
        if cause is not None and status_of(cause) in (401, 403):
            raise cause from None
        reason = str(cause).strip().splitlines()[0] if cause is not None and str(cause).strip() else ""
        reason = f": {reason}" if reason else ""
        raise PublishError(
            f"upload cut off ({exc}{reason}); nothing was committed. Run the same command again to resume: "
            "files already uploaded are not sent again",
            EXIT_UPLOAD,
        ) from None
