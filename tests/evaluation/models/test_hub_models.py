"""timm:, hf: and clip: specs end to end against the loopback Hub, in a subprocess as a user's run.

Each test makes a tiny random model with the library, commits it to the loopback Hub in the layout the
library loads, and runs a script with HF_ENDPOINT pointing there: our preprocessing must equal the
library's own, our logits its direct forward pass on the same images, and `evaluate` must record what
it used (spec, Hub commit, weights hash, preprocessing origin, device, precision, library versions).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hub_server import HubServer, hub_server_fixture  # noqa: F401

from ..tiny_build import make_synthetic_build
from . import tiny_models

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = """
import sys
from tests.evaluation.models import direct
from ximagenet12.evaluation import evaluate

spec, build, out = sys.argv[1:4]
report = direct.compare(spec, build, {direct_call})
result = evaluate(spec, build, configs="original,seg_img", out=out, progress=False, resamples=20,
                  challenge=True, challenge_backgrounds=2)
report["summary"] = {{k: result.summary[k] for k in ("model", "preprocessing", "runtime", "libraries", "mapping")}}
report["accuracy"] = result.accuracy
report["challenge_pairs"] = result.challenge.pairs
emit(report)
"""

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_build(tmp_path_factory.mktemp("hub") / "build", ("original", "seg_img"))


def run(hub_server: HubServer, spec: str, build: Path, out: Path, direct_call: str) -> dict:
    script = SCRIPT.format(direct_call=direct_call)
    result = hub_server.run(script, args=[spec, str(build), str(out)], cwd=ROOT, timeout=600)
    report = result.results[-1]
    assert report["inputs"] < 1e-5, report["inputs"]  # the library's own preprocessing, pixel for pixel
    assert report["logits"] <= 1e-4 * max(1.0, report["logit_scale"]), report
    assert report["argmax_equal"] and report["images"] == 12
    assert (out / "summary.json").is_file() and (out / "challenge_backgrounds.png").is_file()
    assert report["challenge_pairs"] == 6 * 2
    summary = report["summary"]
    assert summary["model"]["spec"] == spec and len(summary["model"]["state_dict_sha256"]) == 64
    assert summary["runtime"]["device"] == "cpu" and summary["runtime"]["precision"] == "fp32"
    assert {"torch", "torchvision", "huggingface_hub"} <= set(summary["libraries"])
    return report


def test_timm_models_by_registry_name_and_hub_id(hub_server: HubServer, build: Path, tmp_path: Path) -> None:
    pytest.importorskip("timm", reason="needs the models extra")
    resnet = tiny_models.timm_model(tiny_models.TIMM_RESNET.split(".")[0], tmp_path / "resnet")
    hub_server.create_repo(f"timm/{tiny_models.TIMM_RESNET}", repo_type="model")
    commit = hub_server.commit_files(f"timm/{tiny_models.TIMM_RESNET}", tiny_models.files_of(resnet),
                                     repo_type="model")
    vit = tiny_models.timm_model(tiny_models.TIMM_VIT.split(".")[0], tmp_path / "vit", seed=1)
    hub_server.create_repo("ns/tiny-vit", repo_type="model")
    hub_server.commit_files("ns/tiny-vit", tiny_models.files_of(vit), repo_type="model")

    spec = f"timm:{tiny_models.TIMM_RESNET}"
    report = run(hub_server, spec, build, tmp_path / "out", f"direct.timm_direct({tiny_models.TIMM_RESNET!r})")
    summary = report["summary"]
    pre = summary["preprocessing"]
    assert (pre["crop"], pre["resize"], pre["interpolation"]) == (160, 168, "bilinear")  # 160 / 0.95
    assert pre["origin"] == "timm.data.resolve_model_data_config"
    hub = summary["model"]["hub"]
    assert hub["repo_id"] == f"timm/{tiny_models.TIMM_RESNET}" and hub["commit"] == commit
    assert hub["file"] == "model.safetensors" and len(hub["sha256"]) == 64
    assert summary["mapping"]["mode"] == "restrict" and "timm" in summary["libraries"]

    report = run(hub_server, "timm:hf-hub:ns/tiny-vit", build, tmp_path / "vit-out",
                 "direct.timm_direct('hf-hub:ns/tiny-vit')")
    assert report["summary"]["preprocessing"]["interpolation"] == "bicubic"


def test_hf_image_classifier_with_imagenet_labels_in_any_order(hub_server: HubServer, build: Path,
                                                               tmp_path: Path) -> None:
    pytest.importorskip("transformers", reason="needs the models extra")
    labels, order = tiny_models.permuted_imagenet_labels()
    folder = tiny_models.hf_vit(tmp_path / "vit", labels)
    hub_server.create_repo("ns/tiny-hf-vit", repo_type="model")
    commit = hub_server.commit_files("ns/tiny-hf-vit", tiny_models.files_of(folder), repo_type="model")
    report = run(hub_server, "hf:ns/tiny-hf-vit", build, tmp_path / "out",
                 f"direct.hf_direct('ns/tiny-hf-vit', {order.tolist()})")
    summary = report["summary"]
    hub = summary["model"]["hub"]
    assert (hub["repo_id"], hub["revision"], hub["commit"], hub["file"]) == (
        "ns/tiny-hf-vit", None, commit, "model.safetensors")
    assert summary["model"]["outputs"]["space"] == "imagenet-1k"
    assert summary["model"]["outputs"]["rule"] == "id2label is ImageNet-1k, reordered to ImageNet indices"
    pre = summary["preprocessing"]
    assert (pre["resize"], pre["crop"], pre["resize_mode"], pre["crop_rounding"]) == (32, 32, "squash", "floor")
    assert pre["mean"] == [0.5, 0.4, 0.3] and pre["origin"].startswith("AutoImageProcessor (ViTImageProcessor)")
    assert summary["model"]["image_processor"]["image_std"] == [0.2, 0.25, 0.3]
    assert "transformers" in summary["libraries"]


def test_clip_zero_shot_from_an_hf_hub_repo(hub_server: HubServer, build: Path, tmp_path: Path) -> None:
    pytest.importorskip("open_clip", reason="needs the models extra")
    folder = tiny_models.clip_model(tmp_path / "clip")
    hub_server.create_repo("ns/tiny-clip", repo_type="model")
    commit = hub_server.commit_files("ns/tiny-clip", tiny_models.files_of(folder), repo_type="model")
    names = ["tabby cat", "missile", "espresso"]
    report = run(hub_server, "clip:hf-hub:ns/tiny-clip", build, tmp_path / "out",
                 f"direct.clip_direct('hf-hub:ns/tiny-clip', {names})")
    summary = report["summary"]
    zero_shot = summary["model"]["zero_shot"]
    assert zero_shot["class_names"] == names and len(zero_shot["templates"]) == 80
    assert zero_shot["templates"][0] == "a bad photo of a {}." and zero_shot["logit_scale"] == 100.0
    assert summary["model"]["open_clip"]["hub"]["commit"] == commit
    assert summary["mapping"]["mode"] == "identity"
    pre = summary["preprocessing"]
    assert (pre["resize"], pre["crop"], pre["interpolation"], pre["resize_mode"]) == (32, 32, "bicubic", "shorter")
    assert "open_clip_torch" in summary["libraries"]
