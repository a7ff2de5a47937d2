"""`ximagenet12 generate-backgrounds`: refusals are one line with an exit code, before anything heavy loads."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ximagenet12_builder.cli import main
from ximagenet12_builder.generation import RECORDS_NAME

from ximagenet12.errors import EXIT_DATA, EXIT_MISSING_EXTRA, EXIT_USAGE


def error_lines(capsys: pytest.CaptureFixture) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--steps", "0"], "--steps must be at least 1, got 0"),
        (["--per-source", "0"], "--per-source must be at least 1, got 0"),
        (["--batch-size", "-2"], "--batch-size must be at least 1, got -2"),
        (["--guidance", "-1"], "--guidance must be >= 0, got -1.0"),
        (["--prompt", "a {colour} {name}"], "--prompt: unknown placeholder {colour}; use {name} or {wnid}"),
    ],
)
def test_bad_options_are_refused_in_one_line(options, message, sources: Path, tmp_path: Path, capsys) -> None:
    assert main(["generate-backgrounds", str(sources), "--out", str(tmp_path / "out"), *options]) == EXIT_USAGE
    assert error_lines(capsys) == [f"ximagenet12 generate-backgrounds: error: {message}"]
    assert not (tmp_path / "out").exists()


def test_an_output_folder_inside_the_sources_is_refused(sources: Path, capsys) -> None:
    inside = sources / "image" / "generated"
    assert main(["generate-backgrounds", str(sources), "--out", str(inside)]) == EXIT_USAGE
    assert error_lines(capsys) == [
        f"ximagenet12 generate-backgrounds: error: --out {inside}: inside SOURCES, where the build would read the "
        "images as sources; use SOURCES/ai_backgrounds or a folder outside SOURCES"
    ]
    assert not inside.exists()


def test_a_missing_sources_folder_is_named(tmp_path: Path, capsys) -> None:
    assert main(["generate-backgrounds", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == EXIT_USAGE
    assert error_lines(capsys) == [f"ximagenet12 generate-backgrounds: error: {tmp_path / 'nowhere'}: sources folder "
                                   "not found"]


def test_a_missing_class_table_is_named(sources: Path, tmp_path: Path, capsys) -> None:
    missing = tmp_path / "classes.json"
    assert main(["generate-backgrounds", str(sources), "--out", str(tmp_path / "out"), "--classes", str(missing)]) == 2
    assert error_lines(capsys) == [f"ximagenet12 generate-backgrounds: error: --classes {missing}: no such file"]


def test_without_the_extra_the_command_names_it(sources: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "diffusers", None)
    assert main(["generate-backgrounds", str(sources), "--out", str(tmp_path / "out")]) == EXIT_MISSING_EXTRA
    assert error_lines(capsys) == [
        "ximagenet12 generate-backgrounds: error: generate-backgrounds (diffusers is not installed) needs the "
        "'generate' extra: pip install 'ximagenet12[generate]'"
    ]


@pytest.mark.slow
def test_a_records_file_not_ours_and_folders_that_are_not_pipelines(sources: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / RECORDS_NAME).write_text('{"file": "x.png"}\n')
    assert main(["generate-backgrounds", str(sources), "--out", str(out), "--no-progress"]) == EXIT_DATA
    assert error_lines(capsys) == [
        f"ximagenet12 generate-backgrounds: error: {out / RECORDS_NAME}:1: missing sha256, source_id, wnid, "
        "class_name, k, seed, run_seed, prompt_template, prompt, negative_prompt, model, scheduler, steps, guidance, "
        "strength, precision, device, batch_size, mask_dilation_px, sizes, source_sha256, mask_sha256, "
        "settings_fingerprint, versions, hardware, seconds; not a file generate-backgrounds wrote"
    ]
    empty = tmp_path / "not-a-pipeline"
    empty.mkdir()
    fresh = ["generate-backgrounds", str(sources), "--out", str(tmp_path / "fresh"), "--no-progress"]
    assert main([*fresh, "--model", str(empty)]) == EXIT_USAGE
    lines = error_lines(capsys)
    assert len(lines) == 1
    assert lines[0].startswith(f"ximagenet12 generate-backgrounds: error: --model {empty}: not a diffusers "
                               "inpainting pipeline: ")
    assert main([*fresh, "--model", str(tmp_path / "no-such-model")]) == EXIT_USAGE
    assert error_lines(capsys) == [f"ximagenet12 generate-backgrounds: error: --model {tmp_path / 'no-such-model'}: "
                                   "no such folder (a Hub repo id is NAMESPACE/NAME)"]
    assert main([*fresh, "--model", str(empty), "--revision", "main"]) == EXIT_USAGE
    assert error_lines(capsys) == [f"ximagenet12 generate-backgrounds: error: --revision main: only for Hub repos; "
                                   f"{empty} is a local folder"]


@pytest.mark.slow
def test_devices_auto_picks_what_torch_sees_and_an_absent_one_is_refused() -> None:
    import torch
    from ximagenet12_builder.generation.model import resolve_device

    from ximagenet12.errors import XImageNet12Error

    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    assert resolve_device("auto") == ("cuda" if cuda else "mps" if mps else "cpu")
    assert resolve_device("cpu") == "cpu"
    if not cuda:
        with pytest.raises(XImageNet12Error, match=r"^--device cuda: torch sees no CUDA device"):
            resolve_device("cuda")
    if not mps:
        with pytest.raises(XImageNet12Error, match=r"^--device mps: torch sees no Apple MPS device$"):
            resolve_device("mps")
