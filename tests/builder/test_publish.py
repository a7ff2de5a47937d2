"""`ximagenet12 publish` end to end against the Hub-compatible server on 127.0.0.1, then loading back."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from ximagenet12_builder.hub.errors import EXIT_AUTH, EXIT_FAULTS, EXIT_NETWORK, EXIT_NOT_FOUND, EXIT_UPLOAD, EXIT_USAGE
from ximagenet12_builder.pipeline import BuildOptions, run_build

from tests.hub_server import HubServer, run_with_hub
from ximagenet12 import manifest as mf

from .hubtools import REPO, release, remote, run_cli

ROWS = """
import hashlib, json
from datasets import Image, load_dataset

def digest(rows):
    out = []
    for r in rows:
        image, mask = r["image"], r["mask"]
        out.append([r["source_id"], r["label"], r["wnid"], r["scenario"], r["background_id"], r["params"], r["fold"],
                    hashlib.sha256(image["bytes"]).hexdigest(), hashlib.sha256(mask["bytes"]).hexdigest()])
    return out

def undecoded(ds):
    return ds.cast_column("image", Image(decode=False)).cast_column("mask", Image(decode=False))
"""


def publish(
    server: HubServer, out: Path, *extra: str, env: dict | None = None, stream_check: bool = False
):
    """`ximagenet12 publish OUT --repo-id ns/ximagenet12 EXTRA`; check's streaming probe only when asked for.

    One test (test_publish_then_load_back_normal_and_streaming) runs the full check; the rest skip the probe with
    the documented `--no-stream-check`, which every other check still runs under.
    """
    probe = () if stream_check else ("--no-stream-check",)
    return run_cli(server, "publish", str(out), "--repo-id", REPO, *probe, *extra, env=env)


def rebuild(sources: Path, out: Path, **options) -> None:
    report = run_build(BuildOptions(sources=sources, out=out, progress=False, **options))
    assert report.complete


def snapshot(out: Path) -> dict[str, bytes]:
    """Every file under a folder (private build state included), with its bytes."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def lfs_files(out: Path) -> list[str]:
    return [p for p in release(out) if p.endswith((".parquet", ".png"))]


@pytest.mark.slow
def test_publish_then_load_back_normal_and_streaming(hub_server: HubServer, build: Path) -> None:
    run = publish(hub_server, build, "--tag", "v1.0", stream_check=True)
    assert run.returncode == 0, run.stderr
    assert remote(hub_server) == release(build)
    assert hub_server.refs(REPO)["refs/tags/v1.0"] == hub_server.refs(REPO)["refs/heads/main"]
    assert 'load_dataset("ns/ximagenet12", "rand_bg"' in (build / "README.md").read_text()

    loaded = hub_server.run(
        ROWS
        + f"""
import ximagenet12
local = {str(build)!r}
for split in ("train", "test"):
    emit(digest(undecoded(load_dataset(local, "rand_bg", split=split))))
    emit(digest(undecoded(load_dataset("{REPO}", "rand_bg", split=split))))
    emit(digest(undecoded(load_dataset("{REPO}", "rand_bg", split=split, streaming=True))))
    emit(digest(undecoded(ximagenet12.load("rand_bg", split=split, repo_id="{REPO}"))))
    emit(digest(undecoded(ximagenet12.load("rand_bg", split=split, repo_id="{REPO}", streaming=True))))
    emit(digest(undecoded(load_dataset("{REPO}", "rand_bg", split=split, revision="v1.0"))))
    emit(digest(undecoded(ximagenet12.load("rand_bg", split=split, repo_id="{REPO}", revision="v1.0"))))
"""
    ).results
    for split in range(2):
        local, *from_hub = loaded[split * 7 : split * 7 + 7]
        assert local and all(rows == local for rows in from_hub)


@pytest.mark.slow
def test_the_cards_loading_examples_run_against_the_hub(hub_server: HubServer, build: Path) -> None:
    assert publish(hub_server, build).returncode == 0
    text = (build / "README.md").read_text()
    loading = text.split("\n## How to load\n", 1)[1].split("\n## ", 1)[0]
    snippets = re.findall(r"```python\n(.*?)```", loading, flags=re.S)
    assert len(snippets) == 3
    for snippet in snippets:
        hub_server.run(snippet + "\nemit('ok')\n", timeout=300)


