#!/usr/bin/env python3
"""Train the built-in unCLIP model on the synthetic shapes dataset (scripts/shapes_dataset.py), on CPU.

Mirrors the unCLIP training recipe (Ramesh et al. 2022; Karlo): a contrastive CLIP (text + image towers),
a diffusion prior predicting standardised CLIP image embeddings (x0 prediction, classifier-free dropout),
a decoder UNet with text projection (the recipe's prediction type -- x0 for the built-in model -- plus
learned-range variance trained on the improved-DDPM bound, openai/improved-diffusion gaussian_diffusion.py),
then a fine-tune of it (decoder_ft), and a 64->256 super-resolution pair trained on crops.
All modules are the real diffusers/transformers classes in Karlo's architecture family, so
scripts/convert.py and the Swift engine run the result unchanged.

  python scripts/train_builtin.py [--config scripts/builtin_config.json] [--work work-tmp/builtin] STAGE...

STAGE: clip, prior, super_res_first, super_res_last, decoder, decoder_ft, export, or all (= every stage in
that order). Each stage checkpoints to WORK/<stage>.pt every few minutes and resumes from it; a finished stage
leaves WORK/<stage>.done and is skipped. `export` writes the diffusers folder WORK/folder and converts it
to weights/unclip-builtin.safetensors (f16), with the recipe's sampling_defaults; with --partial it exports the newest checkpoint of an
unfinished stage (for trying the model while training continues). Progress goes to stdout, one line per
log interval.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from shapes_dataset import render, sample_spec  # noqa: E402
from unclip_configs import KARLO, SCHEDULER_CONFIGS  # noqa: E402
from unclip_torch import build_module  # noqa: E402

CLASSES = {"text_encoder": "CLIPTextModelWithProjection", "image_encoder": "CLIPVisionModelWithProjection",
           "prior": "PriorTransformer", "text_proj": "UnCLIPTextProjModel", "decoder": "UNet2DConditionModel",
           "super_res_first": "UNet2DModel", "super_res_last": "UNet2DModel"}
STAGES = ("clip", "prior", "super_res_first", "super_res_last", "decoder", "decoder_ft")
CLIP_MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
CLIP_STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)


def component_configs(cfg: dict) -> dict:
    """diffusers/transformers configs of every component: Karlo's with the recipe's widths."""
    c = copy.deepcopy(KARLO)
    d = cfg["clip_dim"]
    c["text_encoder"].update(cfg["text_encoder"])
    c["image_encoder"].update(cfg["image_encoder"])
    c["prior"].update(embedding_dim=d, **cfg["prior"])
    ch0 = cfg["decoder"]["block_out_channels"][0]
    c["text_proj"].update(clip_embeddings_dim=d, time_embed_dim=4 * ch0, **cfg["text_proj"])
    c["decoder"].update(cross_attention_dim=cfg["text_proj"]["cross_attention_dim"], **cfg["decoder"])
    n = len(cfg["super_res"]["block_out_channels"])
    for k in ("super_res_first", "super_res_last"):
        c[k].update(down_block_types=["ResnetDownsampleBlock2D"] * n, up_block_types=["ResnetUpsampleBlock2D"] * n,
                    **cfg["super_res"])
    c["super_res_last"]["sample_size"] = None
    return c


class Noise:
    """The squaredcos_cap_v2 chain of UnCLIPScheduler (1000 steps) and the improved-DDPM posterior terms."""

    def __init__(self, steps: int = 1000):
        def abar(t):
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
        betas = torch.tensor([min(1 - abar((i + 1) / steps) / abar(i / steps), 0.999) for i in range(steps)],
                             dtype=torch.float64)
        alphas = 1 - betas
        ab = torch.cumprod(alphas, 0)
        ab_prev = torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])
        post_var = betas * (1 - ab_prev) / (1 - ab)
        self.steps = steps
        self.sqrt_ab, self.sqrt_1mab = ab.sqrt().float(), (1 - ab).sqrt().float()
        self.snr = (ab / (1 - ab)).float()
        self.post_logvar = torch.log(torch.cat([post_var[1:2], post_var[1:]])).float()
        self.log_beta = betas.log().float()
        self.coef1 = (betas * ab_prev.sqrt() / (1 - ab)).float()
        self.coef2 = ((1 - ab_prev) * alphas.sqrt() / (1 - ab)).float()

    @staticmethod
    def _b(v, t, ndim):
        return v[t].view(-1, *([1] * (ndim - 1)))

    def add(self, x0, noise, t):
        return self._b(self.sqrt_ab, t, x0.ndim) * x0 + self._b(self.sqrt_1mab, t, x0.ndim) * noise

    def x0_from_eps(self, eps, xt, t):
        nd = xt.ndim
        return (xt - self._b(self.sqrt_1mab, t, nd) * eps) / self._b(self.sqrt_ab, t, nd)

    def vlb(self, pred_x0, v, x0, xt, t, decoder_nll=True):
        """Per-sample variational bound in bits/dim for the variance channels v (the mean's pred_x0 detached);
        without decoder_nll the t = 0 term is 0 (no noise is added after the last sampling step)."""
        nd = x0.ndim
        c1, c2 = self._b(self.coef1, t, nd), self._b(self.coef2, t, nd)
        true_mean, model_mean = c1 * x0 + c2 * xt, c1 * pred_x0 + c2 * xt
        min_log, max_log = self._b(self.post_logvar, t, nd), self._b(self.log_beta, t, nd)
        frac = (v + 1) / 2
        model_logvar = frac * max_log + (1 - frac) * min_log
        kl = 0.5 * (-1.0 + model_logvar - min_log + torch.exp(min_log - model_logvar)
                    + (true_mean - model_mean) ** 2 * torch.exp(-model_logvar))
        kl = kl.mean(dim=(1, 2, 3)) / math.log(2.0)
        nll = -_discretized_gaussian_loglik(x0, model_mean, 0.5 * model_logvar).mean(dim=(1, 2, 3)) / math.log(2.0)
        return torch.where(t == 0, nll if decoder_nll else torch.zeros_like(kl), kl)


def _discretized_gaussian_loglik(x, means, log_scales):
    def cdf(z):
        return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (z + 0.044715 * z ** 3)))
    inv = torch.exp(-log_scales)
    cdf_plus, cdf_min = cdf(inv * (x - means + 1 / 255)), cdf(inv * (x - means - 1 / 255))
    return torch.where(x < -0.999, torch.log(cdf_plus.clamp(min=1e-12)),
                       torch.where(x > 0.999, torch.log((1 - cdf_min).clamp(min=1e-12)),
                                   torch.log((cdf_plus - cdf_min).clamp(min=1e-12))))


class Data:
    """Deterministic batches: sample index = stage offset + step * batch + k, so a resumed run sees the same data."""

    def __init__(self, cfg: dict, tokenizer):
        self.seed, self.tok = cfg["dataset_seed"], tokenizer

    def batch(self, stage: str, step: int, n: int, size: int = 64):
        base = (STAGES.index(stage) + 1) * 10 ** 9 + step * n
        specs = [sample_spec(self.seed, base + k) for k in range(n)]
        imgs = np.stack([np.asarray(render(s, size)) for s in specs])
        x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1  # [B, 3, H, W] in [-1, 1]
        return x, [s["caption"] for s in specs]

    def tokens(self, captions, full=True):
        """ids and mask padded to 77, or (full=False) to the batch's longest caption: the CLIP text tower is
        causal, so outputs before each caption's end are the same either way and padding is masked downstream."""
        if full:
            t = self.tok(captions, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
        else:
            t = self.tok(captions, padding="longest", max_length=77, truncation=True, return_tensors="pt")
        return t.input_ids, t.attention_mask.bool()


def clip_pixels(x):
    """[-1, 1] images at the image tower's size -> CLIP-normalised pixel values (CLIPImageProcessor at 1:1)."""
    return ((x + 1) / 2 - CLIP_MEAN) / CLIP_STD


class Run:
    """One stage's modules, optimiser, EMA copies and checkpointing."""

    def __init__(self, name, work, cfg, modules: dict, params, ema: float | None):
        st = cfg["stages"][name]
        self.name, self.work, self.cfg, self.st, self.modules = name, work, cfg, st, modules
        self.opt = torch.optim.AdamW(params, lr=st["lr"], weight_decay=st.get("weight_decay", 0.0))
        self.ema = {k: copy.deepcopy(m).requires_grad_(False) for k, m in modules.items()} if ema else None
        self.ema_decay, self.step = ema, 0
        self.path = os.path.join(work, f"{name}.pt")
        self.t0, self.last_save, self.losses = time.time(), time.time(), []

    def lr(self):
        st, s = self.st, self.step
        if s < st["warmup"]:
            return st["lr"] * (s + 1) / st["warmup"]
        p = (s - st["warmup"]) / max(1, st["steps"] - st["warmup"])
        return st["lr"] * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))

    def resume(self):
        if os.path.exists(self.path):
            ck = torch.load(self.path, weights_only=False)
            for k, m in self.modules.items():
                m.load_state_dict(ck["modules"][k])
            if self.ema:
                for k, m in self.ema.items():
                    m.load_state_dict(ck["ema"][k])
            self.opt.load_state_dict(ck["opt"])
            torch.set_rng_state(ck["rng"])
            self.step = ck["step"]
            print(f"[{self.name}] resumed at step {self.step}", flush=True)

    def save(self, extra=None):
        ck = {"modules": {k: m.state_dict() for k, m in self.modules.items()}, "opt": self.opt.state_dict(),
              "ema": {k: m.state_dict() for k, m in self.ema.items()} if self.ema else None,
              "rng": torch.get_rng_state(), "step": self.step, "extra": extra or {}}
        torch.save(ck, self.path + ".tmp")
        os.replace(self.path + ".tmp", self.path)
        self.last_save = time.time()

    def update(self, loss, extra=None):
        for g in self.opt.param_groups:
            g["lr"] = self.lr()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in self.opt.param_groups for p in g["params"]], 1.0)
        self.opt.step()
        if self.ema:
            d = min(self.ema_decay, (1 + self.step) / (10 + self.step))
            with torch.no_grad():
                for k, m in self.modules.items():
                    for pe, p in zip(self.ema[k].parameters(), m.parameters()):
                        pe.lerp_(p, 1 - d)
        self.step += 1
        self.losses.append(float(loss.detach()))
        if self.step % 25 == 0 or self.step == self.st["steps"]:
            el = time.time() - self.t0
            print(f"[{self.name}] step {self.step}/{self.st['steps']} loss {np.mean(self.losses):.4f} "
                  f"lr {self.lr():.2e} {el / len(self.losses):.2f} s/step", flush=True)
            self.losses, self.t0 = [], time.time()
        if time.time() - self.last_save > 60 * self.cfg["checkpoint_minutes"] or self.step == self.st["steps"]:
            self.save(extra)

    def finish(self):
        open(os.path.join(self.work, f"{self.name}.done"), "w").close()
        print(f"[{self.name}] done", flush=True)


