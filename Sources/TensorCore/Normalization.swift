// LayerNorm and GroupNorm as torch.nn.LayerNorm / torch.nn.GroupNorm compute them (biased variance),
// with the diffusers ResnetBlock2D "scale_shift" modulation and SiLU fused into the normalising pass.

/// Mean and biased variance of `n` floats: SIMD16 partial sums per 1024-element block, combined in Double.
@inlinable
func meanVariance(_ p: UnsafePointer<Float>, _ n: Int) -> (mean: Float, variance: Float) {
    var total = 0.0
    var i = 0
    while i < n {
        let end = min(i + 1024, n)
        var acc = F32x16()
        var j = i
        while j + 16 <= end { acc += load16(p + j); j += 16 }
        var s = Double(acc.sum())
        while j < end { s += Double(p[j]); j += 1 }
        total += s
        i = end
    }
    let mean = total / Double(n)
    let mv = F32x16(repeating: Float(mean))
    var sq = 0.0
    i = 0
    while i < n {
        let end = min(i + 1024, n)
        var acc = F32x16()
        var j = i
        while j + 16 <= end { let d = load16(p + j) - mv; acc += d * d; j += 16 }
        var s = Double(acc.sum())
        while j < end { let d = Double(p[j]) - mean; s += d * d; j += 1 }
        sq += s
        i = end
    }
    return (Float(mean), Float(sq / Double(n)))
}

/// `dst[i] = act(src[i]·a + b)` for `n` floats.
@inlinable @inline(__always)
func affine(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, _ a: Float, _ b: Float,
            _ act: Activation?) {
    let av = F32x16(repeating: a), bv = F32x16(repeating: b)
    switch act {
    case nil: mapSIMD(src, dst, n) { $0 * av + bv }
    case .silu?: mapSIMD(src, dst, n) { Activation.silu.apply($0 * av + bv) }
    case .quickGELU?: mapSIMD(src, dst, n) { Activation.quickGELU.apply($0 * av + bv) }
    case .gelu?: mapSIMD(src, dst, n) { Activation.gelu.apply($0 * av + bv) }
    }
}

extension Ops {
    /// LayerNorm over the last dimension: `y = (x − mean)/sqrt(var + eps)·weight + bias`. `y` may be `x`.
    public static func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float, into y: Tensor) {
        let c = x.shape.last!, rows = x.count / c
        precondition(y.count == x.count, "layerNorm: \(x.shape) vs \(y.shape)")
        let w = weight?.data, b = bias?.data
        Threading.parallelRanges(rows, grain: max(1, 8192 / c)) { r in
            for row in r {
                let src = x.data + row * c, dst = y.data + row * c
                let (mean, variance) = meanVariance(src, c)
                let rstd = 1 / (variance + eps).squareRoot()
                let mv = F32x16(repeating: mean), rv = F32x16(repeating: rstd)
                var i = 0
                while i + 16 <= c {
                    var v = (load16(src + i) - mv) * rv
                    if let w { v = v * load16(w + i) }
                    if let b { v = v + load16(b + i) }
                    store16(v, dst + i)
                    i += 16
                }
                while i < c {
                    var v = (src[i] - mean) * rstd
                    if let w { v *= w[i] }
                    if let b { v += b[i] }
                    dst[i] = v
                    i += 1
                }
            }
        }
    }

    /// GroupNorm over NCHW (or `[N, C, …]`) with optional per-channel affine, then the optional
    /// diffusers scale-shift modulation `h·(1 + scale) + shift` (`scale`, `shift`: `[N, C]`), then an
    /// optional activation — all in one write pass. `y` may be `x`.
    public static func groupNorm(_ x: Tensor, groups: Int, eps: Float, weight: Tensor?, bias: Tensor?,
                                 scale: Tensor? = nil, shift: Tensor? = nil, activation: Activation? = nil,
                                 into y: Tensor) {
        let n = x.shape[0], c = x.shape[1]
        let spatial = x.count / (n * c)
        precondition(c % groups == 0, "groupNorm: \(c) channels not divisible by \(groups) groups")
        precondition(y.count == x.count, "groupNorm: \(x.shape) vs \(y.shape)")
        let cpg = c / groups
        Threading.parallelRanges(n * groups, grain: 1) { r in
            for ng in r {
                let b = ng / groups, g = ng % groups
                let base = (b * c + g * cpg) * spatial
                let (mean, variance) = meanVariance(x.data + base, cpg * spatial)
                let rstd = 1 / (variance + eps).squareRoot()
                for k in 0..<cpg {
                    let ch = g * cpg + k
                    var a = rstd * (weight?.data[ch] ?? 1)
                    var off = (bias?.data[ch] ?? 0) - mean * a
                    if let scale { let s = 1 + scale.data[b * c + ch]; a *= s; off *= s }
                    if let shift { off += shift.data[b * c + ch] }
                    let p = base + k * spatial
                    affine(x.data + p, y.data + p, spatial, a, off, activation)
                }
            }
        }
    }
}

extension Reference {
    /// LayerNorm in Double over rows of `cols`.
    public static func layerNorm(_ x: [Float], cols: Int, weight: [Float]?, bias: [Float]?, eps: Float) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for r in 0..<(x.count / cols) {
            let row = x[(r * cols)..<((r + 1) * cols)].map(Double.init)
            let mean = row.reduce(0, +) / Double(cols)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(cols)
            for i in 0..<cols {
                var v = (row[i] - mean) / (variance + Double(eps)).squareRoot()
                v = v * Double(weight?[i] ?? 1) + Double(bias?[i] ?? 0)
                out[r * cols + i] = Float(v)
            }
        }
        return out
    }

    /// GroupNorm in Double over `[N, C, spatial]`, then the scale-shift modulation and activation.
    public static func groupNorm(_ x: [Float], n: Int, c: Int, groups: Int, eps: Float, weight: [Float]?,
                                 bias: [Float]?, scale: [Float]? = nil, shift: [Float]? = nil,
                                 activation: Activation? = nil) -> [Float] {
        let spatial = x.count / (n * c), cpg = c / groups
        var out = [Float](repeating: 0, count: x.count)
        for b in 0..<n {
            for g in 0..<groups {
                let lo = (b * c + g * cpg) * spatial, hi = lo + cpg * spatial
                let vals = x[lo..<hi].map(Double.init)
                let mean = vals.reduce(0, +) / Double(vals.count)
                let variance = vals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(vals.count)
                for k in 0..<cpg {
                    let ch = g * cpg + k
                    for s in 0..<spatial {
                        let i = (b * c + ch) * spatial + s
                        var v = (Double(x[i]) - mean) / (variance + Double(eps)).squareRoot()
                        v = v * Double(weight?[ch] ?? 1) + Double(bias?[ch] ?? 0)
                        if let scale { v *= 1 + Double(scale[b * c + ch]) }
                        if let shift { v += Double(shift[b * c + ch]) }
                        var f = Float(v)
                        if let activation { f = activation.reference(f) }
                        out[i] = f
                    }
                }
            }
        }
        return out
    }
}
