"""Seed corpora of the libFuzzer targets (Tests/Fuzz/corpus/<target>/): small valid inputs each fuzzer mutates from.

- FuzzWeights: safetensors files — two tensors with metadata, every dtype, and tiny-a's header metadata (all the
  component configs and the tokenizer) with no tensors, so the config and consistency checks are reachable.
- FuzzPNG: the 13×7 pixel-format fixtures of Tests/ImageIOTests/Fixtures (every PNG color type and bit depth).
- FuzzTokenizer: prompts (ASCII, accents, CJK, emoji, whitespace runs, long words).
- FuzzRequests: a JSON generations body with every field, and edits/variations forms (boundary "B") with a small PNG.
- FuzzEdits: 4-byte length + picture PNG + mask PNG, with and without a mask.

    python3 scripts/make_fuzz_corpus.py          # numpy, Pillow
"""
import io
import json
import os
import shutil
import struct

import numpy as np
from PIL import Image

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "Tests", "Fuzz", "corpus")


def safetensors(tensors, metadata):
    header, blobs, offset = {}, [], 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def png(side_w, side_h, hole=False):
    a = np.zeros((side_h, side_w, 4), np.uint8)
    a[..., 0] = np.arange(side_w)[None, :] * 255 // max(side_w - 1, 1)
    a[..., 2] = 180
    a[..., 3] = 255
    if hole:
        a[side_h // 4: side_h // 2, side_w // 4: side_w // 2, 3] = 0
    buf = io.BytesIO()
    Image.fromarray(a, "RGBA").save(buf, "PNG")
    return buf.getvalue()


def form(fields, files):
    parts = [b"--B\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (k.encode(), v.encode()) for k, v in fields]
    parts += [b"--B\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"image\"\r\n"
              b"Content-Type: application/octet-stream\r\n\r\n" % k.encode() + v + b"\r\n" for k, v in files]
    return b"".join(parts) + b"--B--\r\n"


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    f32 = np.arange(6, dtype=np.float32).tobytes()
    write("FuzzWeights", "two-tensors", safetensors({"a.weight": ("F32", [2, 3], f32), "b": ("F16", [2], b"\x00\x3c\x00\x40")},
                                                   {"format_version": "1"}))
    write("FuzzWeights", "dtypes", safetensors({"x": ("BF16", [1], b"\x80\x3f"), "i": ("I64", [1], bytes(8)),
                                               "u": ("U8", [3], b"\x01\x02\x03"), "j": ("I32", [1], bytes(4))}, None))
    with open(os.path.join(ROOT, "Tests", "Fixtures", "models", "tiny-a", "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        meta = json.loads(f.read(n))["__metadata__"]
    # The configs without the tokenizer's 1.4 MB vocabulary, plus a three-merge tokenizer.
    meta = {k: v for k, v in meta.items() if k not in ("tokenizer.merges", "tokenizer.vocab")}
    meta["tokenizer.merges"] = "#version: 0.2\nr e\nc i\nci r\n"
    write("FuzzWeights", "tiny-a-configs", safetensors({}, meta))

    fixtures = os.path.join(ROOT, "Tests", "ImageIOTests", "Fixtures")
    for name in sorted(os.listdir(fixtures)):
        if name.endswith(".png") and "bomb" not in name:
            with open(os.path.join(fixtures, name), "rb") as f:
                write("FuzzPNG", name, f.read())

    for i, text in enumerate(["a red circle on a blue background", "Café déjà vu — naïve façade", "一只猫坐在垫子上",
                              "🐱🚀 emoji   and\ttabs\n\nnewlines", "supercalifragilisticexpialidocious " * 8, "  ", "'s 't 're 've 'm 'll 'd"]):
        write("FuzzTokenizer", f"prompt-{i}", text.encode())

    small, holed = png(16, 16), png(16, 16, hole=True)
    body = {"prompt": "a red circle", "n": 2, "size": "256x256", "response_format": "b64_json", "seed": 1, "stream": True,
            "partial_images": 1, "decoder_steps": 2, "prior_guidance_scale": 2.5, "decoder_scheduler": "ddim", "model": "dall-e-2"}
    write("FuzzRequests", "generation-json", b"\x00" + json.dumps(body).encode())
    write("FuzzRequests", "edit-form", b"\x01" + form([("prompt", "a red circle"), ("n", "1"), ("size", "256x256"), ("strength", "0.5")],
                                                     [("image", small), ("mask", holed)]))
    write("FuzzRequests", "edit-form-alpha", b"\x01" + form([("prompt", "x")], [("image[]", holed)]))
    write("FuzzRequests", "variation-form", b"\x02" + form([("n", "2"), ("response_format", "url")], [("image", small)]))

    write("FuzzEdits", "image-and-mask", struct.pack("<I", len(small)) + small + holed)
    write("FuzzEdits", "alpha-only", struct.pack("<I", len(holed)) + holed)
    write("FuzzEdits", "strength", struct.pack("<I", len(small) | 0x80000000) + small)
    for target in sorted(os.listdir(OUT)):
        print(target, len(os.listdir(os.path.join(OUT, target))), "seeds")


if __name__ == "__main__":
    main()
