"""PyTorch (fp32, CPU) timings of the kernels in `unclip-run bench ops`, on the same shapes.

Mirrors Sources/UnclipCLI/Bench.swift (OpsBenchmark): torch.mm 2048³, F.conv2d 3×3 at the UNet shapes,
GroupNorm+SiLU over 2×320×64×64, and scaled_dot_product_attention 1024q × 1105k × 10 heads × 64.
Best time of repeated calls after a warm-up. Prints JSON rows like `unclip-run bench ops --json`.

    .venv-ref/bin/python scripts/bench_ops_reference.py --threads 2 [--seconds 1.5]
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F


def best_time(fn, min_seconds):
    fn()
    best, total, calls = float("inf"), 0.0, 0
    while calls < 3 or total < min_seconds:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, total, calls = min(best, dt), total + dt, calls + 1
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=1.5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rows = []
    with torch.inference_mode():
        n = 2048
        x, y = torch.randn(n, n), torch.randn(n, n)
        t = best_time(lambda: torch.mm(x, y), a.seconds)
        rows.append({"name": f"sgemm {n}³", "ms": t * 1e3, "rate": 2 * n**3 / t / 1e9, "unit": "GFLOP/s"})
        for cin, cout, hw, batch in [(320, 320, 64, 2), (640, 640, 32, 2), (320, 320, 256, 1)]:
            x, w, b = torch.randn(batch, cin, hw, hw), torch.randn(cout, cin, 3, 3) * 0.02, torch.randn(cout)
            t = best_time(lambda: F.conv2d(x, w, b, padding=1), a.seconds)
            rows.append({"name": f"conv2d 3×3 {cin}→{cout} @{hw}×{hw} batch {batch}", "ms": t * 1e3,
                         "rate": 2 * cin * cout * 9 * hw * hw * batch / t / 1e9, "unit": "GFLOP/s"})
        x, g, b = torch.randn(2, 320, 64, 64), torch.randn(320), torch.randn(320)
        t = best_time(lambda: F.silu(F.group_norm(x, 32, g, b, 1e-5)), a.seconds)
        rows.append({"name": "groupnorm(32)+silu 2×320×64×64 (read+write)", "ms": t * 1e3,
                     "rate": 2 * x.numel() * 4 / t / 1e9, "unit": "GB/s"})
        h, d, tq, tk = 10, 64, 1024, 1105
        q, k, v = torch.randn(1, h, tq, d), torch.randn(1, h, tk, d), torch.randn(1, h, tk, d)
        m = torch.zeros(1, 1, 1, tk)
        t = best_time(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=m), a.seconds)
        rows.append({"name": f"attention {tq}q × {tk}k × {h} heads × {d}", "ms": t * 1e3,
                     "rate": 4 * tq * tk * h * d / t / 1e9, "unit": "GFLOP/s"})
    print(json.dumps({"threads": a.threads, "torch": torch.__version__, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
