"""Torch-side helpers: build the real diffusers/transformers component classes from config dicts.

Mirrors how diffusers' pipeline loader instantiates unCLIP components (diffusers 0.42.1:
pipelines/deprecated/unclip; transformers 5.23.0: models/clip). Imported lazily by convert.py
(for *.bin inputs and --verify-with-torch) and by make_fixtures.py. Not a command-line tool.
"""
from __future__ import annotations

import numpy as np
import torch

torch.set_num_threads(2)

TORCH_TO_NAME = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
                 torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}


def _clean(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if not k.startswith("_")}


def build_module(class_name: str, cfg: dict):
    """Instantiate the component class from a config dict (on the current default device)."""
    import diffusers
    import transformers
    cfg = _clean(cfg)
    if class_name == "CLIPTextModelWithProjection":
        return transformers.CLIPTextModelWithProjection(transformers.CLIPTextConfig(**cfg))
    if class_name == "CLIPVisionModelWithProjection":
        return transformers.CLIPVisionModelWithProjection(transformers.CLIPVisionConfig(**cfg))
    if class_name == "UnCLIPTextProjModel":
        from diffusers.pipelines.deprecated.unclip.text_proj import UnCLIPTextProjModel
        return UnCLIPTextProjModel(**cfg)
    if class_name in ("PriorTransformer", "UNet2DConditionModel", "UNet2DModel"):
        return getattr(diffusers, class_name)(**cfg)
    raise ValueError(f"unknown component class {class_name!r}")


def meta_spec(class_name: str, cfg: dict) -> dict:
    """State-dict key -> shape of the real class, instantiated on the meta device (no memory)."""
    with torch.device("meta"):
        m = build_module(class_name, cfg)
    return {k: tuple(v.shape) for k, v in m.state_dict().items()}


def to_numpy(t: "torch.Tensor") -> tuple[str, np.ndarray]:
    """Tensor -> (dtype name, numpy array as carried by unclip_format; BF16 as uint16 bits)."""
    t = t.detach().cpu().contiguous()
    name = TORCH_TO_NAME.get(t.dtype)
    if name is None:
        raise ValueError(f"unsupported torch dtype {t.dtype}")
    if name == "BF16":
        return name, t.view(torch.int16).numpy().view(np.uint16)
    if name == "BOOL":
        return name, t.to(torch.uint8).numpy()
    return name, t.numpy()


def load_bin(path: str) -> dict:
    """Load a PyTorch pickle state dict (memory-mapped when the file allows it)."""
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ValueError(f"{path}: not a state dict")
    return sd


def load_pipeline(folder: str, kind: str = "t2i", dtype=None):
    """Build UnCLIPPipeline ("t2i") or UnCLIPImageVariationPipeline ("variation") from a Karlo-layout
    folder, component by component. diffusers 0.42.1's from_pretrained cannot load these folders: it
    rejects Karlo's ["unclip", "UnCLIPTextProjModel"] entry, and ["diffusers", ...] fails too because
    UnCLIPTextProjModel is not exported from the diffusers namespace."""
    import os
    import diffusers
    import transformers
    from diffusers.pipelines.deprecated.unclip.text_proj import UnCLIPTextProjModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    dtype = dtype or torch.float32

    def sub(name):
        return os.path.join(folder, name)
    c = dict(
        decoder=diffusers.UNet2DConditionModel.from_pretrained(sub("decoder"), torch_dtype=dtype),
        text_encoder=transformers.CLIPTextModelWithProjection.from_pretrained(sub("text_encoder"), dtype=dtype),
        tokenizer=transformers.CLIPTokenizer.from_pretrained(sub("tokenizer")),
        text_proj=UnCLIPTextProjModel.from_pretrained(sub("text_proj"), torch_dtype=dtype),
        super_res_first=diffusers.UNet2DModel.from_pretrained(sub("super_res_first"), torch_dtype=dtype),
        super_res_last=diffusers.UNet2DModel.from_pretrained(sub("super_res_last"), torch_dtype=dtype),
        decoder_scheduler=diffusers.UnCLIPScheduler.from_pretrained(sub("decoder_scheduler")),
        super_res_scheduler=diffusers.UnCLIPScheduler.from_pretrained(sub("super_res_scheduler")),
    )
    if kind == "t2i":
        c["prior"] = diffusers.PriorTransformer.from_pretrained(sub("prior"), torch_dtype=dtype)
        c["prior_scheduler"] = diffusers.UnCLIPScheduler.from_pretrained(sub("prior_scheduler"))
        pipe = diffusers.UnCLIPPipeline(**c)
    else:
        c["image_encoder"] = transformers.CLIPVisionModelWithProjection.from_pretrained(
            sub("image_encoder"), dtype=dtype)
        c["feature_extractor"] = CLIPImageProcessorPil.from_pretrained(sub("feature_extractor"))
        pipe = diffusers.UnCLIPImageVariationPipeline(**c)
    pipe.set_progress_bar_config(disable=True)
    return pipe
