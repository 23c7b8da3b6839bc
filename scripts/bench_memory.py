"""Peak memory of `unclip-run serve` under the largest requests the API accepts (issue #18: nothing a request can ask
for makes the process grow beyond a documented bound).

Starts the server on the built-in weights with --max-concurrent 1, reads its RSS and peak RSS (VmHWM, /proc) at start,
then after each of the worst cases the bounds allow, largest last:
  - generation, n=10, 1024x1024, b64_json (ten pictures resized and base64-encoded in one response);
  - variation of a 4096x4096 PNG under 4 MB (the pixel bound, decoded), n=10, 1024x1024;
  - edit of a 4096x4096 RGBA PNG with a 4096x4096 mask (each under 4 MB), n=10, 1024x1024;
  - the same edit sent by 3 clients at once with --max-queue 8 (one computes, two wait holding their bodies).
Prints a table; --json writes it. Steps are cut to 2 per stage (memory does not depend on the step count).

    python3 scripts/bench_memory.py --json /tmp/bench-memory.json
"""
import argparse
import io
import json
import os
import subprocess
import threading

import numpy as np
import openai
from PIL import Image

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
STEPS = {"prior_steps": 2, "decoder_steps": 2, "super_res_steps": 2}


def memory(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out["VmRSS"], out["VmHWM"]


def png(array, mode):
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, "PNG", optimize=True)
    data = buf.getvalue()
    assert len(data) < 4 << 20, len(data)
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "unclip-run"))
    ap.add_argument("--weights", default=os.path.join(ROOT, "weights", "unclip-builtin.safetensors"))
    ap.add_argument("--json")
    args = ap.parse_args()
    side = 4096
    rng = np.random.default_rng(0)
    picture = np.zeros((side, side, 4), np.uint8)                 # smooth, so 4096² fits under 4 MB as PNG
    picture[..., 0] = np.linspace(0, 255, side, dtype=np.uint8)[None, :]
    picture[..., 1] = np.linspace(0, 255, side, dtype=np.uint8)[:, None]
    picture[..., 2] = 128
    picture[..., 3] = 255
    picture[1024:3072, 1024:3072, 3] = 0                           # the hole to edit
    picture[::64, ::64, :3] = rng.integers(0, 255, (side // 64, side // 64, 3), dtype=np.uint8)
    image_png = png(picture, "RGBA")
    mask = np.full((side, side, 4), 255, np.uint8)
    mask[1024:3072, 1024:3072, 3] = 0
    mask_png = png(mask, "RGBA")
    opaque_png = png(np.ascontiguousarray(picture[..., :3]), "RGB")

    proc = subprocess.Popen([args.binary, "serve", "--port", "0", "--weights", args.weights, "--max-concurrent", "1",
                             "--log-level", "warning"], stdout=subprocess.PIPE, text=True)
    base = proc.stdout.readline().split("listening on ")[1].split()[0]
    client = openai.OpenAI(base_url=base, api_key="bench", max_retries=0, timeout=1200)
    rows = [("start", *memory(proc.pid))]
    try:
        client.images.generate(prompt="a red circle", n=10, size="1024x1024", response_format="b64_json", extra_body=STEPS)
        rows.append(("generation n=10 1024² b64_json", *memory(proc.pid)))
        client.images.create_variation(image=("v.png", opaque_png), n=10, size="1024x1024", response_format="b64_json",
                                       extra_body={k: v for k, v in STEPS.items() if k != "prior_steps"})   # no prior
        rows.append((f"variation of {side}² ({len(opaque_png) >> 10} KiB) n=10 1024²", *memory(proc.pid)))
        client.images.edit(image=("i.png", image_png), mask=("m.png", mask_png), prompt="a red circle", n=10,
                           size="1024x1024", response_format="b64_json", extra_body=STEPS)
        rows.append((f"edit of {side}² + mask ({(len(image_png) + len(mask_png)) >> 10} KiB) n=10 1024²", *memory(proc.pid)))
        errors = []

        def edit():
            try:
                client.images.edit(image=("i.png", image_png), mask=("m.png", mask_png), prompt="a red circle", n=10,
                                   size="1024x1024", response_format="b64_json", extra_body=STEPS)
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=edit) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        rows.append(("3 such edits at once (1 computing, 2 queued)", *memory(proc.pid)))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(f"{'after':58s} {'RSS MiB':>8s} {'peak MiB':>9s}")
    for name, rss, hwm in rows:
        print(f"{name:58s} {rss:8.0f} {hwm:9.0f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"after": n, "rss_mib": r, "peak_mib": h} for n, r, h in rows], f, indent=1)


if __name__ == "__main__":
    main()