@pytest.mark.slow
def test_dry_run_prints_the_plan_and_changes_nothing(hub_server: HubServer, build: Path) -> None:
    readme = (build / "README.md").read_bytes()
    run = publish(hub_server, build, "--dry-run")
    assert run.returncode == 0, run.stderr
    files = release(build)
    assert "repo does not exist yet" in run.stdout
    assert f"add {len(files)}, change 0, delete 0, unchanged 0" in run.stdout
    for path in files:
        assert re.search(rf"^  add +{re.escape(path)} \(\d+ bytes\)$", run.stdout, flags=re.M)
    assert not hub_server.repo_exists(REPO)
    assert (build / "README.md").read_bytes() == readme


@pytest.mark.slow
def test_republishing_an_unchanged_build_uploads_nothing(hub_server: HubServer, build: Path) -> None:
    assert publish(hub_server, build).returncode == 0
    before = hub_server.commits(REPO)
    hub_server.clear_log()
    run = publish(hub_server, build)
    assert run.returncode == 0, run.stderr
    assert "nothing to publish" in run.stdout
    assert hub_server.lfs_put_requests() == []
    assert not any(m == "POST" and "/commit/" in p for m, p in hub_server.requests_log)
    assert hub_server.commits(REPO) == before
    dry = publish(hub_server, build, "--dry-run")
    assert f"add 0, change 0, delete 0, unchanged {len(release(build))}" in dry.stdout


@pytest.mark.slow
def test_a_publish_cut_off_mid_upload_completes_when_rerun(hub_server: HubServer, build: Path) -> None:
    hub_server.fail_next_lfs_uploads = 1
    cut = publish(hub_server, build)
    assert cut.returncode == EXIT_UPLOAD
    assert "upload cut off" in cut.stderr and "again to resume" in cut.stderr
    assert "Traceback" not in cut.stderr
    assert [c.title for c in hub_server.commits(REPO)] == ["initial commit"]

    rerun = publish(hub_server, build)
    assert rerun.returncode == 0, rerun.stderr
    assert remote(hub_server) == release(build)
    assert len(hub_server.commits(REPO)) == 2
    assert len(hub_server.lfs_uploads) == len({(build / p).read_bytes() for p in lfs_files(build)})


@pytest.mark.slow
def test_a_rebuild_without_one_config_deletes_exactly_its_shards(
    hub_server: HubServer, build: Path, synthetic_sources: Path
) -> None:
    assert publish(hub_server, build).returncode == 0
    theirs = {
        "notes/provenance.txt": b"kept",
        "data/their_config/x.parquet": b"\x00theirs",
        "data/blur_bg/user_notes.txt": b"mine",
        "data/mixed_next/notes.txt": b"mine too",
        "data/mixed_next/train-extra.parquet": b"\x00not named like a shard of ours",
    }
    hub_server.commit_files(REPO, theirs)
    dropped = sorted(p for p in release(build) if p.startswith("data/mixed_next/"))
    assert dropped

    kept = tuple(c for c in mf.read_manifest(build).built_configs() if c != "mixed_next")
    rebuild(synthetic_sources, build, configs=kept)
    dry = publish(hub_server, build, "--dry-run")
    assert all(re.search(rf"^  delete +{re.escape(p)} ", dry.stdout, flags=re.M) for p in dropped)
    assert len(re.findall(r"^  delete ", dry.stdout, flags=re.M)) == len(dropped)
    run = publish(hub_server, build)
    assert run.returncode == 0, run.stderr

    last = hub_server.commits(REPO)[-1]
    assert sorted(last.deleted) == dropped
    assert "README.md" in last.added and not any(p.startswith("data/") for p in last.added)
    assert remote(hub_server) == {**release(build), **theirs}


@pytest.mark.slow
def test_stale_shards_of_a_kept_config_are_replaced(
    hub_server: HubServer, build: Path, synthetic_sources: Path
) -> None:
    assert publish(hub_server, build).returncode == 0
    old = set(release(build))
    rebuild(synthetic_sources, build, sources_per_shard=6)
    new = set(release(build))
    assert old - new and new - old
    assert publish(hub_server, build).returncode == 0
    last = hub_server.commits(REPO)[-1]
    assert sorted(last.deleted) == sorted(p for p in old - new if p.startswith("data/"))
    assert remote(hub_server) == release(build)


