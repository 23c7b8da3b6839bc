// 2-D convolution as torch.nn.functional.conv2d (NCHW, groups = 1): chunked im2col + OpenBLAS sgemm (fp32) or the
// bf16 kernels (im2col columns packed to bf16 pairs per chunk); wide 3×3 convolutions on large planes go to
// Winograd in either precision (Winograd.swift).
// Weights stay in PyTorch [Cout, Cin, kh, kw] layout, which is already the row-major GEMM A matrix.
import BF16Kernels
import Foundation

/// Geometry of a convolution.
public struct ConvGeometry: Sendable, Equatable {
    public var kernel: Int, stride: Int, padding: Int
    public init(kernel: Int, stride: Int = 1, padding: Int) {
        self.kernel = kernel; self.stride = stride; self.padding = padding
    }
    public func outSize(_ inSize: Int) -> Int { (inSize + 2 * padding - kernel) / stride + 1 }
}

extension Ops {
    /// Fewest GEMM columns per chunk: narrower GEMMs repack the weights too often for what they compute.
    public static let convMinChunkColumns = 256

    /// Output rows per chunk: ≈ `chunkFloats` (``ComputeContext/convChunkFloats``) of im2col, ≥ `convMinChunkColumns` columns, and a chunk
    /// count that divides evenly over the threads when there are only a few chunks.
    static func convRowsPerChunk(n: Int, ho: Int, wo: Int, kdim: Int, threads: Int, chunkFloats: Int) -> Int {
        let cols = max(convMinChunkColumns, chunkFloats / max(kdim, 1))
        var rows = max(1, min(ho, cols / max(wo, 1)))
        var perImage = (ho + rows - 1) / rows
        if (n * perImage) % threads != 0 && n * perImage < 8 * threads {
            while perImage < ho && (n * perImage) % threads != 0 { perImage += 1 }
            rows = (ho + perImage - 1) / perImage
        }
        return rows
    }

