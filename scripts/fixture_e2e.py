"""End-to-end golden runs of the tiny pipelines, recording every stage, plus config-independent goldens.

Mirrors diffusers 0.42.1 UnCLIPPipeline.__call__ / UnCLIPImageVariationPipeline.__call__
(pipelines/deprecated/unclip), UnCLIPScheduler (schedulers/scheduling_unclip.py), torch.randn on the
CPU generator, F.interpolate(bicubic, antialias=True) and the CLIP tokenizer/image processor. Names are
documented in Tests/Fixtures/models/README.md. Used by scripts/make_fixtures.py. Not a command-line tool.
"""
from __future__ import annotations

import contextlib
import json

import numpy as np
import torch
import torch.nn.functional as F

from fixture_golden import PROMPTS, clip_images, clip_pixel_values, f32, i64, tokenize


@contextlib.contextmanager
def recording(pipe, stage_of_scheduler: dict):
    """Records scheduler.step inputs/outputs and the noise each step draws, per stage."""
    import diffusers.schedulers.scheduling_unclip as su
    rec = {st: {"model_output": [], "sample": [], "prev": [], "noise": [], "t": []}
           for st in stage_of_scheduler.values()}
    current = {"stage": None}
    orig_randn = su.randn_tensor

    def randn_rec(*a, **k):
        t = orig_randn(*a, **k)
        rec[current["stage"]]["noise"].append(t.clone())
        return t

    saved = {}
    for attr, stage in stage_of_scheduler.items():
        sched = getattr(pipe, attr)
        saved[attr] = sched.step

        def step(model_output, timestep, sample, *a, _orig=sched.step, _st=stage, **k):
            current["stage"] = _st
            r = rec[_st]
            r["model_output"].append(model_output.clone())
            r["sample"].append(sample.clone())
            r["t"].append(int(timestep))
            out = _orig(model_output, timestep, sample, *a, **k)
            r["prev"].append(out.prev_sample.clone())
            return out
        sched.step = step
    su.randn_tensor = randn_rec
    try:
        yield rec
    finally:
        su.randn_tensor = orig_randn
        for attr in stage_of_scheduler:
            del getattr(pipe, attr).step  # drop the instance attribute, back to the class method


def _first_call(module, store: dict, key: str):
    def hook(mod, args, kwargs, output):
        if key not in store:
            store[key] = (args, kwargs, output)
    return module.register_forward_hook(hook, with_kwargs=True)


@torch.no_grad()
def run_case(t2i, var, case: dict) -> dict:
    """case: {"name", "pipeline": "t2i"|"variation", "seed", steps..., guidance..., prompt|image}."""
    name, out, calls = case["name"], {}, {}
    is_var = case["pipeline"] == "variation"
    pipe = var if is_var else t2i
    stages = {"decoder_scheduler": "decoder", "super_res_scheduler": "super_res"}
    if not is_var:
        stages["prior_scheduler"] = "prior"
    hooks = [_first_call(pipe.text_proj, calls, "text_proj"), _first_call(pipe.super_res_first, calls, "sr"),
             _first_call(pipe.decoder, calls, "decoder")]
    if is_var:
        hooks.append(_first_call(pipe.image_encoder, calls, "image_encoder"))
    gen = torch.Generator("cpu").manual_seed(case["seed"])
    kw = dict(decoder_num_inference_steps=case["decoder_steps"], super_res_num_inference_steps=case["sr_steps"],
              decoder_guidance_scale=case["decoder_guidance_scale"], generator=gen, output_type="np",
              num_images_per_prompt=case.get("num_images_per_prompt", 1))
    try:
        with recording(pipe, stages) as rec:
            if is_var:
                from PIL import Image
                image = Image.fromarray(clip_images()[case["image"]])
                images = pipe(image=image, **kw).images
            else:
                images = pipe(prompt=case["prompt"], prior_num_inference_steps=case["prior_steps"],
                              prior_guidance_scale=case["prior_guidance_scale"], **kw).images
    finally:
        for h in hooks:
            h.remove()
    p = f"e2e.{name}"
    for stage, r in rec.items():
        out[f"{p}.{stage}.timesteps"] = i64(r["t"])
        out[f"{p}.{stage}.x"] = f32(torch.stack([r["sample"][0]] + r["prev"]))
        out[f"{p}.{stage}.model_output"] = f32(torch.stack(r["model_output"]))
        out[f"{p}.{stage}.noise"] = f32(torch.stack(r["noise"]))
    _, tk, (ehs, add) = calls["text_proj"]
    out[f"{p}.image_embeddings"] = f32(tk["image_embeddings"])
    out[f"{p}.prompt_embeds"] = f32(tk["prompt_embeds"])
    out[f"{p}.text_encoder_hidden_states"] = f32(tk["text_encoder_hidden_states"])
    out[f"{p}.text_proj.encoder_hidden_states"] = f32(ehs)
    out[f"{p}.text_proj.additive_clip_time_embeddings"] = f32(add)
    out[f"{p}.decoder_text_mask"] = i64(calls["decoder"][1]["attention_mask"])
    out[f"{p}.image_upscaled"] = f32(calls["sr"][1]["sample"][:, 3:])
    if is_var:  # the encoder input equals common.safetensors clip_image.pixel_values[row]; checked, not stored
        args, kwa, vo = calls["image_encoder"]
        pv = f32(args[0] if args else kwa["pixel_values"])
        row = sorted(clip_images()).index(case["image"])
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
        from unclip_configs import FEATURE_EXTRACTOR
        if not np.array_equal(pv, clip_pixel_values(CLIPImageProcessorPil(**FEATURE_EXTRACTOR))[row:row + 1]):
            raise SystemExit(f"error: case {name}: pipeline pixel_values differ from clip_image.pixel_values")
        if not np.array_equal(f32(vo.image_embeds), out[f"{p}.image_embeddings"]):
            raise SystemExit(f"error: case {name}: image_embeds differ from text_proj's image_embeddings")
    out[f"{p}.image"] = images.astype(np.float32)
    out[f"{p}.image_u8"] = (images * 255).round().astype("uint8")
    return out


