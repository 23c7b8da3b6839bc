#!/usr/bin/env python3
"""Colour-accuracy evaluation of the built-in model: the prompt set and the pixel classifier.

The same prompt set (Tests/Fixtures/builtin/eval.json, written by --write-prompts) and the same classifier
rules drive the Swift quality test (Tests/PipelineTests/BuiltinQualityTests.swift); this script runs them in
diffusers on the exported folder, to check a model before it ships:

  python scripts/builtin_eval.py --write-prompts                 # rewrite the prompt set (deterministic)
  python scripts/builtin_eval.py --folder work-tmp/builtin/folder [--sheet out.png]
  python scripts/builtin_eval.py --folder work-tmp/builtin/folder --validation --decoder-guidance 1,2,4,8 \
      [--prior-guidance 4,8]

--validation scores a different prompt set: VALIDATION_COUNT one-shape scenes of the training distribution
(every caption phrasing, size and position; dataset seed VALIDATION_SEED, so none is an eval prompt), classified
at the decoder's 64x64 output, for each pair of prior and decoder guidance scales given. The built-in model's recommended sampling
settings (sampling_defaults in scripts/builtin_config.json) are chosen there, never on the eval prompts.

Classifier: every pixel goes to the nearest palette colour (shapes_dataset.COLOURS) if it lies within
MAX_DIST of it (RGB Euclidean), else to none. Background = the most common class on the 3-pixel border
frame; shape colour = the most common other class over the whole image, if it covers at least
MIN_FRACTION of it. A prompt passes when both equal what it names.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from shapes_dataset import COLOURS, HELD_OUT, SHAPES, an, sample_spec  # noqa: E402

PROMPTS_PATH = os.path.join(HERE, "..", "Tests", "Fixtures", "builtin", "eval.json")
VALIDATION_SEED = 424242
VALIDATION_COUNT = 40
MAX_DIST = 80.0
MIN_FRACTION = 0.01
BORDER = 3


def prompt_set() -> list:
    """26 prompts: 20 training combinations (every colour as shape and as background) + the 6 held-out pairs."""
    names = list(COLOURS)
    out = []
    for i in range(20):
        colour = names[i % 10]
        bg = names[(i % 10 + 1 + i // 10 * 4) % 10]
        if (colour, bg) in HELD_OUT:
            bg = names[(names.index(bg) + 1) % 10]
        out.append(dict(colour=colour, background=bg, shape=SHAPES[i % 4], heldout=False))
    out[0]["background"] = "blue"  # the README's first command: "a red circle on a blue background"
    for k, (colour, bg) in enumerate(sorted(HELD_OUT)):
        out.append(dict(colour=colour, background=bg, shape=SHAPES[(k + 1) % 4], heldout=True))
    for k, p in enumerate(out):
        p["prompt"] = f"{an(p['colour'] + ' ' + p['shape'])} on {an(p['background'])} background"
        p["seed"] = 1000 + k
    return out


def validation_set() -> list:
    """VALIDATION_COUNT one-shape training-distribution scenes: prompt, expected colours and a seed each."""
    out, i = [], 0
    while len(out) < VALIDATION_COUNT:
        spec = sample_spec(VALIDATION_SEED, i)
        i += 1
        if len(spec["items"]) == 1:
            out.append(dict(prompt=spec["caption"], background=spec["background"], colour=spec["items"][0]["colour"],
                            seed=5000 + len(out)))
    return out


def sampling_defaults(folder: str) -> dict:
    """The model's recommended UnCLIPPipeline arguments (FOLDER/sampling_defaults.json; {} when absent)."""
    path = os.path.join(folder, "sampling_defaults.json")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def classify(img: np.ndarray) -> tuple[str | None, str | None]:
    """uint8 [H, W, 3] -> (background colour name, shape colour name); None where nothing qualifies."""
    names = list(COLOURS)
    pal = np.array([COLOURS[n] for n in names], np.float64)                   # [K, 3]
    d = np.linalg.norm(img.astype(np.float64)[:, :, None, :] - pal[None, None], axis=-1)  # [H, W, K]
    cls = np.where(d.min(-1) <= MAX_DIST, d.argmin(-1), -1)
    frame = np.concatenate([cls[:BORDER].ravel(), cls[-BORDER:].ravel(), cls[:, :BORDER].ravel(),
                            cls[:, -BORDER:].ravel()])
    frame = frame[frame >= 0]
    if frame.size == 0:
        return None, None
    bg = int(np.bincount(frame, minlength=len(names)).argmax())
    counts = np.bincount(cls[cls >= 0], minlength=len(names)).astype(np.float64)
    counts[bg] = 0
    k = int(counts.argmax())
    shape = names[k] if counts[k] >= MIN_FRACTION * cls.size else None
    return names[bg], shape


