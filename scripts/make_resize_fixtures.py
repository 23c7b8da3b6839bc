"""Golden outputs of Pillow's Lanczos resize, the upscale `unclip-run serve` uses for 512x512 and 1024x1024.

Writes Tests/ImageIOTests/Fixtures/resize/<case>.png: a source picture (a smooth gradient with sharp edges and
noise, so both the lobes and the clipping of Lanczos-3 show) and Pillow's `Image.resize(size, Image.LANCZOS)` of it
for the API's upscales (256 -> 512, 256 -> 1024), a non-integer upscale (37 -> 100), a downscale (256 -> 81, where
the filter widens) and a width-only and height-only change, in RGB and gray. `ResizeTests` checks that
`Resize.lanczos` gives the same bytes.

    python3 scripts/make_resize_fixtures.py      # Pillow and numpy only
"""
import os

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "ImageIOTests", "Fixtures", "resize")


def source(side, mode):
    rng = np.random.default_rng(side)
    y, x = np.mgrid[0:side, 0:side].astype(np.float64) / side
    rgb = np.stack([255 * x, 255 * y, 128 + 127 * np.sin(9 * x * y)], axis=-1)
    rgb[side // 4: side // 2, side // 4: 3 * side // 4] = [250, 10, 10]          # a hard-edged block: ringing, clipping
    rgb += rng.normal(0, 12, rgb.shape)
    img = Image.fromarray(np.clip(rgb, 0, 255).round().astype(np.uint8), "RGB")
    return img if mode == "RGB" else img.convert("L")


CASES = [  # name, source side, mode, output size
    ("rgb256_to_512", 256, "RGB", (512, 512)),
    ("rgb256_to_1024", 256, "RGB", (1024, 1024)),
    ("rgb37_to_100", 37, "RGB", (100, 100)),
    ("rgb256_to_81", 256, "RGB", (81, 81)),
    ("rgb37_to_60x37", 37, "RGB", (60, 37)),
    ("gray37_to_37x90", 37, "L", (37, 90)),
    ("gray256_to_512", 256, "L", (512, 512)),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, side, mode, size in CASES:
        src = source(side, mode)
        src.save(os.path.join(OUT, f"{name}.in.png"))
        src.resize(size, Image.LANCZOS).save(os.path.join(OUT, f"{name}.out.png"))
        print(name, src.size, "->", size)


if __name__ == "__main__":
    main()
