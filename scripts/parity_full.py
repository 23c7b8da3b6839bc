#!/usr/bin/env python3
"""Full-size parity and speed: one forward of each heavy unCLIP network in PyTorch and in unclip, same inputs.

Mirrors the forwards diffusers 0.42.1 UnCLIPPipeline makes (pipelines/deprecated/unclip/pipeline_unclip.py):
PriorTransformer (batch 2 = [uncond; cond]), the decoder UNet2DConditionModel (batch 2, with text_proj-shaped
conditioning and a text mask), super-resolution UNet2DModel (batch 1, 6 channels), and the CLIP towers of
transformers 5.23.0: CLIPTextModelWithProjection (batch 2 = ["", prompt], 77 tokens) and
CLIPVisionModelWithProjection (one 224² image, as UnCLIPImageVariationPipeline). Not in CI.

  .venv-ref/bin/python scripts/parity_full.py --weights /tmp/unclip-big/karlo-f16.safetensors \\
      --folder /tmp/unclip-big/karlo-f16-diffusers [--components prior,decoder,super_res_first] [--threads 2] \\
      [--precision fp32,bf16]

WEIGHTS (unclip format) and FOLDER (diffusers layout) must hold the same values: make them together with
scripts/make_random_weights.py --preset karlo --dtype f16 OUT --diffusers-folder DIR. Each side runs each
component in its own process (so peak RSS is that one forward's: load + activations), one warm-up forward then
--repeats timed ones (best kept). unclip runs `unclip-run bench models --inputs/--outputs`. Reports per
component: max|Δ| relative to max|ref|, normalised MSE, time, GFLOP/s (unclip's exact GEMM FLOP count for both),
and peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
REPO = os.path.dirname(HERE)


def make_inputs(folder: str, comps: list, path: str) -> None:
    """Seeded inputs of the pipeline's shapes for every component, as one safetensors file."""
    import torch
    from safetensors.torch import save_file
    g = torch.Generator().manual_seed(2024)
    out = {}
    for comp in comps:
        cfg = json.load(open(os.path.join(folder, comp, "config.json")))
        if comp == "text_encoder":
            # What UnCLIPPipeline._encode_prompt feeds it: [""; prompt], padded to max_length by the folder's tokenizer.
            from transformers import CLIPTokenizer
            tok = CLIPTokenizer.from_pretrained(os.path.join(folder, "tokenizer"))
            out["text_encoder.input_ids"] = tok(["", "a red circle on a blue background"], padding="max_length",
                                                max_length=cfg["max_position_embeddings"], truncation=True,
                                                return_tensors="pt").input_ids
            continue
        if comp == "image_encoder":
            s = cfg["image_size"]
            out["image_encoder.pixel_values"] = torch.randn(1, cfg.get("num_channels", 3), s, s, generator=g)
            continue
        if comp == "prior":
            d, t = cfg["embedding_dim"], cfg["num_embeddings"]
            out["prior.sample"] = torch.randn(2, d, generator=g)
            out["prior.text_embeds"] = torch.randn(2, d, generator=g)
            out["prior.text_hidden_states"] = torch.randn(2, t, d, generator=g)
            out["prior.attention_mask"] = torch.tensor([[1] * 9 + [0] * (t - 9), [1] * 2 + [0] * (t - 2)], dtype=torch.int64)
        elif comp == "decoder":
            s, c = cfg["sample_size"], cfg["in_channels"]
            tp = json.load(open(os.path.join(folder, "text_proj", "config.json")))
            out["decoder.sample"] = torch.randn(2, c, s, s, generator=g)
            out["decoder.class_labels"] = torch.randn(2, tp["time_embed_dim"], generator=g)
            out["decoder.encoder_hidden_states"] = torch.randn(2, 81, tp["cross_attention_dim"], generator=g)
            out["decoder.attention_mask"] = torch.tensor([[1] * 13 + [0] * 68, [1] * 6 + [0] * 75], dtype=torch.int64)
        else:
            first = json.load(open(os.path.join(folder, "super_res_first", "config.json")))
            s = first["sample_size"]
            out[f"{comp}.sample"] = torch.randn(1, cfg["in_channels"], s, s, generator=g)
        out[f"{comp}.timestep"] = torch.tensor([999], dtype=torch.int64)
    save_file({k: v.contiguous() for k, v in out.items()}, path)


