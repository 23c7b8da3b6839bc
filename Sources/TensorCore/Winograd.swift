// Winograd F(4×4,3×3) / F(2×2,3×3) convolution (Lavin & Gray 2016, as NNPACK and oneDNN's avx512 Winograd): for
// 3×3 stride-1 padding-1 convolutions on large planes and wide layers, where it replaces 2.25× (F(2)) or 4×
// (F(4)) of the multiplies of im2col + GEMM. The transforms are C (ConvKernels); the α² GEMMs per tile chunk are
// OpenBLAS sgemm (fp32) or the bf16 vdpbf16ps kernel (bf16 layers, F(2×2) only).
import BF16Kernels
import ConvKernels
import Foundation

extension Ops {
    /// Smallest output plane (h·w) that takes the Winograd path: below it the tile chunks get too narrow for
    /// efficient GEMMs and the per-call weight transform stops being negligible (384 channels at 32², batch 2:
    /// F(2) 1.5× faster than im2col, `bench ops`).
    public static let winogradMinPlane = 32 * 32

    /// Fewest channels (the smaller of Cin and Cout) for F(2×2): with fewer, the GEMMs are too thin (K = Cin) for
    /// the transforms to pay (64 channels: about even with im2col; 128: 1.4× faster, `bench ops`).
    public static let winogradMinChannels = 96

    /// Fewest channels for F(2×2) in bf16: the bf16 GEMM is ~1.8× faster than sgemm, so the transforms weigh more
    /// (`bench ops`: 96 channels at 32², batch 2, even with bf16 im2col, which is more accurate; 128 at 64²: 1.16×).
    public static let winogradBF16MinChannels = 128

    /// Fewest channels for F(4×4): its 36 transform terms per tile only pay off against wide GEMMs (`bench ops`:
    /// 128 channels, F(2) faster; 192, about even, so F(2) for its accuracy; 320 @256², F(4) 1.17× F(2) and 2.0×
    /// im2col; 640 @128², 1.23× and 2.5×).
    public static let winograd4MinChannels = 256

    /// Smallest plane (h·w) for F(4×4): on 32² its chunks hold too few tiles to beat F(2) (384 channels at 32², batch 2:
    /// F(2) 1.6× im2col, F(4) 1.5×).
    public static let winograd4MinPlane = 64 * 64

    /// The Winograd output tile for this convolution in `context`: 0 (im2col + GEMM), 2 or 4 (at most
    /// ``ComputeContext/winograd``). A bf16 layer (`bf16`) takes F(2×2) at most, from ``winogradBF16MinChannels``: rounding
    /// F(4×4)'s transformed operands to bf16 costs 120× bf16 im2col's error (nmse 6.0e-4 against 4.9e-6 on a
    /// 256-channel layer, F(2×2) 1.7e-5; `WinogradBF16Tests`) for little speed (`bench ops`: −0.4% to +6% against F(2×2)
    /// on Karlo's super-res levels, 12–30% slower below). bf16 F(2×2) against bf16 im2col: 1.55× (320 @256²), 1.95×
    /// (640 @128²), 1.36× (384 @32², batch 2), 1.16× (128 @64², batch 2).
    public static func winogradTile(cin: Int, cout: Int, h: Int, w: Int, geometry g: ConvGeometry, context: ComputeContext,
                                    bf16: Bool = false) -> Int {
        let channels = min(cin, cout)
        guard context.winograd != 0, g.kernel == 3, g.stride == 1, g.padding == 1, h * w >= winogradMinPlane,
              channels >= (bf16 ? winogradBF16MinChannels : winogradMinChannels) else { return 0 }
        return !bf16 && context.winograd == 4 && channels >= winograd4MinChannels && h * w >= winograd4MinPlane ? 4 : 2
    }

    /// How this context runs 3×3 convolutions in `precision`, for benchmark headers.
    public static func convolutionPathDescription(_ context: ComputeContext = .current, precision: MatmulPrecision = .fp32) -> String {
        let side2 = Int(Double(winogradMinPlane).squareRoot()), side4 = Int(Double(winograd4MinPlane).squareRoot())
        let gemm = precision == .fp32 ? "sgemm" : "bf16 GEMM"
        let f2 = "F(2×2) from \(precision == .fp32 ? winogradMinChannels : winogradBF16MinChannels) channels on ≥\(side2)², "
            + "else im2col + \(gemm)"
        switch (context.winograd, precision) {
        case (0, _): return "3×3 convolutions: im2col + \(gemm) (UNCLIP_WINOGRAD=off)"
        case (2, _), (_, .bf16): return "3×3 convolutions: Winograd " + f2
        default: return "3×3 convolutions: Winograd F(4×4) from \(winograd4MinChannels) channels on ≥\(side4)², " + f2
        }
    }

