// Winograd F(2×2,3×3) / F(4×4,3×3) (issue #13): the C transforms against a per-tile Double oracle and against the
// direct convolution, ragged planes, bias, the dispatch from Ops.conv2d, and same bytes on 1 and 2 threads.
@testable import TensorCore
import XCTest

final class WinogradTests: XCTestCase {
    private func relErr(_ a: [Float], _ b: [Float]) -> Double {
        let m = b.map { Double(abs($0)) }.max() ?? 1
        return zip(a, b).map { Double(abs($0 - $1)) }.max()! / max(m, 1e-30)
    }

    /// The matrices themselves: the Double oracle equals the direct convolution to Double rounding, so any
    /// difference of the C path below is its own.
    func testOracleIsTheDirectConvolution() {
        let (n, cin, cout, h, w) = (1, 3, 2, 9, 7)
        let x = winogradValues(n * cin * h * w, seed: 1), wt = winogradValues(cout * cin * 9, seed: 2), b = winogradValues(cout, seed: 3)
        let direct = Reference.conv2d(x, n: n, cin: cin, h: h, w: w, weight: wt, cout: cout, bias: b,
                                      geometry: ConvGeometry(kernel: 3, padding: 1))
        for m in [2, 4] {
            let wino = Reference.conv2dWinograd(x, n: n, cin: cin, h: h, w: w, weight: wt, cout: cout, bias: b, tile: m)
            XCTAssertLessThan(relErr(wino, direct), 1e-6, "F(\(m)×\(m),3×3) oracle")
        }
    }

    /// The C transforms + sgemm on ragged planes (sides not multiples of the tile), with and without bias, batch 2.
    func testKernelMatchesTheOracleAndTheDirectConvolution() {
        for (m, cin, cout, h, w) in [(4, 5, 7, 13, 10), (4, 8, 3, 4, 4), (2, 5, 7, 13, 10), (2, 3, 4, 1, 6), (4, 2, 2, 6, 17)] {
            for withBias in [false, true] {
                let n = 2
                let x = winogradValues(n * cin * h * w, seed: UInt64(h * 31 + w)), wt = winogradValues(cout * cin * 9, seed: 9, scale: 0.3)
                let b = withBias ? winogradValues(cout, seed: 4) : nil
                let y = Tensor(uninitialized: [n, cout, h, w])
                Ops.conv2dWinograd(Tensor(shape: [n, cin, h, w], values: x), weight: Tensor(shape: [cout, cin, 3, 3], values: wt),
                                   bias: b.map { Tensor(shape: [cout], values: $0) }, tile: m, into: y)
                let got = Array(UnsafeBufferPointer(start: y.data, count: y.count))
                let oracle = Reference.conv2dWinograd(x, n: n, cin: cin, h: h, w: w, weight: wt, cout: cout, bias: b, tile: m)
                let direct = Reference.conv2d(x, n: n, cin: cin, h: h, w: w, weight: wt, cout: cout, bias: b,
                                              geometry: ConvGeometry(kernel: 3, padding: 1))
                let shape = "F(\(m)) \(cin)→\(cout) \(h)×\(w) bias \(withBias)"
                let bound = m == 4 ? 1e-5 : 2e-6  // F(4)'s larger transform constants (up to 8 and 1/24) cost bits
                XCTAssertLessThan(relErr(got, oracle), bound, shape)
                XCTAssertLessThan(relErr(got, direct), bound, shape)
            }
        }
    }

