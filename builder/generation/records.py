"""`generation.jsonl`: one record per generated image, written by `generate-backgrounds` and read by the build.

The file lives beside the images (`ai_backgrounds/generation.jsonl`). Records are appended as images are
made; a later record for the same file replaces an earlier one, and the generator rewrites the file
compacted (one record per image, sorted by file name) when a run ends. The records also say which
files in the folder the generator wrote: it never overwrites an image without a matching record.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ximagenet12.errors import DataError
from ximagenet12.provenance import sha256_file, write_atomic

from ..sources import GENERATION_RECORDS as RECORDS_NAME
from ..sources import SOURCE_ID

SHA256 = re.compile(r"[0-9a-f]{64}")
Number = (int, float)

# Every key a record holds, with the type(s) its value must have.
FIELDS: dict[str, type | tuple[type, ...]] = {
    "file": str,
    "sha256": str,
    "source_id": str,
    "wnid": str,
    "class_name": str,
    "k": int,
    "seed": int,
    "run_seed": int,
    "prompt_template": str,
    "prompt": str,
    "negative_prompt": str,
    "model": dict,
    "scheduler": dict,
    "steps": int,
    "guidance": Number,
    "strength": Number,
    "precision": str,
    "device": str,
    "batch_size": int,
    "mask_dilation_px": int,
    "sizes": dict,
    "source_sha256": str,
    "mask_sha256": str,
    "settings_fingerprint": str,
    "versions": dict,
    "hardware": str,
    "seconds": Number,
}
MODEL_FIELDS: dict[str, type | tuple[type, ...]] = {"id": str, "revision": str, "pipeline": str, "origin": str}
SIZE_FIELDS = ("source", "generated", "output")


def image_name(source_id: str, k: int) -> str:
    """The file name of image `k` of a source: `<source_id>.png` for k = 0, `<source_id>_<k>.png` after."""
    return f"{source_id}.png" if k == 0 else f"{source_id}_{k}.png"


def _kind(expected: type | tuple[type, ...]) -> str:
    return "a number" if expected == Number else expected.__name__


def _typed(value: Any, expected: type | tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return expected is bool
    return isinstance(value, expected)


def record_problem(record: Any) -> str | None:
    """What is wrong with a record (one phrase), or None when it is complete and consistent."""
    if not isinstance(record, dict):
        return f"a record must be a JSON object, got {type(record).__name__}"
    missing = [key for key in FIELDS if key not in record]
    if missing:
        return f"missing {', '.join(missing)}"
    for key, expected in FIELDS.items():
        if not _typed(record[key], expected):
            return f"{key} must be {_kind(expected)}, got {type(record[key]).__name__}"
    for key, expected in MODEL_FIELDS.items():
        if not _typed(record["model"].get(key), expected):
            return f"model.{key} must be {_kind(expected)}"
    for key in SIZE_FIELDS:
        size = record["sizes"].get(key)
        if not (isinstance(size, list) and len(size) == 2 and all(_typed(v, int) and v > 0 for v in size)):
            return f"sizes.{key} must be [height, width] in pixels"
    if record["sizes"]["output"] != record["sizes"]["source"]:
        return "sizes.output differs from sizes.source: the image must have its source's size"
    for key in ("sha256", "source_sha256", "mask_sha256", "settings_fingerprint"):
        if not SHA256.fullmatch(record[key]):
            return f"{key} is not a sha256 hex digest"
    if not SOURCE_ID.fullmatch(record["source_id"]) or not record["source_id"].startswith(f"{record['wnid']}_"):
        return f"source_id {record['source_id']!r} is not <wnid>_<number> of wnid {record['wnid']!r}"
    if record["k"] < 0 or record["file"] != image_name(record["source_id"], record["k"]):
        return f"file {record['file']!r} is not the name of image {record['k']} of {record['source_id']}"
    return None


def _lines(path: Path) -> list[tuple[int, str]]:
    text = path.read_text(encoding="utf-8")
    return [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]


def read_generation_records(
    ai_backgrounds_dir: str | os.PathLike,
    *,
    check_files: bool = True,
    errors: list[str] | None = None,
) -> dict[str, dict]:
    """Image file name -> its record from `<dir>/generation.jsonl`, every record validated.

    No `generation.jsonl` gives {} (images made elsewhere carry no record). The last record of a file wins.
    With `check_files`, a record whose image is gone is left out and an image whose sha256 differs from
    its record is an error. Errors are one line naming the file (and line); they raise `DataError`, or,
    when an `errors` list is given, are appended to it and the record is left out.
    """
    folder = Path(ai_backgrounds_dir)
    path = folder / RECORDS_NAME
    if not path.is_file():
        return {}
    found: dict[str, dict] = {}
    where: dict[str, int] = {}

    def fault(message: str) -> None:
        if errors is None:
            raise DataError(message)
        errors.append(message)

    try:
        lines = _lines(path)
    except (OSError, UnicodeDecodeError) as exc:
        fault(f"{path}: unreadable: {exc}")
        return {}
    for number, line in lines:
        try:
            record = json.loads(line)
        except ValueError as exc:
            fault(f"{path}:{number}: not a JSON record ({exc.args[0] if exc.args else exc})")
            continue
        problem = record_problem(record)
        if problem:
            fault(f"{path}:{number}: {problem}")
            continue
        found[record["file"]] = record
        where[record["file"]] = number
    if not check_files:
        return found
    checked: dict[str, dict] = {}
    for name, record in sorted(found.items()):
        image = folder / name
        if not image.is_file():
            continue
        if sha256_file(image) != record["sha256"]:
            fault(f"{image}: sha256 differs from its record ({path.name} line {where[name]}): changed after generation")
            continue
        checked[name] = record
    return checked


def load_own_records(path: Path) -> tuple[list[dict], list[str]]:
    """Every record of the generator's own `generation.jsonl`, in file order, and notes on lines dropped.

    A last line cut off mid-write (a killed run) is dropped with a note; any other bad line makes the file
    not ours and raises `DataError` naming it, so that a run never rewrites a file it does not understand.
    """
    if not path.exists():
        return [], []
    lines = _lines(path)
    complete = path.read_bytes().endswith(b"\n")
    records: list[dict] = []
    notes: list[str] = []
    for index, (number, line) in enumerate(lines):
        try:
            record = json.loads(line)
        except ValueError:
            if index == len(lines) - 1 and not complete:
                notes.append(f"{path}:{number}: dropped a record cut off by an interrupted run")
                continue
            raise DataError(f"{path}:{number}: not a JSON record; not a file generate-backgrounds wrote") from None
        problem = record_problem(record)
        if problem:
            raise DataError(f"{path}:{number}: {problem}; not a file generate-backgrounds wrote")
        records.append(record)
    return records, notes


def _line(record: Mapping[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


def append_record(path: Path, record: Mapping[str, Any]) -> None:
    """Append one record as a line and flush it to disk."""
    with open(path, "ab") as f:
        f.write(_line(record).encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())


def write_records(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    """Rewrite the file atomically with these records, one a line, in this order."""
    write_atomic(path, "".join(_line(record) for record in records))
