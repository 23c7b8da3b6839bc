#!/usr/bin/env python3
"""Build the tiny random-weight unCLIP fixtures and their golden data (fp32, CPU).

Reference: diffusers 0.42.1 UnCLIPPipeline / UnCLIPImageVariationPipeline (pipelines/deprecated/unclip)
with transformers 5.23.0 CLIP towers and torch 2.13.0 (CPU), using Karlo's exact block types
(configs: scripts/unclip_configs.py). The real CLIP BPE tokenizer comes from open_clip's
bpe_simple_vocab_16e6.txt.gz (read with gzip, never imported).

Usage (from the repo root, with the reference venv from scripts/setup-reference.sh):
  .venv-ref/bin/python scripts/make_fixtures.py [--out Tests/Fixtures/models] [--work DIR] [--configs tiny-a,tiny-b]

Writes, for each configuration C: OUT/C/model.safetensors (the Karlo-layout folder saved with
save_pretrained and converted by scripts/convert.py) and OUT/C/golden.safetensors; plus
OUT/common.safetensors (config-independent goldens). Names: Tests/Fixtures/models/README.md.
Checks on the way: the pure-Python specs equal the real classes on the meta device (tiny and full
Karlo configs), the converted tensors equal the modules' state dicts bit for bit, and the pure
image-variations layout converts to the same tensors. Deterministic: two runs give identical bytes.
No network. Errors: "error: ..." on stderr, exit 1.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

import convert  # noqa: E402
import diffusers  # noqa: E402
import transformers  # noqa: E402

for _lib in (diffusers, transformers):  # keep the output to our own lines
    _lib.utils.logging.set_verbosity_error()
    _lib.utils.logging.disable_progress_bar()
from fixture_e2e import common_goldens, run_case  # noqa: E402
from fixture_golden import LONG_PROMPT, component_goldens, reference_tokenizer_check  # noqa: E402
from fixture_pipeline import CLASSES, build_components, build_pipelines, save_folders  # noqa: E402
from unclip_configs import KARLO, TINY_NAMES, tiny_config  # noqa: E402
from unclip_format import array_entry, read_all, write_file  # noqa: E402
from unclip_spec import spec_for  # noqa: E402
from unclip_tokenizer import write_tokenizer_folder  # noqa: E402
from unclip_torch import meta_spec  # noqa: E402

SEEDS = {"tiny-a": 1, "tiny-b": 2}


def cases(name: str) -> list:
    on = dict(prior_guidance_scale=4.0, decoder_guidance_scale=8.0)
    off = dict(prior_guidance_scale=1.0, decoder_guidance_scale=1.0)
    if name == "tiny-a":
        return [
            dict(name="t2i_cfg", pipeline="t2i", prompt="a photo of a cat", seed=0,
                 prior_steps=4, decoder_steps=4, sr_steps=3, **on),
            dict(name="t2i_nocfg", pipeline="t2i", prompt="a photo of a cat", seed=1,
                 prior_steps=3, decoder_steps=3, sr_steps=2, **off),
            dict(name="t2i_batch", pipeline="t2i", prompt=["a red cube", "a blue sphere on the grass"], seed=2,
                 prior_steps=3, decoder_steps=3, sr_steps=2, prior_guidance_scale=2.5, decoder_guidance_scale=3.0),
            dict(name="variation", pipeline="variation", image="src1", seed=3, decoder_steps=3, sr_steps=2,
                 decoder_guidance_scale=8.0),
            # One generator per image (a list: seed, seed+1), as unclip-run draws noise for -n images.
            dict(name="t2i_gens", pipeline="t2i", prompt="a photo of a cat", seed=22, generators="list",
                 num_images_per_prompt=2, prior_steps=3, decoder_steps=3, sr_steps=2, **on),
            # DDIM (from each stage's config, eta 0.5) on all three stages.
            dict(name="t2i_ddim", pipeline="t2i", prompt="a photo of a cat", seed=21, scheduler="ddim", eta=0.5,
                 prior_steps=4, decoder_steps=4, sr_steps=3, **on),
            dict(name="variation_gens", pipeline="variation", image="src0", seed=25, generators="list",
                 num_images_per_prompt=2, decoder_steps=3, sr_steps=2, decoder_guidance_scale=8.0),
        ]
    return [
        dict(name="t2i_cfg", pipeline="t2i", prompt=LONG_PROMPT, seed=7, prior_steps=5, decoder_steps=5,
             sr_steps=3, **on),
        dict(name="t2i_nocfg", pipeline="t2i", prompt="An astronaut riding a horse", seed=8, prior_steps=3,
             decoder_steps=3, sr_steps=2, **off),
        dict(name="t2i_multi", pipeline="t2i", prompt="two dogs", seed=11, prior_steps=3, decoder_steps=3,
             sr_steps=2, num_images_per_prompt=2, **on),
        dict(name="variation", pipeline="variation", image="src0", seed=9, decoder_steps=4, sr_steps=3,
             decoder_guidance_scale=8.0),
        # Deterministic DDIM (eta 0) everywhere; prior scale 1 while CFG is on for the decoder.
        dict(name="t2i_ddim", pipeline="t2i", prompt="An astronaut riding a horse", seed=23, scheduler="ddim", eta=0.0,
             prior_steps=3, decoder_steps=3, sr_steps=2, prior_guidance_scale=1.0, decoder_guidance_scale=8.0),
        dict(name="variation_ddim", pipeline="variation", image="src1", seed=24, scheduler="ddim", eta=0.3,
             decoder_steps=3, sr_steps=2, decoder_guidance_scale=8.0),
    ]


def check_specs(configs: dict) -> None:
    for label, cfg in configs.items():
        for comp, cls in CLASSES.items():
            if meta_spec(cls, cfg[comp]) != spec_for(cls, cfg[comp]):
                raise SystemExit(f"error: spec of {label}/{comp} disagrees with {cls} on the meta device")


def check_converted(path: str, mods: dict, comps) -> None:
    tensors, meta = read_all(path)
    want = {}
    for comp in comps:
        for k, v in mods[comp].state_dict().items():
            if k.endswith("position_ids") or k == "causal_attention_mask":
                continue
            want[f"{comp}.{k}"] = v.numpy()
    if set(tensors) != set(want):
        raise SystemExit(f"error: {path}: key sets differ: {sorted(set(tensors) ^ set(want))[:5]}")
    for k, v in want.items():
        if tensors[k].dtype != np.float32 or not np.array_equal(tensors[k], v):
            raise SystemExit(f"error: {path}: tensor {k} differs from the module")


def check_folder_roundtrip(folder: str, golden: dict, case: dict) -> None:
    """The saved Karlo-layout folder, loaded back into a pipeline, reproduces the first e2e case. Bitwise
    equality is not expected: torch's conv kernels vary in the last ulp with the weights' alignment."""
    from unclip_torch import load_pipeline
    pipe = load_pipeline(folder, "t2i")
    for m in (pipe.prior, pipe.decoder):
        m.set_default_attn_processor()
    pipe.text_encoder.set_attn_implementation("eager")
    with torch.no_grad():
        img = pipe(prompt=case["prompt"], prior_num_inference_steps=case["prior_steps"],
                   decoder_num_inference_steps=case["decoder_steps"], super_res_num_inference_steps=case["sr_steps"],
                   prior_guidance_scale=case["prior_guidance_scale"], decoder_guidance_scale=case["decoder_guidance_scale"],
                   generator=torch.Generator("cpu").manual_seed(case["seed"]), output_type="np").images
    err = float(np.abs(img - golden[f"e2e.{case['name']}.image"]).max())
    if err > 1e-4:
        raise SystemExit(f"error: {folder}: reloaded pipeline differs from the golden image by {err}")


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_golden(path: str, arrays: dict, meta: dict) -> None:
    write_file(path, [array_entry(k, v) for k, v in arrays.items()], meta)


def build_config(name: str, out_dir: str, work: str, tok_dir: str) -> list:
    t0 = time.time()
    cfg = tiny_config(name)
    mods = build_components(cfg, SEEDS[name])
    t2i, var = build_pipelines(mods, tok_dir)
    combined, variations = save_folders(t2i, var, work, name)
    dst = os.path.join(out_dir, name)
    os.makedirs(dst, exist_ok=True)
    model_path = os.path.join(dst, "model.safetensors")
    convert.convert(combined, model_path, quiet=True)
    check_converted(model_path, mods, list(CLASSES))
    var_path = os.path.join(work, f"{name}-variations.safetensors")
    convert.convert(variations, var_path, quiet=True)
    check_converted(var_path, mods, [c for c in CLASSES if c != "prior"])

    golden = component_goldens(t2i, var, cfg, seed=100 + SEEDS[name])
    case_list = cases(name)
    for case in case_list:
        golden.update(run_case(t2i, var, case))
    meta = {"fixture": name, "generator": "scripts/make_fixtures.py",
            "e2e.cases": json.dumps(case_list, sort_keys=True),
            "versions": json.dumps({"torch": torch.__version__, "diffusers": diffusers.__version__,
                                    "transformers": transformers.__version__})}
    check_folder_roundtrip(combined, golden, case_list[0])
    gpath = os.path.join(dst, "golden.safetensors")
    write_golden(gpath, golden, meta)
    print(f"{name}: model {os.path.getsize(model_path) / 1e6:.2f} MB, golden {os.path.getsize(gpath) / 1e6:.2f} MB "
          f"({len(golden)} tensors) in {time.time() - t0:.1f}s")
    return [model_path, gpath]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "Tests", "Fixtures", "models"))
    ap.add_argument("--work", help="scratch folder for the diffusers folders (default: a temp dir, removed)")
    ap.add_argument("--configs", default=",".join(TINY_NAMES))
    args = ap.parse_args(argv)
    names = [n for n in args.configs.split(",") if n]
    for n in names:
        if n not in TINY_NAMES:
            print(f"error: unknown config {n!r} (known: {', '.join(TINY_NAMES)})", file=sys.stderr)
            return 1
    t0 = time.time()
    check_specs({"karlo": KARLO, **{n: tiny_config(n) for n in TINY_NAMES}})
    work = args.work or tempfile.mkdtemp(prefix="unclip-fixtures-")
    os.makedirs(work, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    try:
        tok_dir = os.path.join(work, "tokenizer")
        write_tokenizer_folder(tok_dir)
        written = []
        for n in names:
            written += build_config(n, args.out, work, tok_dir)
        from transformers import CLIPTokenizer
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
        from unclip_configs import FEATURE_EXTRACTOR
        tok = CLIPTokenizer.from_pretrained(tok_dir)
        bad = reference_tokenizer_check(tok)
        if bad:
            print(f"note: HF tokenizer differs from the plain OpenAI BPE (no ftfy) on {bad!r}")
        common, meta = common_goldens(tok, CLIPImageProcessorPil(**FEATURE_EXTRACTOR))
        meta.update({"generator": "scripts/make_fixtures.py",
                     "versions": json.dumps({"torch": torch.__version__, "diffusers": diffusers.__version__,
                                             "transformers": transformers.__version__})})
        cpath = os.path.join(args.out, "common.safetensors")
        write_golden(cpath, common, meta)
        written.append(cpath)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    total = sum(os.path.getsize(p) for p in written)
    for p in written:
        print(f"  {sha256(p)[:16]}  {os.path.getsize(p) / 1e6:7.2f} MB  {os.path.relpath(p)}")
    print(f"total {total / 1e6:.2f} MB in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