@pytest.mark.slow
def test_create_pr_leaves_main_alone_and_tags_are_never_moved(hub_server: HubServer, build: Path) -> None:
    assert publish(hub_server, build, "--tag", "v1.0").returncode == 0
    main_before = hub_server.refs(REPO)["refs/heads/main"]
    both = publish(hub_server, build, "--create-pr", "--tag", "v1.1")
    assert both.returncode == EXIT_USAGE and "merge the pull request" in both.stderr

    (build / "rejected.jsonl").write_text('{"file": "x", "reason": "made up", "stage": "test"}\n')
    manifest = mf.read_manifest(build)
    assert "rejected.jsonl" not in {f.path for f in manifest.files}
    pr = publish(hub_server, build, "--create-pr")
    assert pr.returncode == 0, pr.stderr
    assert "opened pull request" in pr.stdout
    refs = hub_server.refs(REPO)
    assert refs["refs/heads/main"] == main_before
    assert hub_server.files(REPO, "refs/pr/1")["rejected.jsonl"] == (build / "rejected.jsonl").read_bytes()

    moved = publish(hub_server, build, "--tag", "v1.0")
    assert moved.returncode == EXIT_USAGE and "tags are never moved" in moved.stderr
    assert hub_server.refs(REPO)["refs/heads/main"] == main_before


