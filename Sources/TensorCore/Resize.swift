// Bicubic resize matching torch.nn.functional.interpolate(mode="bicubic", align_corners=False), with and
// without antialias=True (aten/src/ATen/native/cpu/UpSampleKernel.cpp: separable AA, width pass then height).

/// One output position's taps along one axis.
struct ResizeTaps {
    var start: [Int]      // first input index per output position
    var weights: [Float]  // `taps` weights per output position (zero-padded)
    var taps: Int
    /// Clamped per-tap indices (non-AA bicubic clamps each tap to the border).
    var indices: [Int]?
}

@inline(__always) func cubic1(_ x: Float, _ a: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
@inline(__always) func cubic2(_ x: Float, _ a: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }

extension ResizeTaps {
    /// Keys cubic, a = −0.75, source `scale·(i + 0.5) − 0.5` unclamped, taps clamped to `[0, in)`.
    static func bicubic(inSize: Int, outSize: Int) -> ResizeTaps {
        let scale = Float(inSize) / Float(outSize), a: Float = -0.75
        var idx = [Int](), wts = [Float](), starts = [Int]()
        for i in 0..<outSize {
            let real = scale * (Float(i) + 0.5) - 0.5
            let x0 = Int(real.rounded(.down))
            let t = real - Float(x0)
            let ws = [cubic2(t + 1, a), cubic1(t, a), cubic1(1 - t, a), cubic2(2 - t, a)]
            for k in 0..<4 { idx.append(min(max(x0 - 1 + k, 0), inSize - 1)); wts.append(ws[k]) }
            starts.append(x0 - 1)
        }
        return ResizeTaps(start: starts, weights: wts, taps: 4, indices: idx)
    }

    /// PIL-style antialiased cubic (a = −0.5): support 2·max(scale, 1), weights normalised, taps dropped at borders.
    static func bicubicAA(inSize: Int, outSize: Int) -> ResizeTaps {
        let scale = Float(inSize) / Float(outSize)
        let support: Float = scale >= 1 ? 2 * scale : 2
        let invscale: Float = scale >= 1 ? 1 / scale : 1
        let taps = Int(support.rounded(.up)) * 2 + 1
        var wts = [Float](repeating: 0, count: outSize * taps), starts = [Int]()
        func filter(_ v: Float) -> Float {
            let x = abs(v)
            if x < 1 { return cubic1(x, -0.5) }
            if x < 2 { return cubic2(x, -0.5) }
            return 0
        }
        for i in 0..<outSize {
            let center = scale * (Float(i) + 0.5)
            let xmin = max(Int(center - support + 0.5), 0)
            let xsize = min(Int(center + support + 0.5), inSize) - xmin
            var total: Float = 0
            for j in 0..<xsize {
                let w = filter((Float(j + xmin) - center + 0.5) * invscale)
                wts[i * taps + j] = w; total += w
            }
            if total != 0 { for j in 0..<xsize { wts[i * taps + j] /= total } }
            starts.append(xmin)
        }
        return ResizeTaps(start: starts, weights: wts, taps: taps, indices: nil)
    }

    /// out[o] = Σ_j w[o, j] · in[index(o, j)] over one strided line.
    @inline(__always)
    func apply(_ src: UnsafePointer<Float>, srcStride: Int, inSize: Int, _ dst: UnsafeMutablePointer<Float>,
               dstStride: Int, outSize: Int) {
        for o in 0..<outSize {
            var acc: Float = 0
            if let indices {
                for j in 0..<taps { acc += weights[o * taps + j] * src[indices[o * taps + j] * srcStride] }
            } else {
                let s = start[o]
                for j in 0..<min(taps, inSize - s) { acc += weights[o * taps + j] * src[(s + j) * srcStride] }
            }
            dst[o * dstStride] = acc
        }
    }
}

extension Ops {
    /// Resizes NCHW `x` to `[N, C, outH, outW]` with bicubic interpolation (`align_corners=False`).
    /// - Parameter antialias: PyTorch's `antialias=True` (PIL-style kernel), as the unCLIP pipeline uses for 64→256.
    public static func resizeBicubic(_ x: Tensor, height outH: Int, width outW: Int, antialias: Bool) -> Tensor {
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        let tw = antialias ? ResizeTaps.bicubicAA(inSize: w, outSize: outW) : ResizeTaps.bicubic(inSize: w, outSize: outW)
        let th = antialias ? ResizeTaps.bicubicAA(inSize: h, outSize: outH) : ResizeTaps.bicubic(inSize: h, outSize: outH)
        let mid = Tensor(uninitialized: [n, c, h, outW])
        let y = Tensor(uninitialized: [n, c, outH, outW])
        Threading.parallelRanges(n * c) { r in
            for plane in r {
                let src = x.data + plane * h * w, m = mid.data + plane * h * outW, dst = y.data + plane * outH * outW
                for row in 0..<h { tw.apply(src + row * w, srcStride: 1, inSize: w, m + row * outW, dstStride: 1, outSize: outW) }
                for col in 0..<outW { th.apply(m + col, srcStride: outW, inSize: h, dst + col, dstStride: outW, outSize: outH) }
            }
        }
        return y
    }
}
