#!/usr/bin/env python3
"""Reference edits (inpainting, RePaint resampling, image-to-image) on the tiny-a pipeline, for EditParityTests.

The algorithm of Sources/Pipeline/UnCLIPInpaintPipeline.swift written over the diffusers 0.42.1 components of the
tiny-a fixture (UnCLIPPipeline's modules and UnCLIPSchedulers, rebuilt exactly as scripts/make_fixtures.py builds
them, checked against Tests/Fixtures/models/tiny-a/model.safetensors), torch 2.13 CPU, fp32:

- prior and text_proj as UnCLIPPipeline.__call__; one torch.Generator().manual_seed(seed) for every draw;
- the picture x/127.5 − 1, resized with F.interpolate(bicubic, antialias=True) to 64 and 256; the mask max-pooled
  (a cell is edited when any picture pixel under it is);
- decoder and super-res loops walking RePaint's moves (RePaintScheduler.set_timesteps(N, jump_length,
  jump_n_sample) over schedule indices): after each step the kept cells become √ᾱ·src + √(1−ᾱ)·z with ᾱ of what the
  step produced (no draw when ᾱ = 1); a jump back over a step is √r·x + √(1−r)·z, r = ᾱ_t / ᾱ_after;
  the start is √ᾱ_start·src + √(1−ᾱ_start)·x_T on kept cells (everywhere when strength < 1 skips steps);
- draws, in order: prior x_T, prior step noise, decoder x_T, per decoder step the scheduler's then the kept part's
  noise, per jump one, then the same at super-res (which always starts at its first step);
- the 256² result bicubic-AA resized to the picture's size, rounded as numpy_to_pil, edited pixels taken from it,
  kept pixels from the picture.

Also one outpaint window (`outpaint_window`): the picture grown by 32 px on the right (a 96×64 canvas), the window
Sources/Pipeline/Outpainting.swift picks first (64² at x = 32: the most known pixels), its blank pixels filled with the
known pixels' mean colour (integer division), edited with seed + 0.

Writes Tests/Fixtures/models/tiny-a/inpaint.safetensors: `<case>.image` U8 [H, W, 4], `<case>.editable` U8 [H, W],
`<case>.output` U8 [H, W, 3] (for the outpaint window: the picture, and the window's output); metadata `cases` (JSON
list: name, prompt, seed, steps, guidance, strength, resamples, jump_length). Rerunning reproduces the file byte for byte.

    .venv-ref/bin/python scripts/make_inpaint_fixtures.py
"""
from __future__ import annotations

import json
import math
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

import diffusers  # noqa: E402
import transformers  # noqa: E402

for _lib in (diffusers, transformers):
    _lib.utils.logging.set_verbosity_error()
    _lib.utils.logging.disable_progress_bar()
from diffusers.utils.torch_utils import randn_tensor  # noqa: E402
from fixture_pipeline import build_components, build_pipelines  # noqa: E402
from unclip_configs import tiny_config  # noqa: E402
from unclip_format import array_entry, read_all, write_file  # noqa: E402
from unclip_tokenizer import write_tokenizer_folder  # noqa: E402

ROOT = os.path.dirname(HERE)
MODEL = os.path.join(ROOT, "Tests", "Fixtures", "models", "tiny-a", "model.safetensors")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "models", "tiny-a", "inpaint.safetensors")

CASES = [
    dict(name="alpha_half", side=64, mask="left", prompt="a red circle on a blue background", seed=7,
         prior_steps=3, decoder_steps=4, super_res_steps=3, strength=1.0, resamples=1, jump_length=10),
    dict(name="blob_resample", side=80, mask="blob", prompt="a green square", seed=11,
         prior_steps=3, decoder_steps=5, super_res_steps=3, strength=1.0, resamples=3, jump_length=2),
    dict(name="img2img", side=64, mask="all", prompt="a yellow star", seed=3,
         prior_steps=3, decoder_steps=6, super_res_steps=3, strength=0.5, resamples=1, jump_length=10),
    dict(name="outpaint_window", side=64, mask="none", prompt="a blue circle", seed=5,
         prior_steps=3, decoder_steps=4, super_res_steps=3, strength=1.0, resamples=1, jump_length=10, right=32),
]


