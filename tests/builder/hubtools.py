"""Helpers of the card, check and publish tests: the CLI in a subprocess, release files, shard surgery."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from ximagenet12_builder.card import write_card
from ximagenet12_builder.release import published_files

from tests.hub_server import HubServer, hub_env
from ximagenet12 import manifest as mf
from ximagenet12.provenance import canonical_json, sha256_file, write_atomic

REPO = "ns/ximagenet12"


def run_cli(
    server: HubServer | None, *args: str, env: Mapping[str, str | None] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """`ximagenet12 ARGS` in a subprocess, pointed at `server` (token, endpoint, no Xet) when one is given.

    `env` adds to (or, with None values, removes from) the environment.
    """
    environ = dict(hub_env(server) if server is not None else os.environ)
    for key, value in (env or {}).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    return subprocess.run(
        [sys.executable, "-m", "ximagenet12_builder.cli", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def release(out: Path) -> dict[str, bytes]:
    """The files a publish of `out` puts in the repo, with their bytes."""
    return {p: (out / p).read_bytes() for p in published_files(out, mf.read_manifest(out))}


def remote(server: HubServer, revision: str = "main") -> dict[str, bytes]:
    """The repo's files at `revision`, less the `.gitattributes` the Hub writes."""
    files = server.files(REPO, revision)
    files.pop(".gitattributes", None)
    return files


def replace_shard(out: Path, path: str, table: pa.Table, *, page_index: bool = True) -> None:
    """Rewrite one shard with `table` and make the manifest and card agree with it, as a build would."""
    target = out / path
    pq.write_table(table, target, write_page_index=page_index)
    manifest = json.loads((out / mf.MANIFEST_NAME).read_text())
    entry = next(f for f in manifest["files"] if f["path"] == path)
    entry.update(num_rows=table.num_rows, num_bytes=table.nbytes, size=target.stat().st_size)
    entry["sha256"] = sha256_file(target)
    split = manifest["configs"][entry["config"]]["splits"][entry["split"]]
    parts = [f for f in manifest["files"] if f["config"] == entry["config"] and f["split"] == entry["split"]]
    split.update(
        num_examples=sum(f["num_rows"] for f in parts),
        num_bytes=sum(f["num_bytes"] for f in parts),
        download_size=sum(f["size"] for f in parts),
    )
    write_atomic(out / mf.MANIFEST_NAME, canonical_json(manifest))
    write_card(out, mf.read_manifest(out))
