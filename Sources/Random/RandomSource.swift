// Mirrors the random-number interface diffusers relies on (`torch.Generator` + `torch.randn(shape, generator=g)`), shaped
// like apple/ml-stable-diffusion's `RandomSource`; TorchRandomSource mirrors PyTorch's CPU generator @ torch 2.13:
// aten/src/ATen/CPUGeneratorImpl.cpp, core/DistributionsHelper.h, core/TransformationHelper.h and
// native/cpu/DistributionTemplates.h (normal_kernel, normal_fill).
import Foundation

/// A seedable stream of standard-normal Float32 values.
///
/// Schedulers and pipelines draw all their noise through this protocol, in diffusers' order, so a
/// bit-compatible implementation (``TorchRandomSource``) reproduces a PyTorch run from the same seed.
/// One call of ``fillNormal(_:)`` corresponds to one `torch.randn(count)` call: implementations may
/// (and ``TorchRandomSource`` does) produce different values for one call of 32 than for two calls of 16.
///
/// Conformers are value types with `mutating` draws; pass them `inout` so the stream state carries over.
public protocol RandomSource {
    /// A generator seeded like `torch.Generator().manual_seed(seed)`.
    init(seed: UInt64)

    /// Fills `buffer` with N(0, 1) values, as one `torch.randn(buffer.count)` call would.
    mutating func fillNormal(_ buffer: UnsafeMutableBufferPointer<Float>)
}

extension RandomSource {
    /// A generator seeded with a signed seed; negative seeds wrap to 64 bits, as `manual_seed(-1)` does.
    public init(seed: Int) {
        self.init(seed: UInt64(bitPattern: Int64(seed)))
    }

    /// `count` N(0, 1) values from one draw (one `torch.randn(count)` call).
    public mutating func normal(count: Int) -> [Float] {
        precondition(count >= 0, "negative count \(count)")
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { fillNormal($0) }
        return out
    }

    /// Fills `count` floats at `pointer` with one draw.
    public mutating func fillNormal(_ pointer: UnsafeMutablePointer<Float>, count: Int) {
        fillNormal(UnsafeMutableBufferPointer(start: pointer, count: count))
    }
}

/// A random source bit-compatible with `torch.Generator("cpu").manual_seed(seed)` followed by
/// `torch.randn(n, generator=g)` (Float32, contiguous), including the state carried across calls.
///
/// PyTorch has two code paths for `normal_` on a float tensor of `n` elements:
/// - `n < 16`: the scalar path. Each element is one `at::normal_distribution<double>` draw: two doubles
///   u1, u2 from 53-bit `random64()` values, r = √(−2·log1p(−u2)), θ = 2π·u1; it returns r·cos θ and
///   **caches r·sin θ in the generator** (as a double). The next scalar draw, even in a later `randn`
///   call, consumes that cached value first. Each value is computed in double and rounded to Float.
/// - `n ≥ 16`: `normal_fill`. All n uniforms are drawn first (24-bit `random()` values × 2⁻²⁴, Float),
///   then every block of 16 is transformed by Box–Muller in Float: u1 = 1 − data[i] for i < 8, u2 =
///   data[i+8], out[i] = r·cos θ, out[i+8] = r·sin θ. If `n % 16 != 0`, 16 fresh uniforms are drawn
///   and the **last 16 outputs are recomputed** from them. This path never touches the cached value.
///   The transcendental functions differ by CPU build (see ``NormalFillKernel``).
public struct TorchRandomSource: RandomSource, Sendable {
    private var engine: MT19937
    private var cachedNormal: Double?
    /// The Box–Muller kernel used for draws of 16 or more values.
    public var kernel: NormalFillKernel

    /// A generator seeded like `torch.Generator().manual_seed(seed)`, using the kernel of a PyTorch
    /// build for the current CPU architecture.
    public init(seed: UInt64) {
        self.init(seed: seed, kernel: .native)
    }

    /// A generator seeded like `torch.Generator().manual_seed(seed)`, with an explicit vectorised kernel.
    public init(seed: UInt64, kernel: NormalFillKernel) {
        engine = MT19937(seed: seed)
        cachedNormal = nil
        self.kernel = kernel
    }

    /// The seed as given, like `torch.Generator.initial_seed()`.
    public var seed: UInt64 { engine.seed }

    /// `CPUGeneratorImpl::random()`: one 32-bit word.
    public mutating func random() -> UInt32 { engine.nextUInt32() }

    /// `CPUGeneratorImpl::random64()`: two words, the first one in the high half.
    public mutating func random64() -> UInt64 {
        let hi = UInt64(engine.nextUInt32()), lo = UInt64(engine.nextUInt32())
        return (hi << 32) | lo
    }

    /// `uniform_real_distribution<float>(0, 1)`: a 24-bit uniform in [0, 1).
    @inline(__always)
    public mutating func uniformFloat() -> Float {
        Float(engine.nextUInt32() & 0x00ff_ffff) * (1.0 / 16_777_216.0)
    }

    /// `uniform_real_distribution<double>(0, 1)`: a 53-bit uniform in [0, 1).
    public mutating func uniformDouble() -> Double {
        Double(random64() & ((1 << 53) - 1)) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// One `at::normal_distribution<double>(0, 1)` value, using and refilling the cached second sample.
    public mutating func normalDouble() -> Double {
        if let cached = cachedNormal {
            cachedNormal = nil
            return cached
        }
        let u1 = uniformDouble()
        let u2 = uniformDouble()
        let r = (-2.0 * log1p(-u2)).squareRoot()
        let theta = 2.0 * Double.pi * u1
        cachedNormal = r * sin(theta)
        return r * cos(theta)
    }

    /// Fills `buffer` as one `torch.randn(buffer.count, generator=g)` call.
    public mutating func fillNormal(_ buffer: UnsafeMutableBufferPointer<Float>) {
        let n = buffer.count
        guard n > 0, let data = buffer.baseAddress else { return }
        if n < 16 {
            for i in 0..<n { data[i] = Float(normalDouble()) }
            return
        }
        for i in 0..<n { data[i] = uniformFloat() }
        var i = 0
        while i + 16 <= n {
            kernel.transform16(data + i)
            i += 16
        }
        if n % 16 != 0 {
            let tail = data + n - 16
            for j in 0..<16 { tail[j] = uniformFloat() }
            kernel.transform16(tail)
        }
    }
}
