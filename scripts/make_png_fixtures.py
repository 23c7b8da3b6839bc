"""PNG fixtures of every common pixel format, with their expected 8-bit RGBA decoding.

Writes Tests/ImageIOTests/Fixtures/<kind>.png and <kind>.rgba (raw width×height×4 bytes) for:
gray 1/2/4/8/16-bit, gray+alpha 8/16, palette 8-bit (with tRNS) and 4-bit, RGB 8/16, RGBA 8/16,
gray 8-bit with a tRNS colour key, and an Adam7-interlaced RGB; plus `ztxt_bomb`, an RGB image with a zTXt chunk
that inflates to 16 MiB (a decompression bomb: the decoder must drop it within its 8 MiB chunk limit and keep the
small zTXt beside it). The PNGs are written chunk by chunk
(PNG spec, ISO/IEC 15948) so every format is reachable; the expected RGBA follows the spec's
conversions (low-bit gray scaled to 0–255, 16-bit → high byte as PIL does, palette lookup, tRNS → alpha).
Each 8-bit-or-lower expectation is cross-checked against Pillow's decoder.

    .venv-ref/bin/python scripts/make_png_fixtures.py
"""
import os
import struct
import zlib

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "ImageIOTests", "Fixtures")
W, H = 13, 7
rng = np.random.default_rng(7)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def pack_rows(samples, depth):
    """samples: [H, W*channels] ints → filtered (type 0) scanlines."""
    out = b""
    for row in samples:
        if depth == 16:
            line = b"".join(struct.pack(">H", int(v)) for v in row)
        elif depth == 8:
            line = bytes(int(v) for v in row)
        else:
            per = 8 // depth
            vals = list(row) + [0] * (-len(row) % per)
            line = bytes(sum(int(vals[i + j]) << (8 - depth * (j + 1)) for j in range(per)) for i in range(0, len(vals), per))
        out += b"\x00" + line
    return out


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png(color_type, depth, samples, extra=b"", interlace=False):
    h, wc = samples.shape
    ch = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    w = wc // ch
    if interlace:
        img = samples.reshape(h, w, ch)
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = img[y0::dy, x0::dx]
            if sub.size:
                raw += pack_rows(sub.reshape(sub.shape[0], -1), depth)
    else:
        raw = pack_rows(samples, depth)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 1 if interlace else 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def rgba(rgb, alpha=None):
    a = np.full(rgb.shape[:2] + (1,), 255, np.uint8) if alpha is None else alpha[..., None].astype(np.uint8)
    return np.concatenate([rgb.astype(np.uint8), a], -1)


cases = {}
for depth in (1, 2, 4, 8):
    g = rng.integers(0, 1 << depth, (H, W))
    scaled = (g * (255 // ((1 << depth) - 1))).astype(np.uint8)
    cases[f"gray{depth}"] = (png(0, depth, g, b""), rgba(np.repeat(scaled[..., None], 3, -1)))
g16 = rng.integers(0, 65536, (H, W))
cases["gray16"] = (png(0, 16, g16), rgba(np.repeat((g16 >> 8)[..., None], 3, -1)))
ga = rng.integers(0, 256, (H, W, 2))
cases["gray_alpha8"] = (png(4, 8, ga.reshape(H, -1)), rgba(np.repeat(ga[..., :1], 3, -1), ga[..., 1]))
ga16 = rng.integers(0, 65536, (H, W, 2))
cases["gray_alpha16"] = (png(4, 16, ga16.reshape(H, -1)), rgba(np.repeat(ga16[..., :1] >> 8, 3, -1), ga16[..., 1] >> 8))
rgb = rng.integers(0, 256, (H, W, 3))
cases["rgb8"] = (png(2, 8, rgb.reshape(H, -1)), rgba(rgb))
cases["rgb8_interlaced"] = (png(2, 8, rgb.reshape(H, -1), interlace=True), rgba(rgb))
rgb16 = rng.integers(0, 65536, (H, W, 3))
cases["rgb16"] = (png(2, 16, rgb16.reshape(H, -1)), rgba(rgb16 >> 8))
rgba8 = rng.integers(0, 256, (H, W, 4))
cases["rgba8"] = (png(6, 8, rgba8.reshape(H, -1)), rgba8.astype(np.uint8))
rgba16 = rng.integers(0, 65536, (H, W, 4))
cases["rgba16"] = (png(6, 16, rgba16.reshape(H, -1)), (rgba16 >> 8).astype(np.uint8))
pal = rng.integers(0, 256, (16, 3))
trns = rng.integers(0, 256, 10)
idx = rng.integers(0, 16, (H, W))
plte = chunk(b"PLTE", bytes(pal.astype(np.uint8).flatten())) + chunk(b"tRNS", bytes(trns.astype(np.uint8)))
alpha = np.where(idx < 10, trns[np.minimum(idx, 9)], 255)
cases["palette8_trns"] = (png(3, 8, idx, plte), rgba(pal[idx], alpha))
cases["palette4"] = (png(3, 4, idx, chunk(b"PLTE", bytes(pal.astype(np.uint8).flatten()))), rgba(pal[idx]))
gk = rng.integers(0, 256, (H, W))
gk[0, :3] = 77
cases["gray8_trns_key"] = (png(0, 8, gk, chunk(b"tRNS", struct.pack(">H", 77))),
                           rgba(np.repeat(gk[..., None], 3, -1), np.where(gk == 77, 0, 255)))


def ztxt(key, text):
    return chunk(b"zTXt", key + b"\0\0" + zlib.compress(text, 9))


cases["ztxt_bomb"] = (png(2, 8, rgb.reshape(H, -1), ztxt(b"bomb", b"a" * (16 << 20)) + ztxt(b"note", b"kept")), rgba(rgb))

os.makedirs(OUT, exist_ok=True)
for name, (data, expected) in sorted(cases.items()):
    path = os.path.join(OUT, name + ".png")
    with open(path, "wb") as f:
        f.write(data)
    with open(os.path.join(OUT, name + ".rgba"), "wb") as f:
        f.write(expected.tobytes())
    # Pillow keeps 16-bit gray as I;16 (no 8-bit RGBA view to compare with) and refuses text chunks over 1 MB.
    if "16" not in name and "bomb" not in name:
        pil = np.asarray(Image.open(path).convert("RGBA"))
        assert (pil == expected).all(), f"{name}: Pillow decodes differently"
print(f"wrote {len(cases)} PNG fixtures to {os.path.relpath(OUT)}")