    /// `y = conv2d(x, weight, bias)` for a 3×3, stride-1, padding-1 convolution by Winograd F(m×m, 3×3), m = 2 or 4.
    /// x `[N, Cin, H, W]`, weight `[Cout, Cin, 3, 3]`, y `[N, Cout, H, W]`.
    ///
    /// The weights are transformed per call into thread 0's scratch (α²·Cout·Cin floats, up to 310 MB for Karlo's
    /// 2240→960 convolution; the buffer is reused until the context's scratch is released) — at the plane sizes
    /// this path takes, about 2% of the GEMM work, and no transformed copy is kept with the layer. Then each
    /// thread takes chunks of whole tile rows of one image: input transform → α² single-threaded GEMMs → output
    /// transform straight into y. Chunks depend only on the shapes, so the bytes do not depend on the thread count.
    /// Counts the direct convolution's FLOPs in ``ComputeCounters`` so GFLOP/s stays comparable with im2col's.
    public static func conv2dWinograd(_ x: Tensor, weight: Tensor, bias: Tensor?, tile m: Int, into y: Tensor) {
        conv2dWinograd(x, weight: weight, bias: bias, tile: m, chunkFloats: 4 << 20, into: y)
    }

    /// The same for a bf16 layer: `weight` is the convolution's `[Cout, Cin·9]` weight packed as the bf16 left
    /// operand. Per call, panel by panel, its rounded values are unpacked, transformed (U = G g Gᵀ in fp32) and
    /// rounded to bf16 again into thread 0's scratch (α²·Cout·Cin bf16 values, 69 MB for Karlo's 2240→960
    /// convolution; no transformed copy is kept, so resident weight memory stays bf16's); each
    /// chunk's transformed input is rounded to bf16 per ξ and the α² products are `vdpbf16ps` GEMMs with fp32 sums.
    public static func conv2dWinograd(_ x: Tensor, packed weight: PackedBF16, bias: Tensor?, tile m: Int, into y: Tensor) {
        conv2dWinograd(x, weights: .bf16(weight), bias: bias, tile: m, into: y)
    }

    /// fp32 with the chunk size: V and M of a chunk hold at most `chunkFloats` floats each (at least one tile row).
    /// Tests use small chunks to split one image into several.
    static func conv2dWinograd(_ x: Tensor, weight: Tensor, bias: Tensor?, tile m: Int, chunkFloats: Int, into y: Tensor) {
        conv2dWinograd(x, weights: .fp32(weight), bias: bias, tile: m, chunkFloats: chunkFloats, into: y)
    }

    /// Either precision (``conv2dWinograd(_:weight:bias:tile:into:)``, ``conv2dWinograd(_:packed:bias:tile:into:)``).
    public static func conv2dWinograd(_ x: Tensor, weights: ConvWeights, bias: Tensor?, tile m: Int, into y: Tensor) {
        conv2dWinograd(x, weights: weights, bias: bias, tile: m, chunkFloats: 4 << 20, into: y)
    }

