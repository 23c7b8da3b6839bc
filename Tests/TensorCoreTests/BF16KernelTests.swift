// The bf16 kernels (BF16Kernels, AVX512-BF16) against their naive reference: same bf16-rounded inputs, only the
// summation order differs, so the bound is fp32 accumulation error (≪ bf16 rounding).
import TensorCore
import XCTest

final class BF16KernelTests: XCTestCase {
    override func invokeTest() { ComputeContext(threads: 2).run { super.invokeTest() } }

    override func setUpWithError() throws {
        try XCTSkipUnless(MatmulPrecision.bf16Available, "this CPU has no AVX512-BF16: the fp32 path is the one tested here")
    }

    func testRoundingIsNearestEvenWithDenormalsFlushed() {
        let cases: [(Float, Float)] = [
            (1, 1), (-2.5, -2.5),
            (1 + 0x1p-8, 1),                 // tie between 1 and 1+2⁻⁷: to even (1)
            (1 + 3 * 0x1p-8, 1 + 0x1p-6),    // tie between 1+2⁻⁷ and 1+2⁻⁶: to even (1+2⁻⁶)
            (1 + 0x1p-8 + 0x1p-20, 1 + 0x1p-7),  // above the tie: up
            (.infinity, .infinity), (-.infinity, -.infinity),
            (Float.leastNonzeroMagnitude, 0), (-1e-39, -0.0),  // denormals → signed zero, as VCVTNEPS2BF16
        ]
        for (x, want) in cases {
            let got = Reference.bf16Rounded(x)
            XCTAssertEqual(got, want, "bf16(\(x))")
            XCTAssertEqual(got.sign, want.sign, "sign of bf16(\(x))")
        }
        XCTAssertTrue(Reference.bf16Rounded(.nan).isNaN)
    }

    /// Packs A (rows) and B (from `[k][n]` columns *and* from `[n][k]` rows: both packers must agree) and checks
    /// `unclip_bf16_gemm` against the double-precision reference on the rounded inputs, tails and K blocks included.
    func testGEMMMatchesReferenceOnRoundedInputs() {
        for (m, n, k) in [(1, 1, 1), (14, 32, 2), (15, 33, 3), (13, 31, 257), (29, 70, 600), (162, 96, 300)] {
            let a = pseudoRandom([m, k], seed: 1).scalars, b = pseudoRandom([k, n], seed: 2).scalars
            var bt = [Float](repeating: 0, count: n * k)
            for p in 0..<k { for j in 0..<n { bt[j * k + p] = b[p * n + j] } }
            for accumulate in [false, true] {
                let c0 = pseudoRandom([m, n], seed: 3).scalars
                var want = c0
                Reference.bf16GEMM(m: m, n: n, k: k, a: a, b: b, c: &want, accumulate: accumulate)
                // |Δ| allowed: fp32 summation error of Σ|a·b| (+ the accumulated C), per element.
                var scale = [Float](repeating: 0, count: m * n)
                for i in 0..<m { for j in 0..<n {
                    var s: Float = accumulate ? abs(c0[i * n + j]) : 0
                    for p in 0..<k { s += abs(Reference.bf16Rounded(a[i * k + p]) * Reference.bf16Rounded(b[p * n + j])) }
                    scale[i * n + j] = s
                } }
                let pa = PackedBF16(rows: m, k: k, width: PackedBF16.aWidth, from: a, ld: k)
                let fromRows = PackedBF16(rows: n, k: k, width: PackedBF16.bWidth, from: bt, ld: k)
                let fromCols = PackedBF16.columns(k: k, n: n, from: b, ld: n)
                let operands: [(String, UnsafePointer<UInt32>)] = [("B from [n][k]", UnsafePointer(fromRows.data)),
                                                                  ("B from [k][n]", UnsafePointer(fromCols))]
                for (label, pb) in operands {
                    var got = c0
                    got.withUnsafeMutableBufferPointer {
                        GEMM.bf16(m: m, n: n, k: k, a: pa.data, b: pb, c: $0.baseAddress!, ldc: n, accumulate: accumulate)
                    }
                    var worst: Float = 0
                    for i in 0..<(m * n) { worst = max(worst, abs(got[i] - want[i]) / max(scale[i], 1e-30)) }
                    XCTAssertLessThanOrEqual(worst, 1e-5, "\(m)×\(n)×\(k) accumulate \(accumulate) \(label)")
                }
                fromCols.deallocate()
            }
        }
    }

