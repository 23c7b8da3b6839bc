#!/usr/bin/env python3
"""Write full-size random unCLIP weights (Karlo v1 alpha architecture) for benchmarks.

Reference: kakaobrain/karlo-v1-alpha (+ -image-variations) configs as listed in
/work/shared/reference/unclip-architecture.md §2.1 (copied into scripts/unclip_configs.py); key names
and shapes from scripts/unclip_spec.py (checked against the real diffusers/transformers classes by
scripts/make_fixtures.py). Tokenizer: the real CLIP BPE from open_clip's bpe_simple_vocab_16e6.txt.gz.

Usage:
  python scripts/make_random_weights.py --preset karlo [--dtype f32|f16|bf16] [--seed N] OUT.safetensors
  python scripts/make_random_weights.py --preset karlo --dtype f16 --diffusers-folder DIR [OUT.safetensors]

OUT is one unclip file (weights/FORMAT.md) holding the text-to-image components plus image_encoder
(a combined file, pipeline "UnCLIPPipeline"). --diffusers-folder DIR also (or instead) writes the very same
tensors as a Karlo-layout diffusers folder (model_index.json, one folder per component, tokenizer,
schedulers, feature_extractor), so PyTorch can load identical weights (scripts/unclip_torch.load_pipeline)
and `scripts/convert.py DIR X` reproduces OUT's tensors exactly. Each tensor is drawn from its own
numpy PCG64 stream seeded from (seed, component, key), so the values do not depend on write order:
weights N(0, min(0.02, 1/sqrt(fan_in))), biases and embeddings N(0, 0.02), norm weights 1 + N(0, 0.02),
clip_std 0.5 + |N(0, 0.1)|. Generation streams one tensor at a time (memory: the largest tensor).
Needs numpy only (no torch). Errors: "error: ..." on stderr, exit 1.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from unclip_configs import FEATURE_EXTRACTOR, KARLO, KARLO_PARAMS, SCHEDULER_CONFIGS, model_index  # noqa: E402
from unclip_format import FORMAT_NAME, FORMAT_VERSION, Entry, cast, numel, write_file  # noqa: E402
from unclip_spec import param_count, spec_for  # noqa: E402
from unclip_tokenizer import read_tokenizer_folder, write_tokenizer_folder  # noqa: E402

COMPONENTS = ("text_encoder", "image_encoder", "prior", "text_proj", "decoder", "super_res_first", "super_res_last")
CLASS = {"text_encoder": "CLIPTextModelWithProjection", "image_encoder": "CLIPVisionModelWithProjection",
         "prior": "PriorTransformer", "text_proj": "UnCLIPTextProjModel", "decoder": "UNet2DConditionModel",
         "super_res_first": "UNet2DModel", "super_res_last": "UNet2DModel"}
TRANSFORMERS = ("text_encoder", "image_encoder")
EMBEDDINGS = ("positional_embedding", "prd_embedding", "learned_classifier_free_guidance_embeddings",
              "class_embedding", "clip_mean")
DTYPE_ARG = {"f32": "F32", "f16": "F16", "bf16": "BF16"}


def random_tensor(seed: int, comp: str, key: str, shape: tuple) -> np.ndarray:
    h = hashlib.sha256(f"{seed}/{comp}/{key}".encode()).digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(h[:16], "little")))
    r = rng.standard_normal(numel(shape), dtype=np.float32).reshape(shape)
    parts = key.split(".")
    leaf, module = parts[-1], (parts[-2] if len(parts) > 1 else "")
    if "norm" in module and leaf == "weight":
        r *= 0.02
        r += 1.0
    elif leaf == "clip_std":
        np.abs(r, out=r)
        r *= 0.1
        r += 0.5
    elif leaf in EMBEDDINGS or "embedding" in module or leaf == "bias" or len(shape) < 2:
        r *= 0.02
    else:
        r *= min(0.02, 1.0 / math.sqrt(numel(shape[1:])))
    return r


def component_entries(comp: str, cfg: dict, seed: int, dtype: str, prefix: str) -> list:
    spec = spec_for(CLASS[comp], cfg)
    return [Entry(f"{prefix}{k}", dtype, shape,
                  lambda k=k, s=shape: cast(random_tensor(seed, comp, k, s), "F32", dtype))
            for k, shape in spec.items()]


def config_text(cfg: dict) -> str:
    return json.dumps(cfg, indent=2, sort_keys=True) + "\n"


def write_diffusers_folder(root: str, seed: int, dtype: str, progress) -> None:
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "model_index.json"), "w") as f:
        idx = model_index("UnCLIPPipeline")
        idx["image_encoder"] = ["transformers", "CLIPVisionModelWithProjection"]
        idx["feature_extractor"] = ["transformers", "CLIPImageProcessor"]
        f.write(json.dumps(dict(sorted(idx.items())), indent=2) + "\n")
    for s, cfg in SCHEDULER_CONFIGS.items():
        os.makedirs(os.path.join(root, s), exist_ok=True)
        with open(os.path.join(root, s, "scheduler_config.json"), "w") as f:
            f.write(config_text(cfg))
    write_tokenizer_folder(os.path.join(root, "tokenizer"))
    os.makedirs(os.path.join(root, "feature_extractor"), exist_ok=True)
    with open(os.path.join(root, "feature_extractor", "preprocessor_config.json"), "w") as f:
        f.write(config_text(FEATURE_EXTRACTOR))
    for comp in COMPONENTS:
        d = os.path.join(root, comp)
        os.makedirs(d, exist_ok=True)
        cfg = KARLO[comp]
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(config_text(cfg))
        name = "model.safetensors" if comp in TRANSFORMERS else "diffusion_pytorch_model.safetensors"
        t0 = time.time()
        size = write_file(os.path.join(d, name), component_entries(comp, cfg, seed, dtype, ""), {"format": "pt"})
        progress(f"  {comp}/{name}: {size / 1e9:.2f} GB in {time.time() - t0:.1f}s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", nargs="?", help="output unclip file")
    ap.add_argument("--preset", required=True, choices=["karlo"])
    ap.add_argument("--dtype", default="f32", choices=sorted(DTYPE_ARG))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--diffusers-folder", help="also write the same weights as a Karlo-layout diffusers folder")
    args = ap.parse_args(argv)
    if not args.out and not args.diffusers_folder:
        print("error: give OUT and/or --diffusers-folder", file=sys.stderr)
        return 1
    dtype = DTYPE_ARG[args.dtype]
    total = 0
    for comp in COMPONENTS:
        n = param_count(spec_for(CLASS[comp], KARLO[comp]))
        total += n
        print(f"{comp:16s} {n / 1e6:9.2f}M params (architecture doc: {KARLO_PARAMS[comp] / 1e6:.2f}M)")
        if abs(n - KARLO_PARAMS[comp]) > 0.051e6:  # the doc rounds to 0.1M or 0.01M
            print(f"error: {comp} has {n} parameters, expected about {KARLO_PARAMS[comp]:.0f}", file=sys.stderr)
            return 1
    print(f"{'total':16s} {total / 1e6:9.2f}M params, {args.dtype}")
    try:
        if args.out:
            t0 = time.time()
            entries = [e for c in COMPONENTS for e in component_entries(c, KARLO[c], args.seed, dtype, f"{c}.")]
            meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "pipeline": "UnCLIPPipeline",
                    "components": ",".join(COMPONENTS),
                    "source": f"scripts/make_random_weights.py --preset karlo --seed {args.seed} (random weights)",
                    "feature_extractor.config": config_text(FEATURE_EXTRACTOR)}
            for c in COMPONENTS:
                meta[f"{c}.config"] = config_text(KARLO[c])
                meta[f"{c}.class"] = CLASS[c]
            for s, cfg in SCHEDULER_CONFIGS.items():
                meta[f"{s}.config"] = config_text(cfg)
            import tempfile
            with tempfile.TemporaryDirectory() as td:
                write_tokenizer_folder(td)
                meta.update(read_tokenizer_folder(td))
            size = write_file(args.out, entries, meta)
            print(f"wrote {args.out}: {len(entries)} tensors, {size / 1e9:.2f} GB in {time.time() - t0:.1f}s")
        if args.diffusers_folder:
            t0 = time.time()
            write_diffusers_folder(args.diffusers_folder, args.seed, dtype, print)
            print(f"wrote {args.diffusers_folder} in {time.time() - t0:.1f}s")
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
