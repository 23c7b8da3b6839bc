"""Synthetic captioned-shapes dataset for the built-in unCLIP model (deterministic from a seed).

Each sample is one or two shapes (circle, square, triangle, star) in named colours, at varied sizes and
positions, on a background of a named colour, with a caption in one of several phrasings:
"a red circle on a blue background", "a small yellow star in the top left corner of a green image",
"two squares, one red and one white, on black". Shapes are drawn at 4x and box-filtered down, so edges are
antialiased. Some (shape colour, background colour) pairs never occur in training (HELD_OUT) and measure
generalisation. Pure Python + Pillow + numpy. Also a command-line tool that writes a contact sheet:

  python scripts/shapes_dataset.py --sheet out.png [--seed 0] [--count 48]
"""
from __future__ import annotations

import argparse
import math
import random

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {
    "red": (220, 30, 30), "orange": (250, 140, 20), "yellow": (245, 220, 40), "green": (40, 160, 60),
    "blue": (35, 75, 220), "purple": (130, 50, 180), "pink": (250, 140, 200), "white": (245, 245, 245),
    "black": (15, 15, 15), "gray": (128, 128, 128),
}
SHAPES = ("circle", "square", "triangle", "star")
# (shape colour, background colour) pairs never drawn in training: the held-out set.
HELD_OUT = {("yellow", "purple"), ("green", "white"), ("blue", "orange"), ("pink", "black"),
            ("white", "red"), ("orange", "gray")}
SIZES = {"small": (0.11, 0.15), "": (0.17, 0.24), "large": (0.27, 0.34)}  # radius / image side
POSITIONS = {"top left corner": (0.27, 0.27), "top right corner": (0.73, 0.27),
             "bottom left corner": (0.27, 0.73), "bottom right corner": (0.73, 0.73), "center": (0.5, 0.5)}


def plural(shape: str) -> str:
    return shape + "s"


def an(phrase: str) -> str:
    """The phrase with its indefinite article: "a red circle", "an orange star"."""
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _allowed(colour: str, bg: str, split: str) -> bool:
    if colour == bg:
        return False
    held = (colour, bg) in HELD_OUT
    return held if split == "heldout" else not held


def sample_spec(seed: int, index: int, split: str = "train") -> dict:
    """The scene and caption of sample `index` (deterministic in (seed, index, split))."""
    rng = random.Random(f"{seed}/{split}/{index}")
    if split == "heldout":  # one shape, in one of the held-out (colour, background) pairs
        colour, bg = rng.choice(sorted(HELD_OUT))
        two = False
    else:
        bg = rng.choice(list(COLOURS))
        two = rng.random() < 0.25
        colour = None
    if not two:
        colour = colour or rng.choice([c for c in COLOURS if _allowed(c, bg, split)])
        shape = rng.choice(SHAPES)
        size = rng.choice(list(SIZES))
        style = rng.randrange(7)
        if style in (2, 3):
            pos = rng.choice(list(POSITIONS))
            cx, cy = POSITIONS[pos]
        else:
            pos = None
            cx, cy = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7)
        r = rng.uniform(*SIZES[size])
        if pos is not None and pos != "center":
            r = min(r, 0.2)
        sz = f"{size} " if size else ""
        caption = [
            f"{an(f'{colour} {shape}')} on {an(bg)} background",
            f"{an(f'{sz}{colour} {shape}')} on {an(bg)} background",
            f"{an(f'{sz}{colour} {shape}')} in the {pos} of {an(bg)} image",
            f"{an(f'{colour} {shape}')} in the {pos} of {an(bg)} image",
            f"{colour} {shape} on {bg}",
            f"{an(bg)} background with {an(f'{sz}{colour} {shape}')}",
            f"a picture of {an(f'{colour} {shape}')} on {an(bg)} background",
        ][style]
        items = [dict(shape=shape, colour=colour, cx=cx, cy=cy, r=r, rot=rng.uniform(-0.3, 0.3))]
    else:
        c1, c2 = rng.sample([c for c in COLOURS if _allowed(c, bg, split)], 2)
        same = rng.random() < 0.5
        s1 = rng.choice(SHAPES)
        s2 = s1 if same else rng.choice([s for s in SHAPES if s != s1])
        if same:
            caption = f"two {plural(s1)}, one {c1} and one {c2}, on {bg}"
        else:
            caption = rng.choice([f"{an(f'{c1} {s1}')} and {an(f'{c2} {s2}')} on {an(bg)} background",
                                  f"{an(f'{c1} {s1}')} next to {an(f'{c2} {s2}')}, {bg} background"])
        vertical = rng.random() < 0.3
        items = []
        for k, (s, c) in enumerate(((s1, c1), (s2, c2))):
            a, b = (0.28 if k == 0 else 0.72), rng.uniform(0.35, 0.65)
            cx, cy = (b, a) if vertical else (a, b)
            items.append(dict(shape=s, colour=c, cx=cx, cy=cy, r=rng.uniform(0.12, 0.19),
                              rot=rng.uniform(-0.3, 0.3)))
    return dict(caption=caption, background=bg, items=items)


def _polygon(shape: str, cx: float, cy: float, r: float, rot: float) -> list:
    if shape == "square":
        pts = [(math.pi / 4 + k * math.pi / 2, r * 1.1) for k in range(4)]
    elif shape == "triangle":
        pts = [(-math.pi / 2 + k * 2 * math.pi / 3, r * 1.2) for k in range(3)]
    else:  # star
        pts = [(-math.pi / 2 + k * math.pi / 5, r * 1.15 if k % 2 == 0 else r * 0.47) for k in range(10)]
    return [(cx + rad * math.cos(a + rot), cy + rad * math.sin(a + rot)) for a, rad in pts]


def render(spec: dict, size: int = 256) -> Image.Image:
    """Draws the scene at 4x and box-filters it to size x size (antialiased RGB)."""
    big = size * 4
    img = Image.new("RGB", (big, big), COLOURS[spec["background"]])
    d = ImageDraw.Draw(img)
    for it in spec["items"]:
        cx, cy, r = it["cx"] * big, it["cy"] * big, it["r"] * big
        fill = COLOURS[it["colour"]]
        if it["shape"] == "circle":
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
        else:
            d.polygon(_polygon(it["shape"], cx, cy, r, it["rot"]), fill=fill)
    return img.resize((size, size), Image.BOX)


def to_small(img: Image.Image, size: int = 64) -> Image.Image:
    return img.resize((size, size), Image.BOX)


def batch_arrays(seed: int, start: int, count: int, size: int, split: str = "train"):
    """uint8 [count, size, size, 3] images and their captions for samples start..start+count-1."""
    imgs, caps = np.empty((count, size, size, 3), np.uint8), []
    for k in range(count):
        spec = sample_spec(seed, start + k, split)
        imgs[k] = np.asarray(render(spec, size))
        caps.append(spec["caption"])
    return imgs, caps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sheet", required=True, help="output PNG contact sheet")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--count", type=int, default=48)
    ap.add_argument("--split", choices=("train", "heldout"), default="train")
    a = ap.parse_args(argv)
    cols = 8
    rows = (a.count + cols - 1) // cols
    sheet = Image.new("RGB", (cols * 128, rows * 128), (255, 255, 255))
    for i in range(a.count):
        spec = sample_spec(a.seed, i, a.split)
        sheet.paste(render(spec, 128), ((i % cols) * 128, (i // cols) * 128))
        print(f"{i:3d} {spec['caption']}")
    sheet.save(a.sheet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