def picture(side: int, kind: str):
    """A deterministic RGBA picture and its editable mask (alpha 0 = edit, OpenAI's rule)."""
    y, x = np.mgrid[0:side, 0:side]
    rgb = np.stack([(x * 255) // (side - 1), (y * 255) // (side - 1), (128 + 100 * np.sin(x * 0.3) * np.cos(y * 0.2)).astype(int)], -1)
    if kind == "none":
        edit = np.zeros_like(x, dtype=bool)
    elif kind == "left":
        edit = x < side // 2
    elif kind == "blob":
        edit = (x - side * 0.6) ** 2 + (y - side * 0.4) ** 2 < (side * 0.25) ** 2
    else:
        edit = np.ones_like(x, dtype=bool)
    alpha = np.where(edit, 0, 255) if kind not in ("all", "none") else np.full_like(x, 255)
    return np.concatenate([rgb, alpha[..., None]], -1).astype(np.uint8), edit


def known(edit: np.ndarray, side: int) -> torch.Tensor:
    """1 = keep, per cell of side²: 0 when any picture pixel under the cell is edited."""
    h, w = edit.shape
    out = np.ones((side, side), np.float32)
    for cy in range(side):
        y0 = cy * h // side
        y1 = max(y0 + 1, ((cy + 1) * h + side - 1) // side)
        for cx in range(side):
            x0 = cx * w // side
            x1 = max(x0 + 1, ((cx + 1) * w + side - 1) // side)
            if edit[y0:min(y1, h), x0:min(x1, w)].any():
                out[cy, cx] = 0
    return torch.from_numpy(out)


def source(rgba: np.ndarray, side: int) -> torch.Tensor:
    x = torch.from_numpy(rgba[..., :3].astype(np.float32)).permute(2, 0, 1)[None] / 127.5 - 1
    if x.shape[-1] == side:
        return x
    return F.interpolate(x, size=[side, side], mode="bicubic", align_corners=False, antialias=True)


def moves(steps: int, jump_length: int, resamples: int, start: int):
    """RePaintScheduler.set_timesteps' walk as ("denoise"|"renoise", schedule index), from index `start` on."""
    jl = max(1, min(jump_length, steps))
    s = diffusers.RePaintScheduler(num_train_timesteps=steps)
    s.set_timesteps(steps, jump_length=jl, jump_n_sample=resamples)
    out, last = [], steps
    for level in [int(v) for v in s.timesteps]:
        out.append(("denoise", steps - 1 - level) if level < last else ("renoise", steps - 1 - last))
        last = level
    return [m for m in out if m[1] >= start]


def after_alpha(sched, timesteps, i):
    prev = timesteps[i + 1] if i + 1 < len(timesteps) else timesteps[i] - 1
    return sched.alphas_cumprod[prev] if prev >= 0 else torch.tensor(1.0)


def walk(sched, x, src, keep, steps, strength, jump_length, resamples, gen, model):
    """One stage: start, then the RePaint walk with the kept part replaced after each step."""
    sched.set_timesteps(steps)
    ts = [int(t) for t in sched.timesteps]
    start = steps - max(1, min(steps, math.ceil(strength * steps)))
    ac = sched.alphas_cumprod
    ab = ac[ts[start]]
    m = torch.ones_like(keep) if start > 0 else keep
    x = m * (ab.sqrt() * src + (1 - ab).sqrt() * x) + (1 - m) * x
    for kind, i in moves(steps, jump_length, resamples, start):
        if kind == "renoise":
            r = ac[ts[i]] / after_alpha(sched, ts, i)
            x = r.sqrt() * x + (1 - r).sqrt() * randn_tensor(x.shape, generator=gen)
            continue
        prev = ts[i + 1] if i + 1 < len(ts) else None
        x = sched.step(model(x, ts[i], i), ts[i], x, prev_timestep=prev, generator=gen).prev_sample
        ab = after_alpha(sched, ts, i)
        if ab < 1:
            x = keep * (ab.sqrt() * src + (1 - ab).sqrt() * randn_tensor(x.shape, generator=gen)) + (1 - keep) * x
        else:
            x = keep * src + (1 - keep) * x
    return x


@torch.no_grad()
def edit(pipe, case, rgba, edit_mask):
    gen = torch.Generator().manual_seed(case["seed"])
    pg, dg = 4.0, 8.0
    embeds, hidden, mask = pipe._encode_prompt(case["prompt"], torch.device("cpu"), 1, True, None, None)
    ps = pipe.prior_scheduler
    ps.set_timesteps(case["prior_steps"])
    lat = randn_tensor((1, pipe.prior.config.embedding_dim), generator=gen)
    pts = ps.timesteps
    for i, t in enumerate(pts):
        out = pipe.prior(torch.cat([lat] * 2), timestep=t, proj_embedding=embeds, encoder_hidden_states=hidden,
                         attention_mask=mask).predicted_image_embedding
        u, c = out.chunk(2)
        out = u + pg * (c - u)
        lat = ps.step(out, timestep=t, sample=lat, generator=gen, prev_timestep=None if i + 1 == len(pts) else pts[i + 1]).prev_sample
    image_embeddings = pipe.prior.post_process_latents(lat)
    hid, added = pipe.text_proj(image_embeddings=image_embeddings, prompt_embeds=embeds, text_encoder_hidden_states=hidden,
                                do_classifier_free_guidance=True)
    dmask = F.pad(mask, (pipe.text_proj.clip_extra_context_tokens, 0), value=True)

    def decoder(x, t, i):
        out = pipe.decoder(sample=torch.cat([x] * 2), timestep=t, encoder_hidden_states=hid, class_labels=added,
                           attention_mask=dmask).sample
        u, c = out.chunk(2)
        u, _ = u.split(x.shape[1], dim=1)
        c, var = c.split(x.shape[1], dim=1)
        return torch.cat([u + dg * (c - u), var], dim=1)

    small = pipe.decoder.config.sample_size
    x = randn_tensor((1, pipe.decoder.config.in_channels, small, small), generator=gen)
    x = walk(pipe.decoder_scheduler, x, source(rgba, small), known(edit_mask, small), case["decoder_steps"],
             case["strength"], case["jump_length"], case["resamples"], gen, decoder).clamp(-1, 1)
    large = pipe.super_res_first.config.sample_size
    up = F.interpolate(x, size=[large, large], mode="bicubic", align_corners=False, antialias=True)
    last = case["super_res_steps"] - 1

    def superres(z, t, i):
        unet = pipe.super_res_last if i == last else pipe.super_res_first
        return unet(sample=torch.cat([z, up], dim=1), timestep=t).sample

    z = randn_tensor((1, pipe.super_res_first.config.in_channels // 2, large, large), generator=gen)
    z = walk(pipe.super_res_scheduler, z, source(rgba, large), known(edit_mask, large), case["super_res_steps"],
             1.0, case["jump_length"], case["resamples"], gen, superres)
    side = rgba.shape[0]
    if side != large:
        z = F.interpolate(z, size=[side, side], mode="bicubic", align_corners=False, antialias=True)
    gen8 = np.round(np.clip((z * 0.5 + 0.5).clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255, 0, 255)).astype(np.uint8)
    return np.where(edit_mask[..., None], gen8, rgba[..., :3])


def main():
    cfg = tiny_config("tiny-a")
    with tempfile.TemporaryDirectory() as work:
        tok_dir = os.path.join(work, "tokenizer")
        write_tokenizer_folder(tok_dir)
        mods = build_components(cfg, 1)
        t2i, _ = build_pipelines(mods, tok_dir)
    tensors, _ = read_all(MODEL, as_f32=True)
    for comp in ("prior", "decoder", "super_res_first"):
        for k, v in getattr(t2i, comp).state_dict().items():
            assert np.array_equal(tensors[f"{comp}.{k}"], v.numpy()), f"{comp}.{k} differs from {MODEL}"
    arrays, meta = {}, []
    for case in CASES:
        rgba, edit_mask = picture(case["side"], case["mask"])
        if "right" in case:  # the first outpaint window: canvas columns 32…95 of 96, blank ones at the known mean
            side, r = case["side"], case["right"]
            crop = np.zeros((side, side, 4), np.uint8)
            crop[:, : side - r, :3] = rgba[:, r:, :3]
            crop[:, side - r:, :3] = (rgba[:, r:, :3].reshape(-1, 3).astype(np.int64).sum(0) // ((side - r) * side)).astype(np.uint8)
            crop[..., 3] = 255
            blank = np.zeros((side, side), bool)
            blank[:, side - r:] = True
            out = edit(t2i, case, crop, blank)
        else:
            out = edit(t2i, case, rgba, edit_mask)
        arrays[f"{case['name']}.image"] = rgba
        arrays[f"{case['name']}.editable"] = edit_mask.astype(np.uint8)
        arrays[f"{case['name']}.output"] = out
        meta.append({k: v for k, v in case.items() if k not in ("side", "mask", "right")})
    write_file(OUT, [array_entry(k, v) for k, v in sorted(arrays.items())], {"cases": json.dumps(meta, sort_keys=True)})
    print(f"wrote {os.path.relpath(OUT, ROOT)}: {len(CASES)} cases")


if __name__ == "__main__":
    main()
