"""Fixtures: tiny inpainting pipelines saved in the diffusers layout, one served by a loopback Hub, sources."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub_server import HubServer
from ximagenet12.synthetic import make_source_tree

from .tiny_pipeline import make_tiny_pipeline

WNIDS = ("n02119022", "n02992211")  # red fox, cello
MODEL_REPO = "ns/tiny-sdxl-inpaint"


@pytest.fixture(scope="session")
def one_torch_thread() -> None:
    """torch on one thread: this machine's cores are shared, and torch's thread pool spin-waits under load
    (a tiny matmul measured 8x slower on 2 threads than on 1 here)."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None) -> Path:
    """A tiny random SDXL inpainting pipeline folder (read-only)."""
    return make_tiny_pipeline(tmp_path_factory.mktemp("models") / "tiny-sdxl", "sdxl")


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None) -> Path:
    """A tiny random SD-1.5-style inpainting pipeline folder (read-only)."""
    return make_tiny_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd", "sd")


@pytest.fixture(scope="session")
def model_hub(tiny_sdxl: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """A loopback Hub holding the tiny SDXL pipeline as model repo `ns/tiny-sdxl-inpaint`, uploaded by the client."""
    from huggingface_hub import HfApi, constants

    server = HubServer(tmp_path_factory.mktemp("hub")).start()
    xet, offline = constants.HF_HUB_DISABLE_XET, constants.HF_HUB_OFFLINE
    constants.HF_HUB_DISABLE_XET, constants.HF_HUB_OFFLINE = True, False
    try:
        api = HfApi(endpoint=server.url, token=server.token)
        api.create_repo(MODEL_REPO, repo_type="model")
        api.upload_folder(folder_path=tiny_sdxl, repo_id=MODEL_REPO, repo_type="model", commit_message="tiny model")
        yield server
    finally:
        constants.HF_HUB_DISABLE_XET, constants.HF_HUB_OFFLINE = xet, offline
        server.stop()
    assert not server.errors, server.errors


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """Four synthetic sources (two classes x 2, 96x128, authors' layout with V7 masks) in a fresh folder."""
    root = tmp_path / "sources"
    make_source_tree(root, n_per_class=2, wnids=WNIDS, layout="authors")
    return root
