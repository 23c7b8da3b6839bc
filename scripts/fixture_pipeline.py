"""Tiny random-weight unCLIP pipelines for the fixtures, and their Karlo-layout folders on disk.

Mirrors diffusers 0.42.1 UnCLIPPipeline / UnCLIPImageVariationPipeline (pipelines/deprecated/unclip)
built directly from components, with the same component classes and options as
kakaobrain/karlo-v1-alpha (configs in scripts/unclip_configs.py). Every parameter is randomised from a
fixed torch seed (including the ones diffusers initialises to zero). Used by scripts/make_fixtures.py.
Not a command-line tool.
"""
from __future__ import annotations

import json
import math
import os
import shutil

import torch
from torch import nn

from unclip_configs import FEATURE_EXTRACTOR, SCHEDULER_CONFIGS
from unclip_tokenizer import write_tokenizer_folder
from unclip_torch import build_module

CLASSES = {"text_encoder": "CLIPTextModelWithProjection", "image_encoder": "CLIPVisionModelWithProjection",
           "prior": "PriorTransformer", "text_proj": "UnCLIPTextProjModel", "decoder": "UNet2DConditionModel",
           "super_res_first": "UNet2DModel", "super_res_last": "UNet2DModel"}
EMBEDDING_PARAMS = ("positional_embedding", "prd_embedding", "learned_classifier_free_guidance_embeddings",
                    "class_embedding")


@torch.no_grad()
def randomize_(module: nn.Module, seed: int) -> None:
    """Overwrite every parameter with seeded random values (deterministic, order-independent)."""
    g = torch.Generator().manual_seed(seed)
    norms = {}
    for mname, m in module.named_modules():
        if isinstance(m, (nn.LayerNorm, nn.GroupNorm)):
            norms[f"{mname}.weight"] = "w"
            norms[f"{mname}.bias"] = "b"
    embeddings = {f"{n}.weight" for n, m in module.named_modules() if isinstance(m, nn.Embedding)}
    for name, p in sorted(module.named_parameters()):
        r = torch.randn(p.shape, generator=g, dtype=torch.float32)
        leaf = name.rsplit(".", 1)[-1]
        if norms.get(name) == "w":
            v = 1.0 + 0.1 * r
        elif norms.get(name) == "b" or leaf == "bias":
            v = 0.05 * r
        elif name in embeddings or leaf in EMBEDDING_PARAMS:
            v = 0.2 * r
        elif leaf == "clip_mean":
            v = 0.1 * r
        elif leaf == "clip_std":
            v = 0.5 + torch.rand(p.shape, generator=g)
        elif p.ndim >= 2:
            v = r / math.sqrt(max(1, p[0].numel()))
        else:
            v = 0.05 * r
        p.copy_(v.to(p.dtype))


def build_components(cfg: dict, seed: int) -> dict:
    mods = {}
    for i, (comp, cls) in enumerate(CLASSES.items()):
        m = build_module(cls, cfg[comp])
        randomize_(m, seed * 100 + i)
        m.eval()
        if hasattr(m, "set_default_attn_processor"):
            m.set_default_attn_processor()
        if hasattr(m, "set_attn_implementation"):
            m.set_attn_implementation("eager")
        mods[comp] = m
    return mods


def schedulers():
    from diffusers import UnCLIPScheduler
    return {k: UnCLIPScheduler(**{a: b for a, b in v.items() if not a.startswith("_")})
            for k, v in SCHEDULER_CONFIGS.items()}


def build_pipelines(mods: dict, tokenizer_dir: str):
    from diffusers import UnCLIPImageVariationPipeline, UnCLIPPipeline
    from transformers import CLIPTokenizer
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    tok = CLIPTokenizer.from_pretrained(tokenizer_dir)
    assert tok.pad_token == "!" and tok.pad_token_id == 0 and tok.model_max_length == 77
    s = schedulers()
    t2i = UnCLIPPipeline(prior=mods["prior"], decoder=mods["decoder"], text_encoder=mods["text_encoder"],
                         tokenizer=tok, text_proj=mods["text_proj"], super_res_first=mods["super_res_first"],
                         super_res_last=mods["super_res_last"], **s)
    s = schedulers()
    var = UnCLIPImageVariationPipeline(
        decoder=mods["decoder"], text_encoder=mods["text_encoder"], tokenizer=tok, text_proj=mods["text_proj"],
        feature_extractor=CLIPImageProcessorPil(**FEATURE_EXTRACTOR), image_encoder=mods["image_encoder"],
        super_res_first=mods["super_res_first"], super_res_last=mods["super_res_last"],
        decoder_scheduler=s["decoder_scheduler"], super_res_scheduler=s["super_res_scheduler"])
    for p in (t2i, var):
        p.set_progress_bar_config(disable=True)
    return t2i, var


def _karlo_tokenizer(folder: str) -> None:
    shutil.rmtree(os.path.join(folder, "tokenizer"))
    write_tokenizer_folder(os.path.join(folder, "tokenizer"))


def _patch_index(folder: str, extra: dict) -> None:
    p = os.path.join(folder, "model_index.json")
    with open(p, encoding="utf-8") as f:
        idx = json.load(f)
    idx.update(extra)
    if "text_proj" in idx:
        idx["text_proj"] = ["unclip", "UnCLIPTextProjModel"]  # as on the Hub (current diffusers rejects it)
    with open(p, "w", encoding="utf-8") as f:
        f.write(json.dumps(dict(sorted(idx.items())), indent=2) + "\n")


def save_folders(t2i, var, work: str, name: str) -> tuple[str, str]:
    """Writes work/<name> (text-to-image layout plus image_encoder/ and feature_extractor/, the combined
    layout) and work/<name>-variations (pure image-variations layout). Returns both paths."""
    combined, variations = os.path.join(work, name), os.path.join(work, f"{name}-variations")
    for d in (combined, variations):
        shutil.rmtree(d, ignore_errors=True)
    t2i.save_pretrained(combined, safe_serialization=True)
    var.image_encoder.save_pretrained(os.path.join(combined, "image_encoder"), safe_serialization=True)
    var.feature_extractor.save_pretrained(os.path.join(combined, "feature_extractor"))
    _karlo_tokenizer(combined)
    _patch_index(combined, {"image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
                            "feature_extractor": ["transformers", "CLIPImageProcessor"]})
    var.save_pretrained(variations, safe_serialization=True)
    _karlo_tokenizer(variations)
    _patch_index(variations, {"feature_extractor": ["transformers", "CLIPImageProcessor"]})
    return combined, variations
