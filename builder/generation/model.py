"""The diffusion model: device and precision, loading an inpainting pipeline pinned to a revision, one batch.

torch, diffusers and transformers come from the `generate` extra and are imported only here, when a
model is loaded.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ximagenet12.errors import EXIT_AUTH, EXIT_NETWORK, EXIT_NOT_FOUND, MissingExtra, XImageNet12Error
from ximagenet12.provenance import canonical_json, fingerprint, sha256_file

DEFAULT_MODEL = "diffusers/stable-diffusion-xl-1.0-inpainting-0.1"
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
PIPELINE_MULTIPLE = 8  # diffusers' inpainting pipelines refuse sizes that are not multiples of 8
COMMIT = re.compile(r"[0-9a-f]{40}")
# What a batch passes to the pipeline; a pipeline that takes fewer cannot be driven the same way.
CALL_PARAMETERS = (
    "prompt", "negative_prompt", "image", "mask_image", "height", "width", "strength",
    "num_inference_steps", "guidance_scale", "generator", "output_type",
)


def import_torch_and_diffusers() -> tuple[Any, Any]:
    """(torch, diffusers), or a one-line `MissingExtra` naming the `generate` extra."""
    try:
        import diffusers
        import torch
        import transformers  # noqa: F401  (diffusers' pipelines load their text encoders from it)
    except ImportError as exc:
        raise MissingExtra(f"generate-backgrounds ({exc.name} is not installed)", "generate") from None
    return torch, diffusers


def resolve_device(requested: str) -> str:
    """The device to run on: `auto` is CUDA, else MPS, else the CPU; an absent device is a one-line error."""
    torch, _ = import_torch_and_diffusers()
    has_cuda = torch.cuda.is_available()
    has_mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if requested == "auto":
        return "cuda" if has_cuda else "mps" if has_mps else "cpu"
    if requested == "cuda" and not has_cuda:
        raise XImageNet12Error("--device cuda: torch sees no CUDA device (is this a CUDA build of torch?)")
    if requested == "mps" and not has_mps:
        raise XImageNet12Error("--device mps: torch sees no Apple MPS device")
    if requested not in DEVICES:
        raise XImageNet12Error(f"--device {requested}: expected one of {', '.join(DEVICES)}")
    return requested


def default_precision(device: str) -> str:
    """fp16 on a GPU, where it halves memory and time; fp32 on the CPU."""
    return "fp32" if device == "cpu" else "fp16"


@dataclass
class Model:
    """A loaded inpainting pipeline and everything about it a record needs."""

    pipe: Any
    info: dict[str, str]  # id, revision (commit sha, or sha256 of a local folder's files), pipeline, origin
    scheduler: dict[str, Any]  # class and config
    native: int  # side of the square area the model was trained at, in pixels
    multiple: int  # working sizes are multiples of this (VAE factor x UNet downsamplings)
    dilation: int  # px the repainted region grows into the object: one latent cell
    strength: float
    device: str
    precision: str


def folder_digest(folder: Path) -> str:
    """sha256 over every visible file's relative path and sha256: the revision of a local pipeline folder."""
    files = sorted(
        p for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    return fingerprint([[p.relative_to(folder).as_posix(), sha256_file(p)] for p in files])


def _hub_error(exc: BaseException, model: str, revision: str | None) -> XImageNet12Error | None:
    """A one-line error for a Hub or network failure while fetching `model`; None for anything else."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = constants.ENDPOINT
    if isinstance(exc, GatedRepoError):
        return XImageNet12Error(
            f"--model {model}: gated repo at {endpoint}; accept its licence there and set HF_TOKEN", EXIT_AUTH
        )
    if isinstance(exc, RepositoryNotFoundError):
        return XImageNet12Error(
            f"--model {model}: no such model repo at {endpoint}, or not visible with this token; "
            "give a Hub repo id or a local folder", EXIT_NOT_FOUND,
        )
    if isinstance(exc, RevisionNotFoundError):
        return XImageNet12Error(f"--revision {revision}: not a revision of {model} at {endpoint}", EXIT_NOT_FOUND)
    if isinstance(exc, (OfflineModeIsEnabled, LocalEntryNotFoundError)):
        return XImageNet12Error(
            f"--model {model}: not in the local cache ({constants.HF_HUB_CACHE}) and the Hub cannot be reached "
            f"({'HF_HUB_OFFLINE is set' if constants.HF_HUB_OFFLINE else 'network error'})", EXIT_NETWORK,
        )
    if isinstance(exc, HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        code = EXIT_AUTH if status in (401, 403) else EXIT_NETWORK
        return XImageNet12Error(f"--model {model}: {endpoint} answered {status}", code)
    if isinstance(exc, (ConnectionError, TimeoutError)) or type(exc).__module__.startswith(("httpx", "httpcore")):
        return XImageNet12Error(f"--model {model}: cannot reach the Hub at {endpoint} ({type(exc).__name__})",
                                EXIT_NETWORK)
    return None


def _fetch(model: str, revision: str | None) -> tuple[Path, dict[str, str]]:
    """The local folder of `model` (downloaded from the Hub unless it is a folder) and where it came from."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        if revision is not None:
            raise XImageNet12Error(f"--revision {revision}: only for Hub repos; {model} is a local folder")
        return folder, {"id": str(folder.resolve()), "revision": f"sha256:{folder_digest(folder)}", "origin": "local"}
    if model.startswith(("/", "./", "../", "~")) or model.count("/") > 1:
        raise XImageNet12Error(f"--model {model}: no such folder (a Hub repo id is NAMESPACE/NAME)")
    _, diffusers = import_torch_and_diffusers()
    try:
        path = Path(diffusers.DiffusionPipeline.download(model, revision=revision))
    except Exception as exc:
        for cause in _chain(exc):  # diffusers wraps the Hub's error in an OSError about the local cache
            error = _hub_error(cause, model, revision)
            if error is not None:
                raise error from None
        raise XImageNet12Error(f"--model {model}: {_first_line(exc)}") from None
    commit = path.name
    if not COMMIT.fullmatch(commit):
        from huggingface_hub import model_info

        commit = model_info(model, revision=revision).sha
    return path, {"id": model, "revision": commit, "origin": "hub"}


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and those it was raised from or while handling, outermost first."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _jsonable(config: Any) -> dict[str, Any]:
    return json.loads(canonical_json(dict(config)))


def load_model(model: str, *, revision: str | None, device: str, precision: str) -> Model:
    """Load an inpainting pipeline (Hub repo id or local diffusers folder) on `device` in `precision`."""
    torch, diffusers = import_torch_and_diffusers()
    if precision not in PRECISIONS:
        raise XImageNet12Error(f"--precision {precision}: expected one of {', '.join(PRECISIONS)}")
    folder, info = _fetch(model, revision)
    try:
        pipe = diffusers.AutoPipelineForInpainting.from_pretrained(
            folder, dtype=getattr(torch, PRECISIONS[precision])
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise XImageNet12Error(f"--model {model}: not a diffusers inpainting pipeline: {_first_line(exc)}") from None
    accepted = inspect.signature(pipe.__call__).parameters
    missing = [name for name in CALL_PARAMETERS if name not in accepted]
    if missing:
        raise XImageNet12Error(
            f"--model {model}: {type(pipe).__name__} does not take {', '.join(missing)}; "
            "use a Stable Diffusion-style inpainting pipeline"
        )
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    vae_factor = int(getattr(pipe, "vae_scale_factor", 8))
    unet = getattr(pipe, "unet", None)
    if unet is not None:
        sample = unet.config.sample_size
        native = int(sample if isinstance(sample, int) else max(sample)) * vae_factor
        multiple = math.lcm(PIPELINE_MULTIPLE, vae_factor * 2 ** (len(unet.config.block_out_channels) - 1))
    else:
        native = int(getattr(pipe, "default_sample_size", 128)) * vae_factor
        multiple = math.lcm(PIPELINE_MULTIPLE, vae_factor * 2)
    return Model(
        pipe=pipe,
        info={**info, "pipeline": type(pipe).__name__},
        scheduler={"class": type(pipe.scheduler).__name__, "config": _jsonable(pipe.scheduler.config)},
        native=native,
        multiple=multiple,
        dilation=vae_factor,
        strength=float(accepted["strength"].default),
        device=device,
        precision=precision,
    )


def generate(
    model: Model,
    *,
    prompts: list[str],
    negative_prompts: list[str],
    images: list[np.ndarray],
    repaint: list[np.ndarray],
    steps: int,
    guidance: float,
    seeds: list[int],
) -> tuple[list[np.ndarray], list[bool]]:
    """One batch of same-size inputs: float RGB outputs in [0, 1] at that size, and safety-checker flags.

    Each image has its own CPU `torch.Generator` seeded with its seed, so its noise does not depend on
    the device or on the other images of the batch.
    """
    torch, _ = import_torch_and_diffusers()
    height, width = repaint[0].shape
    try:
        out = model.pipe(
            prompt=prompts,
            negative_prompt=negative_prompts,
            image=[image.astype(np.float32) / 255.0 for image in images],
            mask_image=[(mask > 0).astype(np.float32)[..., None] for mask in repaint],
            height=height,
            width=width,
            strength=model.strength,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=[torch.Generator("cpu").manual_seed(seed) for seed in seeds],
            output_type="np",
        )
    except torch.OutOfMemoryError:
        raise XImageNet12Error(
            f"out of {model.device} memory for a batch of {len(seeds)} at {height}x{width}: lower --batch-size, "
            "or use --precision fp16"
        ) from None
    flags = getattr(out, "nsfw_content_detected", None) or [False] * len(seeds)
    return [np.asarray(image) for image in out.images], [bool(flag) for flag in flags]