    /// `y = conv2d(x, weight, bias)`; x `[N, Cin, H, W]`, weight `[Cout, Cin, k, k]`, y `[N, Cout, Ho, Wo]`.
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, geometry g: ConvGeometry, into y: Tensor) {
        let cout = weight.shape[0], cin = x.shape[1]
        precondition(weight.shape == [cout, cin, g.kernel, g.kernel], "conv2d: weight \(weight.shape) vs input \(x.shape)")
        conv2d(x, weights: .fp32(weight), bias: bias, geometry: g, into: y)
    }

    /// The same with the weight `[Cout, Cin·k·k]` packed as the bf16 left operand (``PackedBF16/aWidth`` panels):
    /// the im2col columns are rounded to bf16 on the fly, sums are fp32.
    public static func conv2d(_ x: Tensor, packed weight: PackedBF16, bias: Tensor?, geometry g: ConvGeometry, into y: Tensor) {
        precondition(weight.k == x.shape[1] * g.kernel * g.kernel, "conv2d: packed weight K \(weight.k) vs input \(x.shape)")
        conv2d(x, weights: .bf16(weight), bias: bias, geometry: g, into: y)
    }

    /// The weights of a convolution in either precision: PyTorch's `[Cout, Cin, k, k]` fp32 tensor, or its
    /// `[Cout, Cin·k·k]` matrix packed as the bf16 left operand.
    public enum ConvWeights {
        case fp32(Tensor), bf16(PackedBF16)

        /// Output channels (Cout).
        public var outputs: Int {
            switch self {
            case .fp32(let w): return w.shape[0]
            case .bf16(let p): return p.rows
            }
        }

        /// Whether these are packed bf16 weights.
        public var isBF16: Bool { if case .bf16 = self { return true } else { return false } }
    }

    /// `y = conv2d(x, weights, bias)` in the weights' precision (see the two entry points above).
    public static func conv2d(_ x: Tensor, weights: ConvWeights, bias: Tensor?, geometry g: ConvGeometry, into y: Tensor) {
        let cout = weights.outputs, n = x.shape[0], cin = x.shape[1], h = x.shape[2], w = x.shape[3]
        let ho = g.outSize(h), wo = g.outSize(w)
        precondition(y.shape == [n, cout, ho, wo], "conv2d: output \(y.shape), expected \([n, cout, ho, wo])")
        let tile = winogradTile(cin: cin, cout: cout, h: h, w: w, geometry: g, context: ComputeContext.current,
                                bf16: weights.isBF16)
        if tile != 0 { return conv2dWinograd(x, weights: weights, bias: bias, tile: tile, into: y) }
        let kdim = cin * g.kernel * g.kernel, plane = ho * wo
        let pointwise = g.kernel == 1 && g.stride == 1 && g.padding == 0

        // fp32 1×1, stride 1: a plain GEMM per image, no im2col.
        if pointwise, case .fp32(let weight) = weights {
            for b in 0..<n {
                let out = y.data + b * cout * plane
                fillBias(out, bias, rows: cout, cols: plane, ld: plane)
                GEMM.parallel(m: cout, n: plane, k: cin, a: weight.data, lda: cin, b: x.data + b * cin * h * w,
                              ldb: plane, beta: bias == nil ? 0 : 1, c: out, ldc: plane)
            }
            return
        }
        /// `out[cout][cols] (ld ldc) (+)= W · col[kdim][cols] (ld ldcol)`, on one thread (`p`) or split (`p` nil).
        func gemm(_ scratch: Scratch, thread p: Int?, col: UnsafePointer<Float>, ldcol: Int, cols: Int,
                  out: UnsafeMutablePointer<Float>, ldc: Int) {
            switch weights {
            case .fp32(let weight):
                if p != nil {
                    GEMM.sgemm(m: cout, n: cols, k: kdim, a: weight.data, lda: kdim, b: col, ldb: ldcol,
                               beta: bias == nil ? 0 : 1, c: out, ldc: ldc)
                } else {
                    GEMM.parallel(m: cout, n: cols, k: kdim, a: weight.data, lda: kdim, b: col, ldb: ldcol,
                                  beta: bias == nil ? 0 : 1, c: out, ldc: ldc)
                }
            case .bf16(let packed):
                let words = unclip_bf16_panels_size(Int32(cols), Int32(kdim), Int32(PackedBF16.bWidth))
                let bcol = packScratch(scratch, thread: p ?? 0, slot: 3, words: words)
                unclip_bf16_pack_cols(col, ldcol, Int32(kdim), Int32(cols), bcol)
                GEMM.bf16(m: cout, n: cols, k: kdim, a: packed.data, b: bcol, c: out, ldc: ldc,
                          accumulate: bias != nil, parallel: p == nil)
            }
        }
        let context = ComputeContext.current, threads = context.threads
        context.scratch.withLock { scratch in
            if plane >= 1024 || n * plane >= threads * 2048 {
                // Large planes: each thread runs its own (image, row-block) chunks: im2col → GEMM straight into y
                // (a bf16 1×1 convolution packs its input rows directly, without im2col).
                let rowsPerChunk = convRowsPerChunk(n: n, ho: ho, wo: wo, kdim: kdim, threads: threads,
                                                    chunkFloats: context.convChunkFloats)
                let chunksPerImage = (ho + rowsPerChunk - 1) / rowsPerChunk
                let total = n * chunksPerImage
                let parts = min(threads, total)
                Threading.forEach(parts) { p in
                    let col = pointwise ? nil : scratch.buffer(thread: p, slot: 0, count: kdim * rowsPerChunk * wo)
                    var chunk = p
                    while chunk < total {
                        let b = chunk / chunksPerImage, r0 = (chunk % chunksPerImage) * rowsPerChunk
                        let r1 = min(ho, r0 + rowsPerChunk), cols = (r1 - r0) * wo
                        let out = y.data + b * cout * plane + r0 * wo
                        fillBias(out, bias, rows: cout, cols: cols, ld: plane)
                        if let col {
                            im2col(x.data + b * cin * h * w, cin: cin, h: h, w: w, g: g, wo: wo, rows: r0..<r1, into: col)
                            gemm(scratch, thread: p, col: col, ldcol: cols, cols: cols, out: out, ldc: plane)
                        } else {
                            gemm(scratch, thread: p, col: x.data + b * cin * plane + r0 * wo, ldcol: plane, cols: cols,
                                 out: out, ldc: plane)
                        }
                        chunk += parts
                    }
                }
            } else {
                // Small planes: one im2col over the whole batch, one GEMM split across threads, then scatter.
                let cols = n * plane
                let col = scratch.buffer(thread: 0, slot: 0, count: kdim * cols)
                let tmp = scratch.buffer(thread: 0, slot: 1, count: cout * cols)
                Threading.parallelRanges(n) { r in
                    for b in r {
                        im2col(x.data + b * cin * h * w, cin: cin, h: h, w: w, g: g, wo: wo, rows: 0..<ho,
                               into: col + b * plane, ld: cols)
                    }
                }
                fillBias(tmp, bias, rows: cout, cols: cols, ld: cols)
                gemm(scratch, thread: nil, col: col, ldcol: cols, cols: cols, out: tmp, ldc: cols)
                for b in 0..<n {
                    for co in 0..<cout {
                        (y.data + (b * cout + co) * plane).update(from: tmp + co * cols + b * plane, count: plane)
                    }
                }
            }
        }
    }

    /// Allocating form of `conv2d(_:weight:bias:geometry:into:)`.
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, geometry g: ConvGeometry) -> Tensor {
        let y = Tensor(uninitialized: [x.shape[0], weight.shape[0], g.outSize(x.shape[2]), g.outSize(x.shape[3])])
        conv2d(x, weight: weight, bias: bias, geometry: g, into: y)
        return y
    }

    /// Rows `[cout, cols]` (leading dimension `ld`) set to the bias, if any.
    @inline(__always)
    static func fillBias(_ out: UnsafeMutablePointer<Float>, _ bias: Tensor?, rows: Int, cols: Int, ld: Int) {
        guard let bias else { return }
        for r in 0..<rows { (out + r * ld).update(repeating: bias.data[r], count: cols) }
    }

    /// Lowers output rows `rows` of one image to a `[cin·k·k, rows·wo]` matrix (leading dimension `ld`).
    @inline(__always)
    static func im2col(_ x: UnsafePointer<Float>, cin: Int, h: Int, w: Int, g: ConvGeometry, wo: Int,
                       rows: Range<Int>, into col: UnsafeMutablePointer<Float>, ld: Int? = nil) {
        let k = g.kernel, s = g.stride, pad = g.padding
        let ld = ld ?? rows.count * wo
        for c in 0..<cin {
            let src = x + c * h * w
            for kh in 0..<k {
                for kw in 0..<k {
                    var dst = col + ((c * k + kh) * k + kw) * ld
                    for oy in rows {
                        let iy = oy * s + kh - pad
                        if iy < 0 || iy >= h {
                            dst.update(repeating: 0, count: wo)
                        } else if s == 1 {
                            // ox ∈ [0, wo): ix = ox + kw − pad; copy the valid span, zero the borders.
                            let lo = max(0, pad - kw), hi = min(wo, w + pad - kw)
                            if lo > 0 { dst.update(repeating: 0, count: lo) }
                            if hi > lo { (dst + lo).update(from: src + iy * w + lo + kw - pad, count: hi - lo) }
                            if hi < wo { (dst + max(hi, lo)).update(repeating: 0, count: wo - max(hi, lo)) }
                        } else {
                            let row = src + iy * w
                            for ox in 0..<wo {
                                let ix = ox * s + kw - pad
                                dst[ox] = (ix >= 0 && ix < w) ? row[ix] : 0
                            }
                        }
                        dst += wo
                    }
                }
            }
        }
    }
}

extension Reference {
    /// Direct convolution with Double accumulation.
    public static func conv2d(_ x: [Float], n: Int, cin: Int, h: Int, w: Int, weight: [Float], cout: Int,
                              bias: [Float]?, geometry g: ConvGeometry) -> [Float] {
        let ho = g.outSize(h), wo = g.outSize(w), k = g.kernel
        var out = [Float](repeating: 0, count: n * cout * ho * wo)
        for b in 0..<n { for co in 0..<cout { for oy in 0..<ho { for ox in 0..<wo {
            var acc = Double(bias?[co] ?? 0)
            for ci in 0..<cin { for kh in 0..<k { for kw in 0..<k {
                let iy = oy * g.stride + kh - g.padding, ix = ox * g.stride + kw - g.padding
                if iy >= 0 && iy < h && ix >= 0 && ix < w {
                    acc += Double(x[((b * cin + ci) * h + iy) * w + ix]) * Double(weight[((co * cin + ci) * k + kh) * k + kw])
                }
            } } }
            out[((b * cout + co) * ho + oy) * wo + ox] = Float(acc)
        } } } }
        return out
    }
}