    static func conv2dWinograd(_ x: Tensor, weights: ConvWeights, bias: Tensor?, tile m: Int, chunkFloats: Int, into y: Tensor) {
        precondition(m == 2 || m == 4, "Winograd tile must be 2 or 4, got \(m)")
        let n = x.shape[0], cin = x.shape[1], h = x.shape[2], w = x.shape[3]
        let cout = weights.outputs
        switch weights {
        case .fp32(let weight):
            precondition(weight.shape == [cout, cin, 3, 3], "conv2dWinograd: weight \(weight.shape) vs input \(x.shape)")
        case .bf16(let packed):
            precondition(packed.k == cin * 9 && packed.width == PackedBF16.aWidth,
                         "conv2dWinograd: packed weight \(packed.rows)×\(packed.k) vs input \(x.shape)")
        }
        precondition(x.rank == 4 && x.shape.dropFirst().allSatisfy({ $0 > 0 }) && cout > 0,
                     "conv2dWinograd: empty input \(x.shape) or \(cout) outputs")
        precondition(y.shape == [n, cout, h, w], "conv2dWinograd: output \(y.shape), expected \([n, cout, h, w])")
        let a = m + 2, a2 = a * a
        let th = Int(unclip_winograd_tiles(Int32(h), Int32(m))), tw = Int(unclip_winograd_tiles(Int32(w), Int32(m)))
        // Tile rows per chunk: V and M of a chunk ≤ chunkFloats each (4 Mi floats = 16 MB), at least one tile row.
        let rowsPerChunk = max(1, min(th, chunkFloats / (a2 * max(cin, cout) * tw)))
        let chunksPerImage = (th + rowsPerChunk - 1) / rowsPerChunk, total = n * chunksPerImage
        let cols = rowsPerChunk * tw, workFloats = unclip_winograd_work_floats(Int32(m), Int32(w))
        // bf16 operands: U[ξ] in MR-row panels over K = cin, each chunk's V[ξ] in NR-column panels.
        let kpairs = Int(unclip_bf16_kpairs(Int32(cin)))
        let uWords = Int(unclip_bf16_panels_size(Int32(cout), Int32(cin), Int32(PackedBF16.aWidth)))
        let vWords = Int(unclip_bf16_panels_size(Int32(cols), Int32(cin), Int32(PackedBF16.bWidth)))
        let context = ComputeContext.current, threads = context.threads
        context.scratch.withLock { scratch in
            var u: UnsafeMutablePointer<Float>?    // fp32: [α²][cout][cin]
            var up: UnsafeMutablePointer<UInt32>?  // bf16: [α²] U[ξ] packed
            switch weights {
            case .fp32(let weight):
                let uf = scratch.buffer(thread: 0, slot: 4, count: a2 * cout * cin)
                Threading.forEach(min(threads, cout)) { p in
                    let parts = min(threads, cout)
                    unclip_winograd_weights(Int32(m), weight.data, Int32(cout), Int32(cin), Int32(cout * p / parts),
                                            Int32(cout * (p + 1) / parts), uf)
                }
                u = uf
            case .bf16(let packed):
                // Panel by panel (MR output channels): unpack the rounded weights, transform in fp32, pack each ξ.
                let upacked = packScratch(scratch, thread: 0, slot: 4, words: a2 * uWords)
                let mr = PackedBF16.aWidth, panels = (cout + mr - 1) / mr, parts = min(threads, panels)
                Threading.forEach(parts) { p in
                    let g = scratch.buffer(thread: p, slot: 5, count: mr * cin * 9)  // [rows][cin·9]
                    let ub = scratch.buffer(thread: p, slot: 6, count: a2 * mr * cin)  // [α²][rows][cin]
                    for panel in panels * p / parts ..< panels * (p + 1) / parts {
                        let co0 = panel * mr, rows = min(mr, cout - co0)
                        packed.unpack(rows: co0, co0 + rows, into: g)
                        unclip_winograd_weights(Int32(m), g, Int32(rows), Int32(cin), 0, Int32(rows), ub)
                        for xi in 0..<a2 {
                            unclip_bf16_pack_rows(ub + xi * rows * cin, cin, Int32(rows), Int32(cin), Int32(mr),
                                                  upacked + xi * uWords + co0 * kpairs)
                        }
                    }
                }
                up = upacked
            }
            let parts = min(threads, total)
            Threading.forEach(parts) { p in
                let v = scratch.buffer(thread: p, slot: 0, count: a2 * cin * cols)    // [α²][cin][cols]
                let mt = scratch.buffer(thread: p, slot: 1, count: a2 * cout * cols)  // [α²][cout][cols]
                let work = scratch.buffer(thread: p, slot: 2, count: workFloats)
                let vp = up == nil ? nil : packScratch(scratch, thread: p, slot: 3, words: vWords)  // one V[ξ], bf16
                var chunk = p
                while chunk < total {
                    let b = chunk / chunksPerImage, ty0 = (chunk % chunksPerImage) * rowsPerChunk
                    let ty1 = min(th, ty0 + rowsPerChunk), used = (ty1 - ty0) * tw
                    unclip_winograd_input(Int32(m), x.data + b * cin * h * w, Int32(cin), Int32(h), Int32(w),
                                          Int32(ty0), Int32(ty1), v, cols, work)
                    for xi in 0..<a2 {
                        if let up, let vp {
                            unclip_bf16_pack_cols(v + xi * cin * cols, cols, Int32(cin), Int32(used), vp)
                            let panels = (used + PackedBF16.bWidth - 1) / PackedBF16.bWidth
                            unclip_bf16_gemm(Int32(cout), Int32(used), Int32(cin), up + xi * uWords, vp,
                                             mt + xi * cout * cols, cols, 0, 0, Int32(panels))
                        } else if let u {
                            GEMM.sgemm(m: cout, n: used, k: cin, a: u + xi * cout * cin, lda: cin, b: v + xi * cin * cols,
                                       ldb: cols, c: mt + xi * cout * cols, ldc: cols)
                        }
                    }
                    unclip_winograd_output(Int32(m), mt, cols, Int32(cout), Int32(h), Int32(w), Int32(ty0), Int32(ty1),
                                           bias?.data, y.data + b * cout * h * w, work)
                    chunk += parts
                }
            }
        }
        // sgemm counted α²·tiles multiply-adds per channel pair; the bf16 path calls unclip_bf16_gemm directly, which
        // counts nothing (GEMM.bf16 would count too: keep `done` in step). Report the direct convolution's FLOPs.
        let direct = Int64(2 * n * cout * cin * 9 * h * w)
        let done = weights.isBF16 ? 0 : Int64(2 * n * cout * cin * a2 * th * tw)
        context.counters.addFlops(direct - done)
    }
}