# ----------------------------------------------------------------------------------------------------------
# stages

def load_modules(work, comps, name, keys, ema=True):
    """Modules of a (finished or, for export --partial, unfinished) stage checkpoint; EMA weights if kept."""
    ck = torch.load(os.path.join(work, f"{name}.pt"), weights_only=False)
    src = ck["ema"] if ema and ck["ema"] else ck["modules"]
    out = {}
    for k in keys:
        m = build_module(CLASSES[k], comps[k])
        m.load_state_dict(src[k])
        out[k] = m.eval().requires_grad_(False)
    return out, ck


class Frozen:
    """The trained CLIP towers, frozen, and the encodings of the empty prompt."""

    def __init__(self, work, comps, data):
        m, _ = load_modules(work, comps, "clip", ("text_encoder", "image_encoder"), ema=False)
        self.text, self.vision, self.data = m["text_encoder"], m["image_encoder"], data
        self.empty = self.encode_text([""])

    @torch.no_grad()
    def encode_text(self, captions, full=True):
        ids, mask = self.data.tokens(captions, full)
        o = self.text(input_ids=ids)  # no attention mask, as UnCLIPPipeline._encode_prompt
        return o.text_embeds, o.last_hidden_state, mask

    @torch.no_grad()
    def encode_image(self, x):
        return self.vision(pixel_values=clip_pixels(x)).image_embeds

    def drop_text(self, emb, hid, mask, drop):
        e, h, m = self.empty
        n, length = emb.shape[0], hid.shape[1]
        h, m = h[:, :length], m[:, :length]  # causal tower: the first positions do not depend on the padding
        d = drop.view(-1, 1)
        return (torch.where(d, e.expand(n, -1), emb), torch.where(d.view(-1, 1, 1), h.expand(n, -1, -1), hid),
                torch.where(d, m.expand(n, -1), mask))