@pytest.mark.slow
def test_a_folder_that_fails_check_is_refused_and_left_alone(hub_server: HubServer, build: Path) -> None:
    path = next(f.path for f in mf.read_manifest(build).files if f.config == "blur_bg")
    data = bytearray((build / path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (build / path).write_bytes(bytes(data))
    before = snapshot(build)
    run = publish(hub_server, build)
    assert run.returncode == EXIT_FAULTS
    assert f"fault: {path}: sha256 differs from the manifest's" in run.stdout
    assert "refusing to publish" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not hub_server.repo_exists(REPO)
    assert snapshot(build) == before


@pytest.mark.slow
def test_a_folder_that_is_not_a_build(hub_server: HubServer, tmp_path: Path) -> None:
    run = publish(hub_server, tmp_path)
    assert run.returncode == EXIT_USAGE
    assert run.stderr.strip().splitlines() == [
        f"ximagenet12 publish: error: {tmp_path / mf.MANIFEST_NAME}: no build manifest; is {tmp_path} the output of "
        "`ximagenet12 build`?"
    ]
    assert not hub_server.repo_exists(REPO) and list(tmp_path.iterdir()) == [tmp_path / "hub"]


@pytest.mark.slow
def test_foreign_files_stay_local_and_do_not_stop_a_publish(hub_server: HubServer, build: Path) -> None:
    (build / "notes.txt").write_text("mine")
    (build / "data" / "blur_bg" / "user_notes.txt").write_text("mine")
    (build / "loader.py").write_text("print('a script of mine')")
    run = publish(hub_server, build)
    assert run.returncode == 0, run.stderr
    assert "note: 3 files in the folder are not part of the release; publish leaves them out:" in run.stdout
    assert remote(hub_server) == release(build)
    assert not {"notes.txt", "data/blur_bg/user_notes.txt", "loader.py"} & set(remote(hub_server))
    assert (build / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_the_local_card_changes_only_after_a_successful_push(hub_server: HubServer, build: Path) -> None:
    placeholder = (build / "README.md").read_bytes()
    assert b'load_dataset("<namespace>/ximagenet12"' in placeholder
    before = snapshot(build)

    secret = "hf_not_a_valid_token_0123456789"
    assert publish(hub_server, build, env={"HF_TOKEN": secret}).returncode == EXIT_AUTH
    assert snapshot(build) == before
    assert publish(hub_server, build, "--dry-run").returncode == 0
    assert snapshot(build) == before
    hub_server.fail_next_lfs_uploads = 1
    assert publish(hub_server, build).returncode == EXIT_UPLOAD
    assert snapshot(build) == before

    assert publish(hub_server, build).returncode == 0
    pushed = remote(hub_server)["README.md"]
    assert b'load_dataset("ns/ximagenet12", "rand_bg"' in pushed
    assert (build / "README.md").read_bytes() == pushed
    assert {p: b for p, b in snapshot(build).items() if p != "README.md"} == {
        p: b for p, b in before.items() if p != "README.md"
    }


@pytest.mark.slow
def test_one_progress_bar_for_the_upload(hub_server: HubServer, build: Path) -> None:
    # As in a user's terminal: huggingface_hub's bars not disabled (the test environment disables them).
    run = publish(hub_server, build, env={"HF_HUB_DISABLE_PROGRESS_BARS": None})
    assert run.returncode == 0, run.stderr
    bars = [line for line in re.split(r"[\r\n]+", run.stderr) if line.strip()]
    assert bars and all(line.startswith(f"upload to {REPO}:") for line in bars), bars[:5]
    assert bars[-1].startswith(f"upload to {REPO}: 100%")


@pytest.mark.slow
def test_a_bad_token_is_refused_and_never_shown(hub_server: HubServer, build: Path) -> None:
    secret = "hf_not_a_valid_token_0123456789"
    run = publish(hub_server, build, env={"HF_TOKEN": secret})
    assert run.returncode == EXIT_AUTH
    assert "401" in run.stderr and "HF_TOKEN" in run.stderr
    assert secret not in run.stdout + run.stderr
    assert all(secret.encode() not in p.read_bytes() for p in build.rglob("*") if p.is_file())


@pytest.mark.slow
def test_no_token_at_all(hub_server: HubServer, build: Path, tmp_path: Path) -> None:
    env = {"HF_TOKEN": "", "HF_HOME": str(tmp_path / "empty_home")}
    run = publish(hub_server, build, env=env)
    assert run.returncode == EXIT_AUTH and "no Hugging Face token" in run.stderr


@pytest.mark.slow
def test_a_namespace_the_token_may_not_write(hub_server: HubServer, build: Path) -> None:
    run = run_cli(hub_server, "publish", str(build), "--repo-id", "someone-else/ximagenet12")
    assert run.returncode == EXIT_AUTH
    assert "403" in run.stderr and "someone-else" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.slow
def test_an_unreachable_hub(hub_server: HubServer, build: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = publish(hub_server, build, env={"HF_ENDPOINT": f"http://127.0.0.1:{port}"})
    assert run.returncode == EXIT_NETWORK
    assert f"cannot reach the Hub at http://127.0.0.1:{port}" in run.stderr


def test_hub_errors_raised_by_the_real_client_become_one_line_messages(hub_server: HubServer) -> None:
    results = run_with_hub(
        """
        from huggingface_hub import HfApi
        from ximagenet12_builder.hub.errors import translate

        def outcome(call):
            try:
                call()
            except Exception as exc:
                error = translate(exc, "ns/gone")
                return [type(error).__name__, str(error), getattr(error, "exit_code", None)]

        emit(outcome(lambda: list(HfApi().list_repo_tree("ns/gone", repo_type="dataset"))))
        emit(outcome(lambda: HfApi()._validate_yaml("---\\nconfigs: 3\\n---\\n", repo_type="dataset")))
        """,
        hub_server,
    ).results
    (kind, message, code), (card_kind, card_message, card_code) = results
    assert kind == "PublishError" and code == EXIT_NOT_FOUND
    assert "ns/gone not found" in message and "404" in message
    assert card_kind == "PublishError" and card_code == EXIT_FAULTS
    assert card_message.startswith("the Hub refused the card: Invalid metadata in README.md.")
    assert "\n" not in message + card_message


@pytest.mark.slow
def test_private_repo(hub_server: HubServer, build: Path) -> None:
    assert publish(hub_server, build, "--private").returncode == 0
    seen = hub_server.run(
        f"""
        from huggingface_hub import HfApi
        from huggingface_hub.errors import RepositoryNotFoundError
        emit(HfApi().repo_info("{REPO}", repo_type="dataset").private)
        try:
            HfApi(token=False).repo_info("{REPO}", repo_type="dataset")
        except RepositoryNotFoundError:
            emit("hidden")
        """
    ).results
    assert seen == [True, "hidden"]
