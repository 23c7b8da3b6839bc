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
    import diffusers.schedulers.scheduling_ddim as sd
    import diffusers.schedulers.scheduling_unclip as su
    rec = {st: {"model_output": [], "sample": [], "prev": [], "noise": [], "t": []}
           for st in stage_of_scheduler.values()}
    current = {"stage": None}
    orig_randn = su.randn_tensor
    assert sd.randn_tensor is orig_randn

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
    su.randn_tensor = sd.randn_tensor = randn_rec
    try:
        yield rec
    finally:
        su.randn_tensor = sd.randn_tensor = orig_randn
        for attr in stage_of_scheduler:
            del getattr(pipe, attr).step  # drop the instance attribute, back to the class method


def ddim_for_unclip(config, eta: float):
    """DDIMScheduler.from_config(<stage scheduler config>) as UnCLIPPipeline calls it: step() receives
    `prev_timestep`, which DDIM does not take (it keeps its fixed stride T // N, so the argument is dropped),
    and the decoder's 6 channels, of which DDIM uses the epsilon half (it has no learned variance; Karlo's
    ddim_sample drops v the same way). eta is passed to every step, as a user's loop would.

    The config is the stage's config as saved in the weights file (save_pretrained writes every key, so
    beta_schedule squaredcos_cap_v2 is explicit): `_use_default_values` is dropped. Passing the in-memory
    `pipe.x_scheduler.config` instead would make diffusers fall back to DDIM's own default (linear) for every
    key the UnCLIPScheduler was not explicitly given."""
    from diffusers import DDIMScheduler

    config = {k: v for k, v in dict(config).items() if k != "_use_default_values"}

    class DDIMForUnCLIP(DDIMScheduler):
        def step(self, model_output, timestep, sample, prev_timestep=None, generator=None, return_dict=True):
            if model_output.shape[1] == 2 * sample.shape[1]:
                model_output = model_output[:, : sample.shape[1]]
            return super().step(model_output, timestep, sample, eta=eta, generator=generator, return_dict=return_dict)

    return DDIMForUnCLIP.from_config(config)


@contextlib.contextmanager
def swapped_schedulers(pipe, attrs, case: dict):
    """case["scheduler"] == "ddim": every stage's scheduler replaced by DDIM configured from it, for the run."""
    if case.get("scheduler") is None:
        yield
        return
    if case["scheduler"] != "ddim":
        raise SystemExit(f"error: case {case['name']}: unsupported scheduler {case['scheduler']!r}")
    saved = {a: getattr(pipe, a) for a in attrs}
    try:
        for a in attrs:
            setattr(pipe, a, ddim_for_unclip(saved[a].config, case.get("eta", 0.0)))
        yield
    finally:
        for a, s in saved.items():
            setattr(pipe, a, s)


def _first_call(module, store: dict, key: str):
    def hook(mod, args, kwargs, output):
        if key not in store:
            store[key] = (args, kwargs, output)
    return module.register_forward_hook(hook, with_kwargs=True)


# Stability of a case (checked by run_case): the same run with every denoising model output multiplied by
# (1 + PERTURBATION * z), z ~ N(0, 1) from a separate generator, must stay within the tolerances the Swift
# end-to-end tests apply (Tests/PipelineTests/PipelineParityTests.swift, E2ETolerance). fp32 reimplementations
# differ from PyTorch by ~1e-5 relative in the model outputs; a case whose reference is not reproducible
# under such a perturbation (an x0 element landing inside the clip range at t = 999, where 1/sqrt(alpha_bar)
# is ~2e4, or a saturated pixel flipping) cannot be a parity target, so the script refuses it.
PERTURBATION = 2e-5
STABILITY = {"latents": 1e-3, "min_psnr": 40.0, "max_pixel_diff": 4}


def _perturbing(modules):
    g = torch.Generator().manual_seed(12345)

    def hook(mod, args, kwargs, output):
        t = output[0]
        t.mul_(1 + PERTURBATION * torch.randn(t.shape, generator=g))
    return [m.register_forward_hook(hook, with_kwargs=True) for m in modules]


def _call(pipe, case: dict, stages: dict, is_var: bool, perturb: bool):
    count = case.get("num_images_per_prompt", 1)
    if case.get("generators") == "list":  # one generator per image: randn_tensor draws row i from generator i
        rows = count * (len(case["prompt"]) if isinstance(case.get("prompt"), list) else 1)
        gen = [torch.Generator("cpu").manual_seed(case["seed"] + i) for i in range(rows)]
    else:
        gen = torch.Generator("cpu").manual_seed(case["seed"])
    kw = dict(decoder_num_inference_steps=case["decoder_steps"], super_res_num_inference_steps=case["sr_steps"],
              decoder_guidance_scale=case["decoder_guidance_scale"], generator=gen, output_type="np",
              num_images_per_prompt=count)
    models = [pipe.decoder, pipe.super_res_first, pipe.super_res_last] + ([] if is_var else [pipe.prior])
    hooks = _perturbing(models) if perturb else []
    try:
        with swapped_schedulers(pipe, list(stages), case), recording(pipe, stages) as rec:
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
    return images, rec


def _check_stable(case: dict, images, rec, images2, rec2) -> str:
    worst = 0.0
    for stage, r in rec.items():
        a = torch.stack([r["sample"][0]] + r["prev"])
        b = torch.stack([rec2[stage]["sample"][0]] + rec2[stage]["prev"])
        worst = max(worst, float((a - b).abs().max() / a.abs().max()))
    u8, u8b = [(np.asarray(i) * 255).round().astype(np.int64) for i in (images, images2)]
    mse = float(((u8 - u8b) ** 2).mean())
    psnr = float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)
    maxdiff = int(np.abs(u8 - u8b).max())
    summary = f"latents {worst:.2g} rel, PSNR {psnr:.1f} dB, max pixel diff {maxdiff}"
    if worst > STABILITY["latents"] or psnr < STABILITY["min_psnr"] or maxdiff > STABILITY["max_pixel_diff"]:
        raise SystemExit(f"error: case {case['name']} is numerically unstable under a {PERTURBATION} relative "
                         f"perturbation of the model outputs ({summary}); choose another seed")
    return summary


@torch.no_grad()
def run_case(t2i, var, case: dict) -> dict:
    """case: {"name", "pipeline": "t2i"|"variation", "seed", steps..., guidance..., prompt|image,
    optional "num_images_per_prompt", "generators": "list", "scheduler": "ddim", "eta"}."""
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
    count = case.get("num_images_per_prompt", 1)
    try:
        images, rec = _call(pipe, case, stages, is_var, perturb=False)
    finally:
        for h in hooks:
            h.remove()
    images2, rec2 = _call(pipe, case, stages, is_var, perturb=True)
    print(f"  {name}: stable ({_check_stable(case, images, rec, images2, rec2)})")
    p = f"e2e.{name}"
    for stage, r in rec.items():
        out[f"{p}.{stage}.timesteps"] = i64(r["t"])
        out[f"{p}.{stage}.x"] = f32(torch.stack([r["sample"][0]] + r["prev"]))
        out[f"{p}.{stage}.model_output"] = f32(torch.stack(r["model_output"]))
        if r["noise"]:  # DDIM with eta = 0 draws nothing
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
        if not np.array_equal(f32(vo.image_embeds.repeat_interleave(count, dim=0)), out[f"{p}.image_embeddings"]):
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