    /// Ops.conv2d sends fp32 3×3 convolutions on large planes to Winograd — F(4) from 256 channels on 64², F(2)
    /// from 96 channels on 32², at most the context's tile — (the bytes differ from im2col's, the values agree to fp32 rounding), leaves
    /// small planes, thin layers and strided ones on im2col, and gives the same bytes on 1 and 2 threads.
    func testDispatchAndSameBytesAcrossThreadCounts() {
        let g = ConvGeometry(kernel: 3, padding: 1), wide = ComputeContext(threads: 1, winograd: 4)
        XCTAssertEqual(Ops.winogradTile(cin: 256, cout: 320, h: 64, w: 64, geometry: g, context: wide), 4)
        XCTAssertEqual(Ops.winogradTile(cin: 256, cout: 320, h: 64, w: 63, geometry: g, context: wide), 2)
        XCTAssertEqual(Ops.winogradTile(cin: 256, cout: 320, h: 64, w: 64, geometry: g,
                                        context: ComputeContext(threads: 1, winograd: 2)), 2)
        XCTAssertEqual(Ops.winogradTile(cin: 255, cout: 320, h: 64, w: 64, geometry: g, context: wide), 2)
        XCTAssertEqual(Ops.winogradTile(cin: 96, cout: 96, h: 48, w: 48, geometry: g, context: wide), 2)
        XCTAssertEqual(Ops.winogradTile(cin: 95, cout: 320, h: 48, w: 48, geometry: g, context: wide), 0)
        XCTAssertEqual(Ops.winogradTile(cin: 320, cout: 320, h: 31, w: 32, geometry: g, context: wide), 0)
        XCTAssertEqual(Ops.winogradTile(cin: 320, cout: 320, h: 32, w: 32, geometry: g, context: wide), 2)
        XCTAssertEqual(Ops.winogradTile(cin: 320, cout: 320, h: 64, w: 64, geometry: ConvGeometry(kernel: 3, stride: 2, padding: 1),
                                        context: wide), 0)
        XCTAssertEqual(Ops.winogradTile(cin: 320, cout: 320, h: 64, w: 64, geometry: g,
                                        context: ComputeContext(threads: 1, winograd: 0)), 0)

        // bf16 layers: F(2) at most, from 128 channels (the policy; WinogradBF16Tests runs the kernel where it can).
        XCTAssertEqual(Ops.winogradTile(cin: 640, cout: 640, h: 128, w: 128, geometry: g, context: wide, bf16: true), 2)
        XCTAssertEqual(Ops.winogradTile(cin: 128, cout: 130, h: 34, w: 34, geometry: g, context: wide, bf16: true), 2)
        XCTAssertEqual(Ops.winogradTile(cin: 127, cout: 320, h: 64, w: 64, geometry: g, context: wide, bf16: true), 0)
        XCTAssertEqual(Ops.winogradTile(cin: 64, cout: 64, h: 256, w: 256, geometry: g, context: wide, bf16: true), 0)
        XCTAssertEqual(Ops.winogradTile(cin: 128, cout: 130, h: 34, w: 34, geometry: g,
                                        context: ComputeContext(threads: 1, winograd: 0), bf16: true), 0)
        XCTAssertEqual(Ops.winogradTile(cin: 320, cout: 320, h: 64, w: 64, geometry: ConvGeometry(kernel: 3, stride: 2, padding: 1),
                                        context: wide, bf16: true), 0)

        for (cin, cout, side, tile) in [(256, 260, 65, 4), (100, 96, 49, 2)] {  // sides not multiples of the tile
            XCTAssertEqual(Ops.winogradTile(cin: cin, cout: cout, h: side, w: side, geometry: g, context: wide), tile)
            let n = 2
            let x = Tensor(shape: [n, cin, side, side], values: winogradValues(n * cin * side * side, seed: 5))
            let wt = Tensor(shape: [cout, cin, 3, 3], values: winogradValues(cout * cin * 9, seed: 6, scale: 0.05))
            let b = Tensor(shape: [cout], values: winogradValues(cout, seed: 7))
            func run(threads: Int, winograd: Int) -> [Float] {
                ComputeContext(threads: threads, winograd: winograd).run {
                    let y = Tensor(uninitialized: [n, cout, side, side])
                    Ops.conv2d(x, weight: wt, bias: b, geometry: g, into: y)
                    return Array(UnsafeBufferPointer(start: y.data, count: y.count))
                }
            }
            let im2col = run(threads: 2, winograd: 0)
            let two = run(threads: 2, winograd: 4), one = run(threads: 1, winograd: 4)
            XCTAssertEqual(two, one, "\(cin)→\(cout): 1 and 2 threads give the same bytes")
            XCTAssertNotEqual(two, im2col, "\(cin)→\(cout): Winograd must have run (its rounding differs from im2col's)")
            XCTAssertLessThan(relErr(two, im2col), 3e-5, "\(cin)→\(cout) against im2col")
        }
    }