def evaluate(folder: str, sheet: str | None) -> int:
    import torch
    from PIL import Image
    from unclip_torch import load_pipeline
    pipe = load_pipeline(folder)
    prompts, defaults = prompt_set(), sampling_defaults(folder)
    print(f"sampling defaults: {defaults or 'diffusers'}")
    ok = {False: [0, 0], True: [0, 0]}
    tiles = []
    for p in prompts:
        img = pipe(p["prompt"], generator=torch.Generator().manual_seed(p["seed"]), output_type="np",
                   **defaults).images[0]
        u8 = (img * 255).round().astype(np.uint8)
        bg, shape = classify(u8)
        good = bg == p["background"] and shape == p["colour"]
        ok[p["heldout"]][0] += good
        ok[p["heldout"]][1] += 1
        print(f"{'ok  ' if good else 'MISS'} {p['prompt']!r:60} -> background {bg}, shape {shape}", flush=True)
        tiles.append(Image.fromarray(u8).resize((128, 128)))
    for h in (False, True):
        print(f"{'held-out' if h else 'training'}: {ok[h][0]}/{ok[h][1]}")
    if sheet:
        cols = 8
        s = Image.new("RGB", (cols * 128, (len(tiles) + cols - 1) // cols * 128), (255, 255, 255))
        for i, t in enumerate(tiles):
            s.paste(t, ((i % cols) * 128, (i // cols) * 128))
        s.save(sheet)
    return 0


def validate(folder: str, scales: list, prior_scales: list) -> int:
    """Accuracy on validation_set() at the decoder's 64x64 output for each (prior, decoder) guidance scale pair."""
    import torch
    from unclip_torch import load_pipeline
    pipe = load_pipeline(folder)
    defaults = sampling_defaults(folder)
    captured = {}
    first = pipe.super_res_first.forward

    def grab(sample, *a, **k):  # super_res_first's input is [noise, bicubic 4x of the decoder's image]
        captured.setdefault("small", sample[:, 3:6].clone())
        return first(sample, *a, **k)
    pipe.super_res_first.forward = grab
    prompts = validation_set()
    for pg, g in [(pg, g) for pg in prior_scales for g in scales]:
        hits = 0
        for p in prompts:
            captured.clear()
            # super-res at 2 steps: only its input is scored, and diffusers' UnCLIPScheduler divides by zero at 1
            kw = dict(defaults, decoder_guidance_scale=g, prior_guidance_scale=pg, super_res_num_inference_steps=2)
            pipe(p["prompt"], generator=torch.Generator().manual_seed(p["seed"]), output_type="np", **kw)
            small = torch.nn.functional.avg_pool2d(captured["small"], 4)[0].permute(1, 2, 0).clamp(-1, 1).numpy()
            bg, shape = classify(((small + 1) * 127.5).round().astype(np.uint8))
            hits += bg == p["background"] and shape == p["colour"]
        print(f"prior guidance {pg}, decoder guidance {g}: {hits}/{VALIDATION_COUNT} validation prompts right at 64x64",
              flush=True)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write-prompts", action="store_true")
    ap.add_argument("--folder")
    ap.add_argument("--sheet")
    ap.add_argument("--validation", action="store_true", help="score the validation prompts instead (see above)")
    ap.add_argument("--decoder-guidance", default="8", help="--validation: comma-separated decoder guidance scales")
    ap.add_argument("--prior-guidance", default="4", help="--validation: comma-separated prior guidance scales")
    a = ap.parse_args(argv)
    if a.write_prompts:
        os.makedirs(os.path.dirname(PROMPTS_PATH), exist_ok=True)
        doc = {"generator": "scripts/builtin_eval.py --write-prompts", "max_dist": MAX_DIST,
               "min_fraction": MIN_FRACTION, "border": BORDER, "palette": COLOURS, "prompts": prompt_set()}
        with open(PROMPTS_PATH, "w", encoding="utf-8") as f:
            f.write(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {os.path.normpath(PROMPTS_PATH)}")
    if a.folder and a.validation:
        return validate(a.folder, [float(g) for g in a.decoder_guidance.split(",")],
                        [float(g) for g in a.prior_guidance.split(",")])
    if a.folder:
        return evaluate(a.folder, a.sheet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