# ------------------------------------------------------------------------------------------------
# config-independent goldens

RNG_SEEDS = [0, 1, 42, 1234, 2**31 - 1, 0xDEADBEEFCAFE]
RNG_SIZES = [1, 2, 7, 15, 16, 17, 31, 32, 100, 768, 3 * 64 * 64]
RNG_SEQUENCE = [7, 16, 1, 17, 3, 768, 5, 12288, 2, 15, 33]
SCHED_STEPS = [2, 3, 4, 5, 7, 25, 50]


def _sched_stage_goldens(out, stage, cfg, n):
    from diffusers import UnCLIPScheduler
    s = UnCLIPScheduler(**{k: v for k, v in cfg.items() if not k.startswith("_")})
    s.set_timesteps(n)
    ts = s.timesteps
    shape = {"prior": (2, 8), "decoder": (2, 6, 3, 3), "super_res": (2, 3, 3, 3)}[stage]
    g = torch.Generator().manual_seed(1000 + n)
    rows = {k: [] for k in ("model_output", "sample", "prev_sample", "pred_original_sample", "noise")}
    for i, t in enumerate(ts):
        mo = torch.randn(shape, generator=g)
        if stage == "prior":
            mo = 3.0 * mo  # x0 prediction in standardised space; some values beyond the +-5 clip
        x = torch.randn((shape[0], 3) + shape[2:] if stage == "decoder" else shape, generator=g)
        seed = 10_000 * n + i
        prev = None if i + 1 == len(ts) else ts[i + 1]
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)) if int(t) > 0 \
            else torch.zeros(x.shape)
        o = s.step(mo, t, x, prev_timestep=prev, generator=torch.Generator().manual_seed(seed))
        for k, v in (("model_output", mo), ("sample", x), ("prev_sample", o.prev_sample),
                     ("pred_original_sample", o.pred_original_sample), ("noise", noise)):
            rows[k].append(v)
    p = f"scheduler.{stage}.n{n}"
    out[f"{p}.timesteps"] = i64(ts)
    out[f"{p}.seeds"] = i64([10_000 * n + i for i in range(len(ts))])
    for k, v in rows.items():
        out[f"{p}.{k}"] = f32(torch.stack(v))


@torch.no_grad()
def common_goldens(tokenizer, feature_extractor) -> tuple[dict, dict]:
    from diffusers import UnCLIPScheduler
    from diffusers.models.embeddings import Timesteps
    from unclip_configs import SCHEDULER_CONFIGS
    out, meta = {}, {}
    for s in RNG_SEEDS:
        for n in RNG_SIZES:
            out[f"rng.seed{s}.n{n}"] = f32(torch.randn(n, generator=torch.Generator().manual_seed(s)))
    g = torch.Generator().manual_seed(2024)
    for k, n in enumerate(RNG_SEQUENCE):
        out[f"rng.seq2024.{k:02d}"] = f32(torch.randn(n, generator=g))
    # 4-D draw (same stream as flat) as the pipeline does it
    out["rng.seed7.shape_1x3x16x16"] = f32(torch.randn((1, 3, 16, 16), generator=torch.Generator().manual_seed(7)))

    s = UnCLIPScheduler(**{k: v for k, v in SCHEDULER_CONFIGS["decoder_scheduler"].items() if k[0] != "_"})
    out["scheduler.betas"] = f32(s.betas)
    out["scheduler.alphas_cumprod"] = f32(s.alphas_cumprod)
    for n in SCHED_STEPS:
        s.set_timesteps(n)
        out[f"scheduler.timesteps.n{n}"] = i64(s.timesteps)
    for stage, key in (("prior", "prior_scheduler"), ("decoder", "decoder_scheduler"),
                       ("super_res", "super_res_scheduler")):
        for n in (7, 25):
            _sched_stage_goldens(out, stage, SCHEDULER_CONFIGS[key], n)

    g = torch.Generator().manual_seed(99)
    for h, w, H, W in ((16, 16, 64, 64), (32, 32, 64, 64), (64, 64, 256, 256), (64, 64, 16, 16),
                       (12, 20, 40, 24)):
        x = torch.clamp(1.3 * torch.randn(1, 3, h, w, generator=g), -1, 1)
        p = f"interpolate.{h}x{w}_to_{H}x{W}"
        out[f"{p}.in"] = f32(x)
        out[f"{p}.out"] = f32(F.interpolate(x, size=[H, W], mode="bicubic", align_corners=False, antialias=True))

    ts = torch.tensor([0, 1, 42, 166, 500, 999])
    out["time_proj.timesteps"] = i64(ts)
    for dim in (8, 12, 16, 24, 32, 320, 2048):
        out[f"time_proj.d{dim}"] = f32(Timesteps(dim, True, 0)(ts))

    ids, mask = tokenize(tokenizer, PROMPTS)
    out["tokenizer.input_ids"] = i64(ids)
    out["tokenizer.attention_mask"] = i64(mask)
    out["tokenizer.untruncated_length"] = i64([len(tokenizer(p).input_ids) for p in PROMPTS])
    meta["prompts"] = json.dumps(PROMPTS, ensure_ascii=False)

    for k, img in clip_images().items():
        out[f"clip_image.{k}"] = img
    out["clip_image.pixel_values"] = clip_pixel_values(feature_extractor)
    return out, meta