    /// Same seed, same bytes: the bf16 GEMM, Linear and conv give identical results on 1 and 2 threads.
    func testSameBytesOnOneAndTwoThreads() {
        let x = pseudoRandom([40, 300], seed: 4), w = pseudoRandom([200, 300], seed: 5), bias = pseudoRandom([200], seed: 6)
        let packed = PackedBF16(rows: 200, k: 300, width: PackedBF16.bWidth, from: w.data, ld: 300)
        let img = pseudoRandom([2, 16, 24, 24], seed: 7), cw = pseudoRandom([48, 16, 3, 3], seed: 8)
        let cpacked = PackedBF16(rows: 48, k: 144, width: PackedBF16.aWidth, from: cw.data, ld: 144)
        func run(_ threads: Int) -> ([Float], [Float]) {
            ComputeContext(threads: threads).run {
                let y = Tensor(uninitialized: [40, 200])
                Ops.linear(x, packed: packed, bias: bias, into: y)
                let c = Tensor(uninitialized: [2, 48, 24, 24])
                Ops.conv2d(img, packed: cpacked, bias: bias.slice(outer: 0, count: 48), geometry: ConvGeometry(kernel: 3, padding: 1), into: c)
                return (y.scalars, c.scalars)
            }
        }
        let one = run(1), two = run(2)
        XCTAssertEqual(one.0.map(\.bitPattern), two.0.map(\.bitPattern), "linear: 1 vs 2 threads")
        XCTAssertEqual(one.1.map(\.bitPattern), two.1.map(\.bitPattern), "conv: 1 vs 2 threads")
    }

    /// Every conv branch (small-plane batch, chunked large plane, 1×1 without im2col, stride 2, odd K) in bf16 against
    /// the Double reference convolution of the bf16-rounded input and weight.
    func testConvBranchesAgainstRoundedReference() {
        ComputeContext(threads: 2, convChunkFloats: 5000).run {
            for (n, cin, cout, h, w, k, s, p) in [(3, 5, 33, 6, 5, 3, 1, 1), (2, 7, 40, 40, 33, 3, 1, 1), (1, 64, 45, 33, 35, 1, 1, 0),
                                                  (2, 6, 32, 11, 9, 3, 2, 1), (2, 40, 32, 8, 8, 1, 1, 0)] {
                let x = pseudoRandom([n, cin, h, w], seed: 9), wt = pseudoRandom([cout, cin, k, k], seed: 10)
                let b = pseudoRandom([cout], seed: 11)
                let g = ConvGeometry(kernel: k, stride: s, padding: p)
                let kdim = cin * k * k
                let packed = PackedBF16(rows: cout, k: kdim, width: PackedBF16.aWidth, from: wt.data, ld: kdim)
                let y = Tensor(uninitialized: [n, cout, g.outSize(h), g.outSize(w)])
                Ops.conv2d(x, packed: packed, bias: b, geometry: g, into: y)
                let r = Reference.conv2d(x.scalars.map(Reference.bf16Rounded), n: n, cin: cin, h: h, w: w,
                                         weight: wt.scalars.map(Reference.bf16Rounded), cout: cout, bias: b.scalars, geometry: g)
                assertClose(y.scalars, r, relTol: 2e-6, absTol: 1e-5, "bf16 conv n\(n) \(cin)→\(cout) \(h)×\(w) k\(k) s\(s) p\(p)")
            }
        }
    }

    /// bf16 against fp32 on the same data: the rounding error the precision costs, stated (≈ 2⁻⁸/√3 per product).
    func testLinearErrorAgainstFP32IsBF16Rounding() {
        let x = pseudoRandom([64, 512], seed: 12), w = pseudoRandom([256, 512], seed: 13)
        let exact = Ops.linear(x, weight: w, bias: nil)
        let packed = PackedBF16(rows: 256, k: 512, width: PackedBF16.bWidth, from: w.data, ld: 512)
        let y = Tensor(uninitialized: [64, 256])
        Ops.linear(x, packed: packed, bias: nil, into: y)
        let stats = ErrorStats(y.scalars, exact.scalars)
        print("bf16 vs fp32 linear 64×512·512×256: \(stats)")
        XCTAssertLessThan(stats.nmse, 2e-5, "bf16 rounding of both operands: nmse ≈ (2⁻⁸)²·2/3 ≈ 1e-5")
        XCTAssertGreaterThan(stats.nmse, 1e-7, "the bf16 path must actually round (else it is not the bf16 kernel)")
    }
}

final class PrecisionChoiceTests: XCTestCase {
    func testFP32AndAutoAlwaysResolve() throws {
        XCTAssertEqual(try PrecisionChoice.fp32.resolve(), .fp32)
        XCTAssertEqual(try PrecisionChoice.auto.resolve(), PrecisionChoice.autoPrecision)
    }

    /// `UNCLIP_BF16=off` forces the fp32 path (sanitizers, A/B runs); asking for bf16 then names the switch.
    func testBF16SwitchedOffIsAClearError() {
        setenv("UNCLIP_BF16", "off", 1)
        defer { unsetenv("UNCLIP_BF16") }
        XCTAssertFalse(MatmulPrecision.bf16Available)
        XCTAssertThrowsError(try PrecisionChoice.bf16.resolve()) {
            XCTAssertTrue("\($0)".contains("UNCLIP_BF16=off"), "\($0)")
        }
    }
}
