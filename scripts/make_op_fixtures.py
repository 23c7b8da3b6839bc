"""Golden values for the tensor-core op tests, produced by PyTorch (fp32, CPU).

Mirrors the ops of Sources/TensorCore against torch / torch.nn.functional / diffusers'
get_timestep_embedding. Writes Tests/TensorCoreTests/Fixtures/ops.safetensors: for each case
`<case>.<name>` tensors (inputs and the expected output `<case>.out`) plus `__metadata__` entries
`<case>` = JSON of the scalar parameters. Deterministic: rerunning reproduces the file byte for byte.

    .venv-ref/bin/python scripts/make_op_fixtures.py
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
torch.set_num_threads(1)
T = {}
META = {}


def save_sorted(tensors, path, metadata):
    """safetensors layout with sorted JSON keys (the library orders metadata by hash: not reproducible)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = metadata
    js = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(len(js).to_bytes(8, "little") + js + b"".join(blobs))
    os.replace(path + ".tmp", path)


def rnd(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).float()


def case(name, params=None, **tensors):
    for k, v in tensors.items():
        T[f"{name}.{k}"] = v.detach().float().clone().contiguous()
    META[name] = json.dumps(params or {}, sort_keys=True)


# GEMM / Linear (weights in PyTorch [out, in] layout)
x, w, b = rnd(3, 5, 48), rnd(40, 48, scale=0.2), rnd(40)
case("linear", {}, x=x, weight=w, bias=b, out=F.linear(x, w, b))
x, w = rnd(70, 33), rnd(65, 33, scale=0.2)
case("linear_nobias", {}, x=x, weight=w, out=F.linear(x, w))

# Conv2d: 3×3 pad 1 (small plane and a plane ≥ 1024 px for the chunked path), 1×1, and CLIP's 14×14 stride 14
for name, xs, ws, stride, pad, bias in [
    ("conv3x3", (2, 8, 9, 7), (12, 8, 3, 3), 1, 1, True),
    ("conv3x3_large", (2, 4, 40, 36), (6, 4, 3, 3), 1, 1, True),
    ("conv1x1", (2, 16, 5, 6), (8, 16, 1, 1), 1, 0, True),
    ("conv_patch14", (1, 3, 28, 42), (8, 3, 14, 14), 14, 0, False),
]:
    x, w = rnd(*xs), rnd(*ws, scale=0.2)
    bb = rnd(ws[0]) if bias else None
    t = dict(x=x, weight=w, out=F.conv2d(x, w, bb, stride=stride, padding=pad))
    if bias:
        t["bias"] = bb
    case(name, {"kernel": ws[2], "stride": stride, "padding": pad}, **t)

# GroupNorm (affine), and diffusers ResnetBlock2D scale_shift: norm → ·(1+scale)+shift → SiLU
x, g, b = rnd(2, 12, 5, 6) * 3 + 1, rnd(12) * 0.5 + 1, rnd(12)
case("groupnorm", {"groups": 4, "eps": 1e-5}, x=x, weight=g, bias=b, out=F.group_norm(x, 4, g, b, 1e-5))
scale, shift = rnd(2, 12, scale=0.3), rnd(2, 12, scale=0.3)
h = F.group_norm(x, 4, g, b, 1e-5) * (1 + scale[:, :, None, None]) + shift[:, :, None, None]
case("groupnorm_scaleshift_silu", {"groups": 4, "eps": 1e-5}, x=x, weight=g, bias=b, scale=scale, shift=shift, out=F.silu(h))
x = rnd(2, 64, 4, 4) * 2
case("groupnorm_silu", {"groups": 32, "eps": 1e-6}, x=x, weight=torch.ones(64), bias=torch.zeros(64),
     out=F.silu(F.group_norm(x, 32, None, None, 1e-6)))

# LayerNorm
x, g, b = rnd(3, 7, 40) * 2 + 0.5, rnd(40) * 0.5 + 1, rnd(40)
case("layernorm", {"eps": 1e-5}, x=x, weight=g, bias=b, out=F.layer_norm(x, (40,), g, b, 1e-5))

