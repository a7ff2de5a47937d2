"""Run by `check` in a subprocess: stream the first rows of some configs of a build folder, print faults as JSON.

A subprocess because pyarrow can crash at interpreter exit after a streaming loop is left early; this one
prints its answer and leaves with `os._exit`, so the caller gets the answer whatever happens at exit.
"""

from __future__ import annotations

import json
import os
import sys

ROWS = 2


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
    results = {config: probe(folder, config, split) for config, split in jobs}
    sys.stdout.write("\n" + json.dumps(results) + "\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
