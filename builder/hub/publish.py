"""Publishing a checked build folder to a Hub dataset repo: plan against the remote, upload what changed, tag."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ximagenet12 import manifest as mf
from ximagenet12.manifest import Manifest

from ..card import render_card, write_card
from ..check import README, check_build
from ..sample_grid import pick_source
from .errors import EXIT_AUTH, EXIT_FAULTS, EXIT_UPLOAD, EXIT_USAGE, PublishError, hub_errors, status_of
from .plan import PublishPlan, delete_patterns, plan_publish

REPO_TYPE = "dataset"
IGNORE = [f"{mf.STATE_DIR}/*", "*.partial"]

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


def publish(
    out: Path,
    repo_id: str,
    *,
    private: bool = False,
    create_pr: bool = False,
    tag: str | None = None,
    dry_run: bool = False,
    log: Log = print,
) -> PublishResult:
    """Plan the folder against the repo, check it, and (unless `dry_run`) create the repo, upload and tag."""
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
    api = HfApi()
    with hub_errors(repo_id):
        remote, head = _remote_tree(api, repo_id)
        card = _card_for(out, manifest, repo_id, write=not dry_run)
        faults = check_build(out)
        if faults:
            for fault in faults:
                log(f"fault: {fault}")
            raise PublishError(
                f"{out} fails `ximagenet12 check` ({len(faults)} faults); refusing to publish", EXIT_FAULTS
            )
        plan = plan_publish(out, manifest, repo_id, remote, head, overrides={README: card})
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
            plan = plan_publish(out, manifest, repo_id, remote, head)
        elif private:
            log(f"note: {repo_id} exists; --private only applies when the repo is created")
        result = _commit(api, out, manifest, plan, create_pr, log)
        if tag:
            _tag(api, repo_id, tag, result.commit, log)
            result.tag = tag
    return result


def _card_for(out: Path, manifest: Manifest, repo_id: str, *, write: bool) -> bytes:
    """The card naming `repo_id` in its examples, written into the folder (with its grid) when `write`."""
    if write:
        return write_card(out, manifest, repo_id).encode()
    return render_card(manifest, repo_id, pick_source(out, manifest, manifest.built_configs())).encode()


def _commit(api, out: Path, manifest: Manifest, plan: PublishPlan, create_pr: bool, log: Log) -> PublishResult:
    """Upload the plan's changes in one commit (or pull request); no commit at all when the plan is empty."""
    result = PublishResult(plan, commit=plan.head)
    if plan.empty:
        log(f"nothing to publish: {plan.repo_id} already holds this build")
        return result
    title, body = _commit_text(manifest, plan)
    info = _upload(api, out, plan.repo_id, plan, manifest, title, body, create_pr)
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


def _upload(
    api, out: Path, repo_id: str, plan: PublishPlan, manifest: Manifest, title: str, body: str, create_pr: bool
):
    """upload_folder limited to the planned files; an interrupted upload is resumed by running publish again."""
    try:
        return api.upload_folder(
            repo_id=repo_id,
            repo_type=REPO_TYPE,
            folder_path=out,
            allow_patterns=plan.paths("add", "change"),
            ignore_patterns=IGNORE,
            delete_patterns=delete_patterns(plan, manifest) or None,
            commit_message=title,
            commit_description=body,
            create_pr=create_pr,
            parent_commit=plan.head,
        )
    except RuntimeError as exc:
        cause = exc.__cause__
        if cause is not None and status_of(cause) in (401, 403):
            raise cause from None
        reason = f": {cause}" if cause is not None else ""
        raise PublishError(
            f"upload cut off ({exc}{reason}); nothing was committed. Run the same command again to resume: "
            "files already uploaded are not sent again",
            EXIT_UPLOAD,
        ) from None
