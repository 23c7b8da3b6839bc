// Shared data of the Winograd suites (WinogradTests for fp32, WinogradBF16Tests): a seeded value stream and the
// wide-layer case whose error both measure against a Double direct convolution.
@testable import TensorCore

/// `count` values uniform in [−scale, scale) from an LCG seeded with `seed`.
func winogradValues(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var s = seed
    return (0..<count).map { _ in
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return (Float(s >> 40) / Float(1 << 24) - 0.5) * 2 * scale
    }
}

/// The error a wide UNet layer sees (the sum over 256 input channels is what Winograd's rounding grows with):
/// He-initialised weights, 256 → 32 channels at 48² (32 outputs keep the Double reference cheap).
struct WinogradLayerCase {
    let cin = 256, cout = 32, side = 48
    let x: Tensor, weight: [Float], exact: [Float]

    init() {
        let xv = winogradValues(cin * side * side, seed: 11)
        weight = winogradValues(cout * cin * 9, seed: 12, scale: Float((6.0 / Double(cin * 9)).squareRoot()))
        exact = Reference.conv2d(xv, n: 1, cin: cin, h: side, w: side, weight: weight, cout: cout, bias: nil,
                                 geometry: ConvGeometry(kernel: 3, padding: 1))
        x = Tensor(shape: [1, cin, side, side], values: xv)
    }

    /// The output with `weights` by im2col (`tile` 0, on 2 threads) or the Winograd kernel called directly.
    func run(_ weights: Ops.ConvWeights, tile: Int) -> [Float] {
        let y = Tensor(uninitialized: [1, cout, side, side])
        if tile == 0 {
            ComputeContext(threads: 2, winograd: 0).run {
                Ops.conv2d(x, weights: weights, bias: nil, geometry: ConvGeometry(kernel: 3, padding: 1), into: y)
            }
        } else {
            Ops.conv2dWinograd(x, weights: weights, bias: nil, tile: tile, into: y)
        }
        return Array(UnsafeBufferPointer(start: y.data, count: y.count))
    }
}
