// UNet resampling and joins as in diffusers' Downsample2D/Upsample2D (use_conv=False) and torch.cat.

extension Ops {
    /// 2×2 average pooling, stride 2 (`nn.AvgPool2d(2, 2)`): `[N, C, H, W]` → `[N, C, H/2, W/2]`.
    public static func avgPool2x2(_ x: Tensor, into y: Tensor) {
        let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3], ho = h / 2, wo = w / 2
        precondition(y.shape == [x.shape[0], x.shape[1], ho, wo], "avgPool2x2: output \(y.shape)")
        Threading.parallelRanges(planes, grain: 4) { r in
            for p in r {
                let s = x.data + p * h * w, d = y.data + p * ho * wo
                for oy in 0..<ho {
                    let r0 = s + 2 * oy * w, r1 = r0 + w
                    for ox in 0..<wo {
                        d[oy * wo + ox] = (r0[2 * ox] + r0[2 * ox + 1] + r1[2 * ox] + r1[2 * ox + 1]) * 0.25
                    }
                }
            }
        }
    }

    /// Nearest-neighbour 2× upsampling (`F.interpolate(scale_factor=2, mode="nearest")`).
    public static func upsampleNearest2x(_ x: Tensor, into y: Tensor) {
        let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3]
        precondition(y.shape == [x.shape[0], x.shape[1], 2 * h, 2 * w], "upsampleNearest2x: output \(y.shape)")
        Threading.parallelRanges(planes, grain: 4) { r in
            for p in r {
                let s = x.data + p * h * w, d = y.data + p * 4 * h * w
                for iy in 0..<h {
                    let row = d + 2 * iy * 2 * w
                    for ix in 0..<w { let v = s[iy * w + ix]; row[2 * ix] = v; row[2 * ix + 1] = v }
                    (row + 2 * w).update(from: row, count: 2 * w)
                }
            }
        }
    }

    /// Concatenates along dimension 1: `[N, A, …]` and `[N, B, …]` → `[N, A+B, …]` (channels for NCHW,
    /// tokens for `[B, T, C]`).
    public static func concat(_ a: Tensor, _ b: Tensor, into y: Tensor) {
        let n = a.shape[0], ia = a.count / n, ib = b.count / n
        precondition(b.shape[0] == n && y.count == a.count + b.count && Array(a.shape.dropFirst(2)) == Array(b.shape.dropFirst(2)),
                     "concat: \(a.shape) + \(b.shape) → \(y.shape)")
        for i in 0..<n {
            (y.data + i * (ia + ib)).update(from: a.data + i * ia, count: ia)
            (y.data + i * (ia + ib) + ia).update(from: b.data + i * ib, count: ib)
        }
    }

    /// Allocating concatenation along dimension 1.
    public static func concat(_ a: Tensor, _ b: Tensor) -> Tensor {
        var shape = a.shape
        shape[1] += b.shape[1]
        let y = Tensor(uninitialized: shape)
        concat(a, b, into: y)
        return y
    }

    /// `y = a + b` elementwise (same shapes); `y` may alias either input.
    public static func add(_ a: Tensor, _ b: Tensor, into y: Tensor) {
        precondition(a.count == b.count && a.count == y.count, "add: \(a.shape) + \(b.shape) → \(y.shape)")
        Threading.parallelRanges(a.count / 16 + 1, grain: 4096) { r in
            let lo = r.lowerBound * 16, hi = min(r.upperBound * 16, a.count)
            var i = lo
            while i + 16 <= hi { store16(load16(a.data + i) + load16(b.data + i), y.data + i); i += 16 }
            while i < hi { y.data[i] = a.data[i] + b.data[i]; i += 1 }
        }
    }
}
