"""Per-component golden inputs/outputs for the tiny fixture pipelines (fp32, CPU).

Mirrors the calls diffusers 0.42.1 UnCLIPPipeline / UnCLIPImageVariationPipeline make into each
component (pipelines/deprecated/unclip/pipeline_unclip*.py, text_proj.py). Tensor names are documented
in Tests/Fixtures/models/README.md. Used by scripts/make_fixtures.py. Not a command-line tool.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

LONG_PROMPT = ("a highly detailed photograph of a small red fox sitting in a snowy pine forest at dawn, "
               "soft golden light, mist between the trees, shallow depth of field, shot on a vintage "
               "film camera with warm colors and gentle grain, award winning wildlife photography, "
               "the fox looks straight into the lens while snowflakes drift slowly past its ears and "
               "a frozen river glitters in the distance under a pale pink and orange winter sky")  # > 77 tokens
PROMPTS = ["", "a photo of a cat",
           "An astronaut riding a horse, 4K!! (oil-painting) on Mars; isn't it nice?",
           LONG_PROMPT,
           "  Café   naïve façade — Tōkyō 2024 \u00e9t\u00e9 <3  "]


def f32(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float32).cpu().contiguous().numpy()


def i64(t) -> np.ndarray:
    return torch.as_tensor(t).to(torch.int64).cpu().contiguous().numpy()


def tokenize(tok, prompts):
    enc = tok(prompts, padding="max_length", max_length=tok.model_max_length, truncation=True,
              return_tensors="pt")
    return enc.input_ids, enc.attention_mask


def synthetic_image(h: int, w: int, seed: int) -> np.ndarray:
    """Deterministic RGB uint8 test picture: gradients, a hard-edged disc, stripes and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / max(1, w - 1)
    g = 255 * y / max(1, h - 1)
    b = 127.5 + 127.5 * np.sin(x / 7.0) * np.cos(y / 11.0)
    img = np.stack([r, g, b], -1)
    disc = (x - 0.6 * w) ** 2 + (y - 0.4 * h) ** 2 < (0.2 * min(h, w)) ** 2
    img[disc] = [250, 20, 40]
    img[((x.astype(int) // 5) % 2 == 0) & (y < h / 5)] *= 0.5
    img += rng.normal(0, 12, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


CLIP_IMAGES = {"src0": (180, 320, 11), "src1": (301, 250, 12)}  # name -> (H, W, seed)


def clip_images():
    return {k: synthetic_image(h, w, s) for k, (h, w, s) in CLIP_IMAGES.items()}


def clip_pixel_values(feature_extractor) -> np.ndarray:
    from PIL import Image
    imgs = clip_images()
    return feature_extractor(images=[Image.fromarray(imgs[k]) for k in sorted(imgs)],
                             return_tensors="np").pixel_values.astype(np.float32)


@torch.no_grad()
def component_goldens(t2i, var, cfg: dict, seed: int) -> dict:
    out = {}
    g = torch.Generator().manual_seed(seed)
    te, prior, tp = t2i.text_encoder, t2i.prior, t2i.text_proj
    D = cfg["prior"]["embedding_dim"]

    # text encoder: all prompts
    ids, mask = tokenize(t2i.tokenizer, PROMPTS)
    o = te(ids)
    out["text_encoder.input_ids"] = i64(ids)
    out["text_encoder.text_embeds"] = f32(o.text_embeds)
    out["text_encoder.last_hidden_state"] = f32(o.last_hidden_state)

    # prior: rows = ["", PROMPTS[2]] with their masks, noisy latents from N(0,1)
    rows = [0, 2]
    x = torch.randn(2, D, generator=g)
    out["prior.in.hidden_states"] = f32(x)
    out["prior.in.proj_embedding"] = f32(o.text_embeds[rows])
    out["prior.in.encoder_hidden_states"] = f32(o.last_hidden_state[rows])
    out["prior.in.attention_mask"] = i64(mask[rows])
    ts = [999, 500, 0]
    out["prior.timesteps"] = i64(ts)
    for t in ts:
        y = prior(x, timestep=torch.tensor(t), proj_embedding=o.text_embeds[rows],
                  encoder_hidden_states=o.last_hidden_state[rows], attention_mask=mask[rows].bool())
        out[f"prior.out.t{t}"] = f32(y.predicted_image_embedding)
    out["prior.post_process.out"] = f32(prior.post_process_latents(x))

    # text_proj with CFG: one image embedding, prompt rows [""; PROMPTS[1]] (uncond first)
    img1 = 0.5 * torch.randn(1, D, generator=g)
    rows = [0, 1]
    ehs, add = tp(image_embeddings=img1, prompt_embeds=o.text_embeds[rows],
                  text_encoder_hidden_states=o.last_hidden_state[rows], do_classifier_free_guidance=True)
    out["text_proj.cfg.in.image_embeddings"] = f32(img1)
    out["text_proj.cfg.in.prompt_embeds"] = f32(o.text_embeds[rows])
    out["text_proj.cfg.in.text_encoder_hidden_states"] = f32(o.last_hidden_state[rows])
    out["text_proj.cfg.out.encoder_hidden_states"] = f32(ehs)
    out["text_proj.cfg.out.additive_clip_time_embeddings"] = f32(add)
    # without CFG: two image embeddings, rows [PROMPTS[1], PROMPTS[3]]
    img2 = 0.5 * torch.randn(2, D, generator=g)
    rows2 = [1, 3]
    ehs2, add2 = tp(image_embeddings=img2, prompt_embeds=o.text_embeds[rows2],
                    text_encoder_hidden_states=o.last_hidden_state[rows2], do_classifier_free_guidance=False)
    out["text_proj.nocfg.in.image_embeddings"] = f32(img2)
    out["text_proj.nocfg.in.prompt_embeds"] = f32(o.text_embeds[rows2])
    out["text_proj.nocfg.in.text_encoder_hidden_states"] = f32(o.last_hidden_state[rows2])
    out["text_proj.nocfg.out.encoder_hidden_states"] = f32(ehs2)
    out["text_proj.nocfg.out.additive_clip_time_embeddings"] = f32(add2)

    # decoder: batch 2 = the CFG pair above, mask = pad(text_mask, (n_extra, 0), True)
    dec = t2i.decoder
    S, n_extra = dec.config.sample_size, tp.clip_extra_context_tokens
    dmask = F.pad(mask[rows].bool(), (n_extra, 0), value=True)
    xs = torch.randn(2, dec.config.in_channels, S, S, generator=g)
    out["decoder.in.sample"] = f32(xs)
    out["decoder.in.encoder_hidden_states"] = f32(ehs)
    out["decoder.in.class_labels"] = f32(add)
    out["decoder.in.attention_mask"] = i64(dmask)
    ts = [999, 42]
    out["decoder.timesteps"] = i64(ts)
    for t in ts:
        y = dec(sample=xs, timestep=torch.tensor(t), encoder_hidden_states=ehs, class_labels=add,
                attention_mask=dmask).sample
        out[f"decoder.out.t{t}"] = f32(y)

    # super-res: input = cat(noise, bicubic-AA upsample of a [-1,1] image)
    sr = t2i.super_res_first
    H = sr.config.sample_size
    small = torch.clamp(1.3 * torch.randn(1, 3, S, S, generator=g), -1, 1)
    up = F.interpolate(small, size=[H, H], mode="bicubic", align_corners=False, antialias=True)
    srin = torch.cat([torch.randn(1, 3, H, H, generator=g), up], dim=1)
    out["super_res.in.sample"] = f32(srin)
    for name, net, tlist in (("super_res_first", t2i.super_res_first, [999, 166]),
                             ("super_res_last", t2i.super_res_last, [0, 500])):
        out[f"{name}.timesteps"] = i64(tlist)
        for t in tlist:
            out[f"{name}.out.t{t}"] = f32(net(sample=srin, timestep=torch.tensor(t)).sample)

    # vision encoder on the preprocessed common images (common.safetensors clip_image.pixel_values)
    pv = torch.from_numpy(clip_pixel_values(var.feature_extractor))
    vo = var.image_encoder(pv)
    out["image_encoder.image_embeds"] = f32(vo.image_embeds)
    out["image_encoder.last_hidden_state"] = f32(vo.last_hidden_state)
    return out


@torch.no_grad()
def reference_tokenizer_check(tok) -> list:
    """Compares HF's tokenizer with a direct OpenAI-style BPE (no ftfy) on PROMPTS; returns mismatches."""
    import regex
    from unclip_tokenizer import bytes_to_unicode, build_vocab_merges
    vocab, merges = build_vocab_merges()
    ranks = {tuple(m.split()): i for i, m in enumerate(merges)}
    b2u = bytes_to_unicode()
    pat = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|"""
                        r"""[^\s\p{L}\p{N}]+""", regex.IGNORECASE)

    def bpe(token):
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = [(ranks.get(p, 1e18), i) for i, p in enumerate(zip(word, word[1:]))]
            r, i = min(pairs)
            if r == 1e18:
                break
            first, second = word[i], word[i + 1]
            new, j = [], 0
            while j < len(word):
                if j < len(word) - 1 and word[j] == first and word[j + 1] == second:
                    new.append(first + second)
                    j += 2
                else:
                    new.append(word[j])
                    j += 1
            word = tuple(new)
        return word

    import unicodedata
    bad = []
    ids_hf, _ = tokenize(tok, PROMPTS)
    for k, p in enumerate(PROMPTS):
        text = " ".join(unicodedata.normalize("NFC", p).split()).lower()
        ids = [vocab["<|startoftext|>"]]
        for m in pat.findall(text):
            ids += [vocab[t] for t in bpe("".join(b2u[b] for b in m.encode("utf-8")))]
        ids = ids[:76] + [vocab["<|endoftext|>"]]
        ids += [0] * (77 - len(ids))
        if ids != ids_hf[k].tolist():
            bad.append(p)
    return bad