# Activations over a wide range (CLIP QuickGELU, prior exact GELU, UNet SiLU), and softmax
x = torch.linspace(-12, 12, 1001)
case("silu", {}, x=x, out=F.silu(x))
case("quick_gelu", {}, x=x, out=x * torch.sigmoid(1.702 * x))
case("gelu", {}, x=x, out=F.gelu(x))
x = rnd(5, 37) * 4
case("softmax", {}, x=x, out=torch.softmax(x, -1))


def sdpa(q, k, v, heads, mask=None, causal=False):
    B, Tq, C = q.shape
    Tk, D = k.shape[1], C // heads
    qh, kh, vh = (t.view(B, -1, heads, D).transpose(1, 2) for t in (q, k, v))
    o = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=mask, is_causal=causal)
    return o.transpose(1, 2).reshape(B, Tq, C)


# Attention: per-key mask (decoder: -10000 on padded text keys), per-query mask (prior), causal (CLIP)
q, k, v = rnd(2, 9, 32), rnd(2, 13, 32), rnd(2, 13, 32)
mask = torch.zeros(2, 13)
mask[0, 10:] = -10000.0
mask[1, 5:8] = -10000.0
case("attention_perkey", {"heads": 4}, q=q, k=k, v=v, mask=mask, out=sdpa(q, k, v, 4, mask[:, None, None, :]))
mq = rnd(2, 9, 13)
case("attention_perquery", {"heads": 4}, q=q, k=k, v=v, mask=mq, out=sdpa(q, k, v, 4, mq[:, None, :, :]))
q, k, v = rnd(2, 11, 48), rnd(2, 11, 48), rnd(2, 11, 48)
case("attention_causal", {"heads": 3}, q=q, k=k, v=v, out=sdpa(q, k, v, 3, causal=True))

# Resampling and joins
x = rnd(2, 3, 8, 6)
case("avgpool2x2", {}, x=x, out=F.avg_pool2d(x, 2))
case("upsample_nearest2x", {}, x=x, out=F.interpolate(x, scale_factor=2.0, mode="nearest"))
a, b = rnd(2, 3, 4, 4), rnd(2, 5, 4, 4)
case("concat", {}, a=a, b=b, out=torch.cat([a, b], 1))

# Bicubic resize (align_corners=False), with and without antialias: the pipeline's 64→256 and odd shapes
x64 = rnd(1, 3, 64, 64).clamp(-1, 1)
for name, x, size in [("up64to256", x64, (256, 256)), ("up_odd", rnd(1, 2, 17, 23), (40, 31)),
                      ("down_odd", rnd(1, 2, 37, 53), (16, 20)), ("mixed", rnd(1, 1, 30, 12), (12, 30))]:
    for aa in (False, True):
        out = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=aa)
        case(f"bicubic{'_aa' if aa else ''}_{name}", {"height": size[0], "width": size[1]}, x=x, out=out)

# Timestep embeddings (diffusers get_timestep_embedding)
from diffusers.models.embeddings import get_timestep_embedding  # noqa: E402

t = torch.tensor([0, 1, 42, 166, 500, 832, 999])
for name, dim, flip, shift in [("temb320", 320, True, 0.0), ("temb2048", 2048, True, 0.0), ("temb_odd", 33, False, 1.0)]:
    e = get_timestep_embedding(t, dim, flip_sin_to_cos=flip, downscale_freq_shift=shift)
    case(name, {"dim": dim, "flip_sin_to_cos": flip, "downscale_freq_shift": shift}, t=t.float(), out=e)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "TensorCoreTests", "Fixtures", "ops.safetensors")
META["generator"] = "scripts/make_op_fixtures.py"
META["torch"] = torch.__version__
save_sorted(T, out, META)
print(f"wrote {len(T)} tensors ({os.path.getsize(out)} bytes) to {os.path.relpath(out)}", file=sys.stderr)