def torch_worker(comp: str, folder: str, inputs: str, output: str, repeats: int, threads: int) -> None:
    """Runs in a child process: load one component in fp32, warm up, time, write the output, print a JSON line."""
    import diffusers
    import torch
    from safetensors.torch import load_file, save_file
    torch.set_num_threads(threads)
    diffusers.utils.logging.set_verbosity_error()
    x = load_file(inputs)
    t0 = time.perf_counter()
    import transformers
    cls = {"prior": diffusers.PriorTransformer, "decoder": diffusers.UNet2DConditionModel,
           "text_encoder": transformers.CLIPTextModelWithProjection,
           "image_encoder": transformers.CLIPVisionModelWithProjection}.get(comp, diffusers.UNet2DModel)
    m = cls.from_pretrained(os.path.join(folder, comp), torch_dtype=torch.float32).eval()
    load = time.perf_counter() - t0
    t = int(x[f"{comp}.timestep"][0]) if f"{comp}.timestep" in x else 0

    def forward():
        with torch.no_grad():
            if comp == "text_encoder":  # last_hidden_state then text_embeds, flattened (unclip's bench output)
                o = m(x["text_encoder.input_ids"])
                return torch.cat([o.last_hidden_state.flatten(), o.text_embeds.flatten()])
            if comp == "image_encoder":
                return m(x["image_encoder.pixel_values"]).image_embeds
            if comp == "prior":
                return m(x["prior.sample"], timestep=t, proj_embedding=x["prior.text_embeds"],
                         encoder_hidden_states=x["prior.text_hidden_states"],
                         attention_mask=x["prior.attention_mask"].bool()).predicted_image_embedding
            if comp == "decoder":
                return m(x["decoder.sample"], t, encoder_hidden_states=x["decoder.encoder_hidden_states"],
                         class_labels=x["decoder.class_labels"], attention_mask=x["decoder.attention_mask"].bool()).sample
            return m(x[f"{comp}.sample"], t).sample
    y = forward()
    best = float("inf")
    for _ in range(repeats):
        s = time.perf_counter()
        forward()
        best = min(best, time.perf_counter() - s)
    save_file({f"{comp}.output": y.contiguous()}, output)
    print(json.dumps({"load_s": load, "forward_s": best,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)


def run_unclip(binary: str, weights: str, comp: str, inputs: str, output: str, repeats: int, threads: int,
               precision: str = "fp32") -> dict:
    p = subprocess.run([binary, "bench", "models", "--weights", weights, "--components", comp, "--inputs", inputs,
                        "--outputs", output, "--repeats", str(repeats), "--threads", str(threads),
                        "--precision", precision],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"error: unclip-run failed for {comp}: {p.stderr.strip()}")
    peak = re.search(r"sgemm 2048³ this run: ([\d.]+) GFLOP/s", p.stdout)
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith(comp))
    m = re.search(r"load\s+([\d.]+) s\s+forward\s+([\d.]+) s\s+([\d.]+) GFLOP \(GEMM\)\s+([\d.]+) GFLOP/s.*peak RSS\s+([\d.]+) MiB", line)
    if not m:
        raise SystemExit(f"error: cannot parse unclip-run output: {line}")
    return {"load_s": float(m[1]), "forward_s": float(m[2]), "gflop": float(m[3]), "gflops": float(m[4]),
            "peak_rss_mb": float(m[5]), "sgemm_peak": float(peak[1]) if peak else float("nan")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights")
    ap.add_argument("--folder", required=True)
    ap.add_argument("--components", default="prior,decoder,super_res_first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--precision", default="fp32",
                    help="unclip's precisions, comma-separated (fp32,bf16); PyTorch always runs fp32")
    ap.add_argument("--unclip", default=os.path.join(REPO, ".build", "release", "unclip-run"))
    ap.add_argument("--torch-worker", help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    ap.add_argument("--output", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.torch_worker:
        torch_worker(a.torch_worker, a.folder, a.inputs, a.output, a.repeats, a.threads)
        return 0
    if not a.weights:
        ap.error("--weights is required")
    if not os.access(a.unclip, os.X_OK):
        raise SystemExit(f"error: {a.unclip} not found: build it with swift build -c release")
    from safetensors.numpy import load_file
    comps = a.components.split(",")
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        inputs = os.path.join(tmp, "inputs.safetensors")
        make_inputs(a.folder, comps, inputs)
        print(f"{'component':16} {'max rel err':>11} {'nmse':>9} | {'unclip s':>8} {'GFLOP/s':>7} {'RSS MB':>7} | "
              f"{'torch s':>8} {'GFLOP/s':>7} {'RSS MB':>7} | speed-up", flush=True)
        for comp in comps:
            tout, uout = os.path.join(tmp, f"{comp}.torch.safetensors"), os.path.join(tmp, f"{comp}.unclip.safetensors")
            p = subprocess.run([sys.executable, os.path.abspath(__file__), "--torch-worker", comp, "--folder", a.folder,
                                "--inputs", inputs, "--output", tout, "--repeats", str(a.repeats), "--threads",
                                str(a.threads)], capture_output=True, text=True)
            if p.returncode != 0:
                raise SystemExit(f"error: torch worker failed for {comp}: {p.stderr.strip()[-2000:]}")
            tr = json.loads(p.stdout.strip().splitlines()[-1])
            ref = load_file(tout)[f"{comp}.output"]
            for prec in a.precision.split(","):
                ur = run_unclip(a.unclip, a.weights, comp, inputs, uout, a.repeats, a.threads, prec)
                got = load_file(uout)[f"{comp}.output"]
                if ref.shape != got.shape:
                    raise SystemExit(f"error: {comp}: output shapes differ: torch {ref.shape}, unclip {got.shape}")
                err = float(np.abs(got - ref).max() / np.abs(ref).max())
                nmse = float(((got.astype(np.float64) - ref) ** 2).sum() / (ref.astype(np.float64) ** 2).sum())
                tg = ur["gflop"] / tr["forward_s"]
                name = comp if prec == "fp32" else f"{comp} {prec}"
                print(f"{name:16} {err:11.2e} {nmse:9.1e} | {ur['forward_s']:8.3f} {ur['gflops']:7.1f} {ur['peak_rss_mb']:7.0f} | "
                      f"{tr['forward_s']:8.3f} {tg:7.1f} {tr['peak_rss_mb']:7.0f} | {tr['forward_s'] / ur['forward_s']:.2f}x"
                      f"   (load: unclip {ur['load_s']:.1f} s, torch {tr['load_s']:.1f} s; sgemm peak {ur['sgemm_peak']:.0f} GFLOP/s)",
                      flush=True)
                # fp32 must match PyTorch to rounding; bf16 (8-bit mantissas, fp32 sums) is held to nmse ≤ 1e-3.
                if (prec == "fp32" and err > 1e-4) or (prec != "fp32" and nmse > 1e-3):
                    print(f"  FAIL: {name} differs by {err:.2e} of the output magnitude (nmse {nmse:.1e})", flush=True)
                    failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