    /// Several chunks per image (the production case at 256²: a few tile rows each), a last chunk narrower than
    /// the others, and chunks of one image split over threads: against the direct convolution, 1 and 2 threads alike.
    func testSeveralChunksPerImage() {
        for (m, cin, cout, h, w, chunkFloats) in [(4, 8, 6, 23, 18, 36 * 8 * 5 * 4), (2, 5, 7, 19, 13, 16 * 7 * 7 * 3)] {
            let x = winogradValues(2 * cin * h * w, seed: 21), wt = winogradValues(cout * cin * 9, seed: 22, scale: 0.3), b = winogradValues(cout, seed: 23)
            let direct = Reference.conv2d(x, n: 2, cin: cin, h: h, w: w, weight: wt, cout: cout, bias: b,
                                          geometry: ConvGeometry(kernel: 3, padding: 1))
            var outputs: [[Float]] = []
            for threads in [1, 2] {
                let y = Tensor(uninitialized: [2, cout, h, w])
                ComputeContext(threads: threads).run {
                    Ops.conv2dWinograd(Tensor(shape: [2, cin, h, w], values: x), weight: Tensor(shape: [cout, cin, 3, 3], values: wt),
                                       bias: Tensor(shape: [cout], values: b), tile: m, chunkFloats: chunkFloats, into: y)
                }
                outputs.append(Array(UnsafeBufferPointer(start: y.data, count: y.count)))
            }
            XCTAssertEqual(outputs[0], outputs[1], "F(\(m)): 1 and 2 threads")
            XCTAssertLessThan(relErr(outputs[0], direct), m == 4 ? 1e-5 : 2e-6, "F(\(m)) in several chunks")
        }
    }

    /// `UNCLIP_WINOGRAD` picks the context's tile: off/0 → im2col, 2 → F(2×2) at most, unset → F(4×4) at most.
    func testEnvironmentSwitch() {
        defer { unsetenv("UNCLIP_WINOGRAD") }
        for (value, tile) in [("off", 0), ("OFF", 0), ("0", 0), ("2", 2), ("4", 4)] {
            setenv("UNCLIP_WINOGRAD", value, 1)
            XCTAssertEqual(ComputeContext.environmentWinograd(), tile, value)
            XCTAssertNil(ComputeContext.winogradSettingError(), value)
        }
        setenv("UNCLIP_WINOGRAD", "yes", 1)
        XCTAssertEqual(ComputeContext.winogradSettingError(), "UNCLIP_WINOGRAD must be 4, 2 or off, got 'yes'")
        unsetenv("UNCLIP_WINOGRAD")
        XCTAssertEqual(ComputeContext(threads: 1).winograd, ComputeContext.defaultWinograd)
        XCTAssertTrue(Ops.convolutionPathDescription(ComputeContext(threads: 1, winograd: 0)).contains("UNCLIP_WINOGRAD=off"))
        XCTAssertTrue(Ops.convolutionPathDescription(ComputeContext(threads: 1, winograd: 4)).contains("F(4×4)"))
        let bf16 = Ops.convolutionPathDescription(ComputeContext(threads: 1, winograd: 4), precision: .bf16)
        XCTAssertTrue(bf16.contains("F(2×2) from 128") && !bf16.contains("F(4×4)") && bf16.contains("bf16 GEMM"), bf16)
    }

    /// The wide-layer case (``WinogradLayerCase``): the F(4) and F(2) kernels called directly, against the Double
    /// direct convolution, next to im2col's own error.
    func testErrorAtLayerScaleStaysNearIm2col() {
        let c = WinogradLayerCase(), w = Ops.ConvWeights.fp32(Tensor(shape: [c.cout, c.cin, 3, 3], values: c.weight))
        let e0 = relErr(c.run(w, tile: 0), c.exact), e2 = relErr(c.run(w, tile: 2), c.exact), e4 = relErr(c.run(w, tile: 4), c.exact)
        print(String(format: "conv 3×3 %d→%d @%d² max rel error vs Double: im2col %.2e, F(2) %.2e, F(4) %.2e", c.cin, c.cout, c.side, e0, e2, e4))
        XCTAssertLessThan(e2, 4 * max(e0, 1e-7), "F(2) keeps im2col's accuracy")
        XCTAssertLessThan(e4, 3e-5, "F(4): a few bits, far inside parity_full.py's 1e-4")
    }
}
