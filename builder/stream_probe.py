"""Run by `check` in a subprocess: stream the first rows of some configs of a build folder, print faults as JSON.

A subprocess because pyarrow can crash at interpreter exit after a streaming loop is left early; this one
prints its answer and leaves with `os._exit`, so the caller gets the answer whatever happens at exit.
`check` starts it with `LIGHT_ENV` so that `datasets` imports no deep-learning framework.
"""

from __future__ import annotations

import json
import os
import sys

ROWS = 2
# `datasets` imports torch, TensorFlow and JAX when they are installed unless told not to (about 1.5 s and 480 MB
# with torch); streaming a Parquet folder needs none of them.
LIGHT_ENV = {
    "USE_TORCH": "0",
    "USE_TF": "0",
    "USE_JAX": "0",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def _fast_yaml() -> None:
    """Parse cards with libyaml when PyYAML has it: `load_dataset` parses the whole card once per config.

    The card's YAML itself is checked in the parent process with the pure-Python loader the Hub's clients use.
    """
    import yaml

    if getattr(yaml, "__with_libyaml__", False):
        yaml.safe_load = lambda stream: yaml.load(stream, Loader=yaml.CSafeLoader)


def probe(folder: str, config: str, split: str) -> str | None:
    """None if the first rows of `config`/`split` stream and decode, else the error."""
    from datasets import load_dataset

    try:
        rows = 0
        for row in load_dataset(folder, config, split=split, streaming=True):
            row["image"].load()
            row["mask"].load()
            rows += 1
            if rows >= ROWS:
                break
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None if rows else "no rows"


def main(argv: list[str]) -> None:
    """argv: FOLDER and a JSON list of [config, split]."""
    folder, jobs = argv[0], json.loads(argv[1])
    _fast_yaml()
    results = {config: probe(folder, config, split) for config, split in jobs}
    sys.stdout.write("\n" + json.dumps(results) + "\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
