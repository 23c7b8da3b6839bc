#!/usr/bin/env bash
# Rebuilds weights/edit-sheet.png, the README's picture of edits on the built-in model: a generated source, the mask
# (its left half transparent), three edits of that half under another prompt, an image-to-image at strength 0.4, and an
# outpaint that extends the source by 128 px to the right. Needs Python with Pillow for the mask and the layout.
#   bash scripts/edit-sheet.sh [OUT.png]          (default weights/edit-sheet.png; about a minute on 2 cores)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$here/weights/edit-sheet.png}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
(cd "$here" && swift build -c release --product unclip-run >/dev/null)
run() { "$here/.build/release/unclip-run" "$@" --weights "$here/weights/unclip-builtin.safetensors" --quiet >/dev/null; }
run "a red circle on a blue background" --seed 3 --output "$work/source.png"
python3 - "$work" <<'PY'
import sys
from PIL import Image
w = sys.argv[1]
img = Image.open(f"{w}/source.png").convert("RGBA")
px = img.load()
for y in range(img.height):
    for x in range(img.width // 2):
        r, g, b, _ = px[x, y]
        px[x, y] = (r, g, b, 0)
img.save(f"{w}/masked.png")
PY
for seed in 1 2 3; do
  run edit --image "$work/masked.png" "a yellow square on a green background" --seed "$seed" --output "$work/edit-$seed.png"
done
run edit --image "$work/source.png" "a yellow square on a green background" --strength 0.4 --seed 1 --output "$work/img2img.png"
run outpaint --image "$work/source.png" --right 128 "a red circle on a blue background" --seed 1 --output "$work/outpaint.png"
python3 - "$work" "$out" <<'PY'
import sys
from PIL import Image, ImageDraw
w, out = sys.argv[1], sys.argv[2]
tiles = [("source", "source.png"), ("mask: left half transparent", "masked.png"), ("edit, seed 1", "edit-1.png"),
         ("edit, seed 2", "edit-2.png"), ("edit, seed 3", "edit-3.png"), ("image-to-image 0.4", "img2img.png")]
sheet = Image.new("RGB", (6 * 266 + 10, 2 * 286 + 10), "white")
draw = ImageDraw.Draw(sheet)
for i, (title, name) in enumerate(tiles):
    im = Image.open(f"{w}/{name}")
    if im.mode == "RGBA":  # show transparency as a checkerboard
        board = Image.new("RGBA", im.size, (200, 200, 200, 255))
        for y in range(0, im.height, 16):
            for x in range(0, im.width, 16):
                if (x // 16 + y // 16) % 2:
                    board.paste((150, 150, 150, 255), (x, y, x + 16, y + 16))
        im = Image.alpha_composite(board, im)
    sheet.paste(im.convert("RGB"), (10 + i * 266, 30))
    draw.text((10 + i * 266, 10), title, fill="black")
outp = Image.open(f"{w}/outpaint.png").convert("RGB")
sheet.paste(outp, (10, 316))
draw.text((10, 296), "outpaint: source + 128 px on the right", fill="black")
draw.text((10 + 384 + 20, 330), 'edits: "a yellow square on a green background" (built-in model)', fill="black")
draw.text((10 + 384 + 20, 350), 'outpaint: "a red circle on a blue background"', fill="black")
sheet.save(out)
print(out)
PY
