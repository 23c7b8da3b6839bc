// Elementwise activations as in PyTorch: SiLU, QuickGELU (CLIP, x·σ(1.702x)), exact GELU (erf), softmax.
import Foundation

/// An elementwise activation function.
public enum Activation: String, Sendable, Codable {
    case silu
    case quickGELU = "quick_gelu"
    case gelu

    /// The 16-lane kernel.
    @inlinable @inline(__always)
    public func apply(_ x: F32x16) -> F32x16 {
        switch self {
        case .silu: return x * simdSigmoid(x)
        case .quickGELU: return x * simdSigmoid(1.702 * x)
        case .gelu: return 0.5 * x * (1 + simdErf(x * 0.7071067811865476))
        }
    }

    /// The scalar reference in Double precision.
    public func reference(_ x: Float) -> Float {
        let d = Double(x)
        switch self {
        case .silu: return Float(d / (1 + exp(-d)))
        case .quickGELU: return Float(d / (1 + exp(-1.702 * d)))
        case .gelu: return Float(0.5 * d * (1 + erf(d / 2.0.squareRoot())))
        }
    }
}

extension Ops {
    /// `y = f(x)` elementwise; `y` may be `x` (in place).
    public static func activation(_ f: Activation, _ x: Tensor, into y: Tensor) {
        precondition(x.count == y.count, "activation: \(x.shape) vs \(y.shape)")
        let src = x.data, dst = y.data
        Threading.parallelRanges(x.count / 16 + 1, grain: 2048) { r in
            let lo = r.lowerBound * 16, hi = min(r.upperBound * 16, x.count)
            guard hi > lo else { return }
            switch f {
            case .silu: mapSIMD(src + lo, dst + lo, hi - lo) { Activation.silu.apply($0) }
            case .quickGELU: mapSIMD(src + lo, dst + lo, hi - lo) { Activation.quickGELU.apply($0) }
            case .gelu: mapSIMD(src + lo, dst + lo, hi - lo) { Activation.gelu.apply($0) }
            }
        }
    }

    /// Softmax over the last dimension, `y` may be `x`.
    public static func softmax(_ x: Tensor, into y: Tensor) {
        let cols = x.shape.last ?? 1, rows = x.count / max(cols, 1)
        if x !== y { y.data.update(from: x.data, count: x.count) }
        Threading.parallelRanges(rows, grain: max(1, 4096 / max(cols, 1))) { r in
            for row in r { softmaxRow(y.data + row * cols, cols) }
        }
    }

    @inlinable @inline(__always)
    static func softmaxRow(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        var mv = F32x16(repeating: -.infinity)
        var i = 0
        while i + 16 <= n { mv = simdMax(mv, load16(p + i)); i += 16 }
        var m = mv.max()
        while i < n { m = max(m, p[i]); i += 1 }
        if m == -.infinity { m = 0 }  // a fully masked row: every exp is 0, sum 0 → NaN as in torch
        let mb = F32x16(repeating: m)
        var sv = F32x16()
        i = 0
        while i + 16 <= n { let e = simdExp(load16(p + i) - mb); store16(e, p + i); sv += e; i += 16 }
        var s = sv.sum()
        if i < n {
            let e = simdExp(loadPartial(p + i, n - i) - mb)
            for j in 0..<(n - i) { p[i + j] = e[j]; s += e[j] }
        }
        let inv = F32x16(repeating: 1 / s)
        i = 0
        while i + 16 <= n { store16(load16(p + i) * inv, p + i); i += 16 }
        while i < n { p[i] *= inv[0]; i += 1 }
    }
}

extension Reference {
    /// Elementwise activation, scalar Double math.
    public static func activation(_ f: Activation, _ x: [Float]) -> [Float] { x.map(f.reference) }

    /// Row softmax in Double.
    public static func softmax(_ x: [Float], cols: Int) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for r in 0..<(x.count / cols) {
            let row = x[(r * cols)..<((r + 1) * cols)].map(Double.init)
            let m = row.max()!
            let e = row.map { exp($0 - m) }
            let s = e.reduce(0, +)
            for c in 0..<cols { out[r * cols + c] = Float(e[c] / s) }
        }
        return out
    }
}
