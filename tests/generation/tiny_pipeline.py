"""Tiny randomly initialised inpainting pipelines, built from diffusers and transformers configs and saved in
the diffusers layout: the same files a Hub repo of real weights holds, small enough to run in a test.

The tokenizer is written here: a byte-level BPE vocabulary of single printable characters (each also with
CLIP's end-of-word mark) and no merges, so any ASCII prompt tokenizes.
"""

from __future__ import annotations

import json
from pathlib import Path

SAMPLE_SIZE = 32  # latent side: native resolution 64 px with the VAE's factor 2
TOKENS = 128  # one token a character: room for the default prompt without truncation


def _tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for code in range(33, 127):
        for token in (chr(code), chr(code) + "</w>"):
            vocab.setdefault(token, len(vocab))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(
        vocab_file=str(folder / "vocab.json"), merges_file=str(folder / "merges.txt"), model_max_length=TOKENS
    )
    return tokenizer, len(vocab)


def _safety_checker_flagging_everything():
    """A tiny `StableDiffusionSafetyChecker` whose concept thresholds (-2) every cosine similarity exceeds."""
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    config = CLIPConfig(
        text_config={"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 1},
        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 1,
                       "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    checker = StableDiffusionSafetyChecker(config)
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(-2.0)
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return checker, processor


def make_tiny_pipeline(folder: Path, kind: str = "sdxl", seed: int = 0) -> Path:
    """Save a tiny `StableDiffusionXLInpaintPipeline` ("sdxl") or `StableDiffusionInpaintPipeline` ("sd"; "sd-unsafe"
    with a safety checker that blanks every image)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        EulerDiscreteScheduler,
        StableDiffusionInpaintPipeline,
        StableDiffusionXLInpaintPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    tokenizer, vocab_size = _tokenizer(folder.parent / f"{folder.name}-vocab")
    text = CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37,
        num_attention_heads=4, num_hidden_layers=2, vocab_size=vocab_size, projection_dim=32,
        max_position_embeddings=TOKENS,
    )
    unet_common = dict(
        block_out_channels=(16, 32), layers_per_block=1, sample_size=SAMPLE_SIZE, in_channels=9, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), norm_num_groups=8,
    )
    vae = AutoencoderKL(
        block_out_channels=[16, 32], in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=8,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2, sample_size=64,
    )
    if kind == "sdxl":
        unet = UNet2DConditionModel(
            **unet_common, cross_attention_dim=64, use_linear_projection=True, addition_embed_type="text_time",
            addition_time_embed_dim=8, transformer_layers_per_block=(1, 2),
            projection_class_embeddings_input_dim=8 * 6 + 32,
        )
        scheduler = EulerDiscreteScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
            timestep_spacing="leading",
        )
        pipe = StableDiffusionXLInpaintPipeline(
            vae=vae, text_encoder=CLIPTextModel(text), text_encoder_2=CLIPTextModelWithProjection(text),
            tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet, scheduler=scheduler,
        )
    elif kind in ("sd", "sd-unsafe"):
        unet = UNet2DConditionModel(**unet_common, cross_attention_dim=32)
        scheduler = DDIMScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
            set_alpha_to_one=False, steps_offset=1,
        )
        checker, processor = _safety_checker_flagging_everything() if kind == "sd-unsafe" else (None, None)
        pipe = StableDiffusionInpaintPipeline(
            vae=vae, text_encoder=CLIPTextModel(text), tokenizer=tokenizer, unet=unet, scheduler=scheduler,
            safety_checker=checker, feature_extractor=processor, requires_safety_checker=checker is not None,
        )
    else:
        raise ValueError(f"unknown kind {kind!r}")
    pipe.save_pretrained(folder)
    return folder