def stage_clip(cfg, comps, work, data):
    text, vision = build_module("CLIPTextModelWithProjection", comps["text_encoder"]), \
        build_module("CLIPVisionModelWithProjection", comps["image_encoder"])
    scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    run = Run("clip", work, cfg, {"text_encoder": text, "image_encoder": vision, "scale": torch.nn.ParameterList([scale])},
              list(text.parameters()) + list(vision.parameters()) + [scale], ema=None)
    run.resume()
    st = run.st
    while run.step < st["steps"]:
        x, caps = data.batch("clip", run.step, st["batch"])
        ids, _ = data.tokens(caps, full=False)
        t = F.normalize(text(input_ids=ids).text_embeds, dim=-1)
        v = F.normalize(vision(pixel_values=clip_pixels(x)).image_embeds, dim=-1)
        logits = scale.exp().clamp(max=100) * v @ t.T
        labels = torch.arange(len(caps))
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        run.update(loss)
    run.finish()


def stage_prior(cfg, comps, work, data, noise):
    fz, st = Frozen(work, comps, data), cfg["stages"]["prior"]
    with torch.no_grad():  # Karlo-style normalisation statistics of the image embeddings
        embs = torch.cat([fz.encode_image(data.batch("prior", -1 - i, 256)[0]) for i in range(st["stats_batches"])])
    mean, std = embs.mean(0, keepdim=True), embs.std(0, keepdim=True)
    prior = build_module("PriorTransformer", comps["prior"])
    with torch.no_grad():
        prior.clip_mean.copy_(mean)
        prior.clip_std.copy_(std)
    prior.clip_mean.requires_grad_(False)
    prior.clip_std.requires_grad_(False)
    run = Run("prior", work, cfg, {"prior": prior}, [p for p in prior.parameters() if p.requires_grad], st["ema"])
    run.resume()
    while run.step < st["steps"]:
        x, caps = data.batch("prior", run.step, st["batch"])
        emb, hid, mask = fz.encode_text(caps)
        emb, hid, mask = fz.drop_text(emb, hid, mask, torch.rand(len(caps)) < st["uncond_prob"])
        x0 = (fz.encode_image(x) - mean) / std
        t = torch.randint(0, noise.steps, (len(caps),))
        xt = noise.add(x0, torch.randn_like(x0), t)
        pred = prior(xt, timestep=t, proj_embedding=emb, encoder_hidden_states=hid,
                     attention_mask=mask).predicted_image_embedding
        run.update(F.mse_loss(pred, x0))
    run.finish()