extension Reference {
    /// Bᵀ, G and Aᵀ of F(m×m, 3×3), m = 2 or 4 (Lavin & Gray 2016).
    public static func winogradMatrices(_ m: Int) -> (bt: [[Double]], g: [[Double]], at: [[Double]]) {
        if m == 2 {
            return ([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
                    [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
                    [[1, 1, 1, 0], [0, 1, -1, -1]])
        }
        return ([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                 [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
                [[1.0 / 4, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
                 [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1]],
                [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]])
    }

    /// Winograd F(m×m, 3×3) written out per tile in Double from the transform matrices: the test oracle for the
    /// C transforms (m = 2 or 4). Same layout and, up to rounding, the same result as
    /// ``conv2d(_:n:cin:h:w:weight:cout:bias:geometry:)`` with kernel 3, padding 1.
    public static func conv2dWinograd(_ x: [Float], n: Int, cin: Int, h: Int, w: Int, weight: [Float], cout: Int,
                                      bias: [Float]?, tile m: Int) -> [Float] {
        let (bt, g, at) = winogradMatrices(m)
        let a = m + 2
        func mul(_ p: [[Double]], _ q: [[Double]]) -> [[Double]] {
            (0..<p.count).map { i in (0..<q[0].count).map { j in (0..<q.count).reduce(0.0) { $0 + p[i][$1] * q[$1][j] } } }
        }
        func tr(_ p: [[Double]]) -> [[Double]] { (0..<p[0].count).map { j in p.map { $0[j] } } }
        let u: [[[[Double]]]] = (0..<cout).map { co in (0..<cin).map { ci in
            let k = (0..<3).map { r in (0..<3).map { c in Double(weight[((co * cin + ci) * 3 + r) * 3 + c]) } }
            return mul(mul(g, k), tr(g))
        } }
        var out = [Float](repeating: 0, count: n * cout * h * w)
        for b in 0..<n { for ty in stride(from: 0, to: h, by: m) { for tx in stride(from: 0, to: w, by: m) {
            let v: [[[Double]]] = (0..<cin).map { ci in
                let d = (0..<a).map { i in (0..<a).map { j -> Double in
                    let yy = ty - 1 + i, xx = tx - 1 + j
                    return yy >= 0 && yy < h && xx >= 0 && xx < w ? Double(x[((b * cin + ci) * h + yy) * w + xx]) : 0
                } }
                return mul(mul(bt, d), tr(bt))
            }
            for co in 0..<cout {
                var acc = [[Double]](repeating: [Double](repeating: 0, count: a), count: a)
                for ci in 0..<cin { for i in 0..<a { for j in 0..<a { acc[i][j] += u[co][ci][i][j] * v[ci][i][j] } } }
                let yt = mul(mul(at, acc), tr(at))
                for i in 0..<m where ty + i < h { for j in 0..<m where tx + j < w {
                    out[((b * cout + co) * h + ty + i) * w + tx + j] = Float(yt[i][j] + Double(bias?[co] ?? 0))
                } }
            }
        } } }
        return out
    }
}