def _sr_batch(data, stage, step, n, crop, lowres_noise, size):
    hi, _ = data.batch(stage, step, n, size)                                     # [B, 3, 256, 256]
    lo = F.avg_pool2d(hi, size // 64)                                            # [B, 3, 64, 64]
    lo = (lo + torch.rand(n, 1, 1, 1) * lowres_noise * torch.randn_like(lo)).clamp(-1, 1)
    up = F.interpolate(lo, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
    ys, xs = torch.randint(0, size - crop + 1, (2, n))
    hi = torch.stack([hi[i, :, ys[i]:ys[i] + crop, xs[i]:xs[i] + crop] for i in range(n)])
    up = torch.stack([up[i, :, ys[i]:ys[i] + crop, xs[i]:xs[i] + crop] for i in range(n)])
    return hi, up


def prediction_loss(st: dict, noise, pred, x0, eps, t):
    """The mean-prediction loss: eps-MSE, or for prediction_type "sample" x0-MSE weighted clamp(SNR, 1, cap).

    x0 prediction is what makes these small models usable with Karlo's cosine chain and few sampling steps: an
    eps model cannot express x0 at t ~ 999 (sqrt(alpha_bar) = 5e-5), yet sampling starts there, and flat colours
    stay legible in the noisy input up to t ~ 970, so an eps model learns to copy colours from the noise rather
    than from its conditioning. The weight is 1 (x0-MSE) where the noise dominates and at most `cap` where the
    sample does (min-SNR style)."""
    if st.get("prediction_type", "epsilon") == "sample":
        w = Noise._b(noise.snr, t, x0.ndim).clamp(1.0, st["snr_weight_cap"])
        return (w * (pred - x0) ** 2).mean()
    return F.mse_loss(pred, eps)


def stage_super_res(cfg, comps, work, data, noise, name):
    st = cfg["stages"][name]
    unet = build_module("UNet2DModel", comps[name])
    if name == "super_res_last":  # starts from the finished first model, then specialises on small t
        first, _ = load_modules(work, comps, "super_res_first", ("super_res_first",))
        unet.load_state_dict(first["super_res_first"].state_dict())
    run = Run(name, work, cfg, {name: unet}, unet.parameters(), st["ema"])
    run.resume()
    tmax = st.get("max_timestep", noise.steps)
    while run.step < st["steps"]:
        hi, up = _sr_batch(data, name, run.step, st["batch"], st["crop"], st["lowres_noise"],
                           comps[name]["sample_size"] or cfg["super_res"]["sample_size"])
        t = torch.randint(0, tmax, (hi.shape[0],))
        eps = torch.randn_like(hi)
        out = unet(torch.cat([noise.add(hi, eps, t), up], dim=1), t).sample
        run.update(prediction_loss(st, noise, out, hi, eps, t))
    run.finish()


def sample_timesteps(st: dict, steps: int, n: int):
    """Training timesteps: uniform, except that a fraction `high_t_fraction` is drawn from [high_t_min, steps).

    At 64x64 a flat background colour survives the noise up to t ~ 970 of the cosine chain (the mean of 4096
    pixels is still legible), so only the last few percent of uniformly drawn steps teach the decoder to take
    the colours from its conditioning; sampling starts exactly there. Drawing more of them there makes the
    conditioning learn in a CPU budget (importance sampling of t; the prediction target is unchanged)."""
    t = torch.randint(0, steps, (n,))
    frac = st.get("high_t_fraction", 0.0)
    if frac > 0:
        high = torch.randint(st["high_t_min"], steps, (n,))
        t = torch.where(torch.rand(n) < frac, high, t)
    return t


def stage_decoder(cfg, comps, work, data, noise, name="decoder"):
    """The decoder and its text projection; `decoder_ft` continues the finished `decoder` stage (its weights and
    EMA) with a fresh warm-up and cosine learning-rate cycle on new samples."""
    fz, st = Frozen(work, comps, data), cfg["stages"][name]
    text_proj, unet = build_module("UnCLIPTextProjModel", comps["text_proj"]), \
        build_module("UNet2DConditionModel", comps["decoder"])
    keys = ("text_proj", "decoder")
    run = Run(name, work, cfg, dict(zip(keys, (text_proj, unet))),
              list(text_proj.parameters()) + list(unet.parameters()), st["ema"])
    if st.get("init") and not os.path.exists(run.path):  # a resumed run takes everything from its own checkpoint
        ck = torch.load(os.path.join(work, f"{st['init']}.pt"), weights_only=False)
        for k in keys:
            run.modules[k].load_state_dict(ck["modules"][k])
            run.ema[k].load_state_dict(ck["ema"][k])
    run.resume()
    k = comps["text_proj"]["clip_extra_context_tokens"]
    while run.step < st["steps"]:
        x0, caps = data.batch("decoder", run.step, st["batch"])
        n = len(caps)
        img = fz.encode_image(x0)
        emb, hid, mask = fz.encode_text(caps, full=False)  # padding is masked in the decoder's attention
        drop_all = torch.rand(n) < st["uncond_prob"]
        emb, hid, mask = fz.drop_text(emb, hid, mask, drop_all | (torch.rand(n) < st["text_drop_prob"]))
        cfg_emb = text_proj.learned_classifier_free_guidance_embeddings.unsqueeze(0).expand(n, -1)
        img = torch.where(drop_all.view(-1, 1), cfg_emb, img)
        ehs, add = text_proj(image_embeddings=img, prompt_embeds=emb, text_encoder_hidden_states=hid,
                             do_classifier_free_guidance=False)
        t = sample_timesteps(st, noise.steps, n)
        eps = torch.randn_like(x0)
        xt = noise.add(x0, eps, t)
        out = unet(xt, t, encoder_hidden_states=ehs, class_labels=add,
                   attention_mask=F.pad(mask, (k, 0), value=True)).sample
        p, v = out.split(3, dim=1)
        loss = prediction_loss(st, noise, p, x0, eps, t)
        pred_x0 = p.detach() if st.get("prediction_type") == "sample" else noise.x0_from_eps(p.detach(), xt, t)
        loss = loss + (noise.vlb(pred_x0, v, x0, xt, t, decoder_nll=st.get("decoder_nll", True))
                       * noise.steps / 1000).mean()
        # diffusers' learned_range interpolates between the posterior and the beta variance with (v + 1) / 2 and
        # never clamps it; sampling with fewer steps than training widens that range by orders of magnitude, so
        # keep v in [-1, 1] where the full-chain bound hardly constrains it.
        loss = loss + st.get("variance_range_penalty", 0.0) * (v.abs() - 1).clamp(min=0).pow(2).mean()
        run.update(loss)
    run.finish()


def stage_export(cfg, comps, work, out, partial):
    """EMA weights -> Karlo-layout diffusers folder WORK/folder -> scripts/convert.py -> OUT (f16)."""
    from diffusers import UnCLIPImageVariationPipeline, UnCLIPPipeline, UnCLIPScheduler
    from transformers import CLIPTokenizer
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    from fixture_pipeline import save_folders
    from unclip_configs import FEATURE_EXTRACTOR
    sr = [cfg["stages"][k].get("prediction_type", "epsilon") for k in ("super_res_first", "super_res_last")]
    if sr[0] != sr[1]:
        raise SystemExit("error: super_res_first and super_res_last share one scheduler: same prediction_type needed")
    for s in STAGES:
        if not os.path.exists(os.path.join(work, f"{s}.done")) and not (partial and os.path.exists(os.path.join(work, f"{s}.pt"))):
            raise SystemExit(f"error: stage {s} has not finished (run it, or export --partial once it has a checkpoint)")
    m = {}
    m.update(load_modules(work, comps, "clip", ("text_encoder", "image_encoder"), ema=False)[0])
    for stage, keys in (("prior", ("prior",)), ("decoder_ft", ("text_proj", "decoder")),
                        ("super_res_first", ("super_res_first",)), ("super_res_last", ("super_res_last",))):
        mods, ck = load_modules(work, comps, stage, keys)
        m.update(mods)
        print(f"[export] {stage}: step {ck['step']}", flush=True)

    def sched(name):
        c = {a: b for a, b in SCHEDULER_CONFIGS[name].items() if not a.startswith("_")}
        stage = {"decoder_scheduler": "decoder_ft", "super_res_scheduler": "super_res_first"}.get(name)
        if stage:  # what the stage's models were trained to predict
            c["prediction_type"] = cfg["stages"][stage].get("prediction_type", "epsilon")
        return UnCLIPScheduler(**c)
    tok = CLIPTokenizer.from_pretrained(os.path.join(work, "tokenizer"))
    size = cfg["image_encoder"]["image_size"]
    fe = dict(FEATURE_EXTRACTOR, crop_size={"height": size, "width": size}, size={"shortest_edge": size})
    t2i = UnCLIPPipeline(prior=m["prior"], decoder=m["decoder"], text_encoder=m["text_encoder"], tokenizer=tok,
                         text_proj=m["text_proj"], super_res_first=m["super_res_first"],
                         super_res_last=m["super_res_last"], prior_scheduler=sched("prior_scheduler"),
                         decoder_scheduler=sched("decoder_scheduler"), super_res_scheduler=sched("super_res_scheduler"))
    var = UnCLIPImageVariationPipeline(
        decoder=m["decoder"], text_encoder=m["text_encoder"], tokenizer=tok, text_proj=m["text_proj"],
        feature_extractor=CLIPImageProcessorPil(**fe), image_encoder=m["image_encoder"],
        super_res_first=m["super_res_first"], super_res_last=m["super_res_last"],
        decoder_scheduler=sched("decoder_scheduler"), super_res_scheduler=sched("super_res_scheduler"))
    folder, _ = save_folders(t2i, var, work, "folder")
    if cfg.get("sampling_defaults"):  # the model's recommended UnCLIPPipeline arguments -> weights metadata
        with open(os.path.join(folder, "sampling_defaults.json"), "w", encoding="utf-8") as f:
            json.dump(cfg["sampling_defaults"], f, indent=1, sort_keys=True)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    subprocess.run([sys.executable, os.path.join(HERE, "convert.py"), folder, out, "--dtype", "f16"], check=True)
    print(f"[export] wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB)", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stages", nargs="+", choices=STAGES + ("export", "all"))
    ap.add_argument("--config", default=os.path.join(HERE, "builtin_config.json"))
    ap.add_argument("--work", default=os.path.join(HERE, "..", "work-tmp", "builtin"))
    ap.add_argument("--out", default=os.path.join(HERE, "..", "weights", "unclip-builtin.safetensors"))
    ap.add_argument("--partial", action="store_true", help="export: allow unfinished stages' newest checkpoints")
    a = ap.parse_args(argv)
    with open(a.config, encoding="utf-8") as f:
        cfg = json.load(f)
    torch.set_num_threads(cfg["threads"])
    os.makedirs(a.work, exist_ok=True)
    from transformers import CLIPTokenizer
    from unclip_tokenizer import write_tokenizer_folder
    tok_dir = os.path.join(a.work, "tokenizer")
    if not os.path.exists(os.path.join(tok_dir, "vocab.json")):
        write_tokenizer_folder(tok_dir)
    data, noise, comps = Data(cfg, CLIPTokenizer.from_pretrained(tok_dir)), Noise(), component_configs(cfg)
    stages = list(STAGES) + ["export"] if "all" in a.stages else a.stages
    for s in stages:
        if s == "export":
            stage_export(cfg, comps, a.work, a.out, a.partial)
            continue
        if os.path.exists(os.path.join(a.work, f"{s}.done")):
            print(f"[{s}] already done", flush=True)
            continue
        torch.manual_seed(cfg["seed"] + STAGES.index(s))
        t0 = time.time()
        if s == "clip":
            stage_clip(cfg, comps, a.work, data)
        elif s == "prior":
            stage_prior(cfg, comps, a.work, data, noise)
        elif s.startswith("super_res"):
            stage_super_res(cfg, comps, a.work, data, noise, s)
        else:
            stage_decoder(cfg, comps, a.work, data, noise, s)
        print(f"[{s}] {time.time() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
