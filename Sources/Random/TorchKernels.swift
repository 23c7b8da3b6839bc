// Mirrors PyTorch's CPU random kernels: aten/src/ATen/core/MT19937RNGEngine.h (at::mt19937, Matsumoto–Nishimura
// mt19937ar-cok) and native/cpu/DistributionTemplates.h (NormalFill16) with native/cpu/avx_mathfun.h (log256_ps,
// sincos256_ps; Cephes polynomials by J. Pommier / G. Garberoglio, zlib licence) as GCC compiles them.
import Foundation

/// The 32-bit Mersenne Twister exactly as PyTorch's CPU generator runs it.
///
/// Seeding follows `at::mt19937_engine::init_with_uint32`: only the low 32 bits of the 64-bit seed
/// enter the state (`state[0] = seed & 0xffffffff`), so seeds that differ only above bit 31 give the
/// same stream, as in PyTorch. The state is regenerated lazily on the first draw (`left = 1`).
public struct MT19937: Sendable {
    static let n = 624
    static let m = 397
    static let matrixA: UInt32 = 0x9908_b0df

    /// The seed as given (all 64 bits), like `torch.Generator.initial_seed()`.
    public let seed: UInt64
    private var state: [UInt32]
    private var left: Int
    private var next: Int

    /// An engine seeded like `at::mt19937(seed)`.
    public init(seed: UInt64) {
        self.seed = seed
        var s = [UInt32](repeating: 0, count: MT19937.n)
        s[0] = UInt32(truncatingIfNeeded: seed)
        for j in 1..<MT19937.n {
            s[j] = 1_812_433_253 &* (s[j - 1] ^ (s[j - 1] >> 30)) &+ UInt32(j)
        }
        state = s
        left = 1
        next = 0
    }

    /// The next tempered 32-bit output (`at::mt19937::operator()`).
    @inline(__always)
    public mutating func nextUInt32() -> UInt32 {
        left -= 1
        if left == 0 { regenerate() }
        var y = state[next]
        next += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9d2c_5680
        y ^= (y << 15) & 0xefc6_0000
        y ^= y >> 18
        return y
    }

    @inline(__always)
    private static func twist(_ u: UInt32, _ v: UInt32) -> UInt32 {
        let mixed = (u & 0x8000_0000) | (v & 0x7fff_ffff)
        return (mixed >> 1) ^ ((v & 1) != 0 ? matrixA : 0)
    }

    /// `next_state()`: regenerates all 624 words in place.
    private mutating func regenerate() {
        left = MT19937.n
        next = 0
        state.withUnsafeMutableBufferPointer { p in
            let n = MT19937.n, m = MT19937.m
            var k = 0
            while k < n - m {
                p[k] = p[k + m] ^ MT19937.twist(p[k], p[k + 1])
                k += 1
            }
            while k < n - 1 {
                p[k] = p[k + m - n] ^ MT19937.twist(p[k], p[k + 1])
                k += 1
            }
            p[n - 1] = p[m - 1] ^ MT19937.twist(p[n - 1], p[0])
        }
    }
}

/// The Box–Muller transform PyTorch applies to each block of 16 uniforms in `normal_fill`.
///
/// Which one runs depends on the CPU build PyTorch dispatches to:
/// - ``avx2``: x86-64 with AVX2 (also AVX-512 machines: `normal_stub` is registered with
///   `REGISTER_NO_AVX512_DISPATCH`, so they use the AVX2 kernel). Uses `log256_ps` / `sincos256_ps` from
///   `avx_mathfun.h` in Float, with the fused multiply-adds GCC forms under `-mfma -ffp-contract=fast`
///   (reproduced below operation by operation; without those fusions about 1 % of values differ in the last bit).
///   θ = Float(2π) · u2 in Float.
/// - ``generic``: the portable template (PyTorch's `DEFAULT` CPU capability, e.g. arm64 builds or
///   `ATEN_CPU_CAPABILITY=default`): `logf`, `cosf`, `sinf` from the C library, and θ computed in
///   **double** (`2.0f * c10::pi<double> * u2`) before rounding to Float.
public enum NormalFillKernel: Sendable, Equatable {
    case avx2
    case generic

    /// The kernel a stock PyTorch build uses on this architecture.
    public static var native: NormalFillKernel {
        #if arch(x86_64)
        return .avx2
        #else
        return .generic
        #endif
    }

    /// Replaces 16 uniforms at `data` with 16 N(0, 1) values (mean 0, std 1).
    @inline(__always)
    func transform16(_ data: UnsafeMutablePointer<Float>) {
        switch self {
        case .avx2:
            for j in 0..<8 {
                let u1 = 1 - data[j], u2 = data[j + 8]
                let radius = (-2 * AVXMathFun.log(u1)).squareRoot()
                let theta = AVXMathFun.twoPi * u2
                let (s, c) = AVXMathFun.sincos(theta)
                // _mm256_fmadd_ps(n, std, mean) with std 1, mean 0.
                data[j] = Float(0).addingProduct(radius * c, 1)
                data[j + 8] = Float(0).addingProduct(radius * s, 1)
            }
        case .generic:
            for j in 0..<8 {
                let u1 = 1 - data[j], u2 = data[j + 8]
                let radius = (-2 * Foundation.log(u1)).squareRoot()
                let theta = Float(2.0 * Double.pi * Double(u2))
                data[j] = Float(0).addingProduct(radius * Foundation.cos(theta), 1)
                data[j + 8] = Float(0).addingProduct(radius * Foundation.sin(theta), 1)
            }
        }
    }
}

/// One lane of `avx_mathfun.h`'s `log256_ps` and `sincos256_ps`, operation for operation.
///
/// `fma(a, b, c)` below marks the places where GCC fuses a multiply with the following add or
/// subtract (verified against `torch.randn` on 6 seeds × 7 sizes, bit for bit). Constants are the
/// C `double` literals rounded to Float, given as bit patterns so no literal conversion can differ.
enum AVXMathFun {
    static let twoPi = Float(bitPattern: 0x40C9_0FDB)          // (float)(2.0f * c10::pi<double>)
    static let sqrtHF = Float(bitPattern: 0x3F35_04F3)         // cephes_SQRTHF
    static let logP: [Float] = [0x3D90_21BB, 0xBDEB_D1B8, 0x3DEF_251A, 0xBDFE_5D4F, 0x3E11_E9BF,
                                0xBE2A_AE50, 0x3E4C_CEAC, 0xBE7F_FFFC, 0x3EAA_AAAA].map { Float(bitPattern: $0) }
    static let logQ1 = Float(bitPattern: 0xB95E_8083)          // -2.12194440e-4
    static let logQ2 = Float(bitPattern: 0x3F31_8000)          // 0.693359375
    static let fourOverPi = Float(bitPattern: 0x3FA2_F983)     // cephes_FOPI
    static let minusDP1 = Float(bitPattern: 0xBF49_0000)
    static let minusDP2 = Float(bitPattern: 0xB97D_A000)
    static let minusDP3 = Float(bitPattern: 0xB322_2169)
    static let sinP0 = Float(bitPattern: 0xB94C_A1F9), sinP1 = Float(bitPattern: 0x3C08_839E), sinP2 = Float(bitPattern: 0xBE2A_AAA3)
    static let cosP0 = Float(bitPattern: 0x37CC_F5CE), cosP1 = Float(bitPattern: 0xBAB6_061A), cosP2 = Float(bitPattern: 0x3D2A_AAA5)

    @inline(__always)
    static func fma(_ a: Float, _ b: Float, _ c: Float) -> Float { c.addingProduct(a, b) }

    /// `log256_ps` for one lane: NaN for x ≤ 0, denormals cut off to the smallest normal.
    @inline(__always)
    static func log(_ input: Float) -> Float {
        let invalid = input <= 0
        var x = input > Float.leastNormalMagnitude ? input : Float.leastNormalMagnitude  // _mm256_max_ps
        let imm0 = Int32(bitPattern: x.bitPattern >> 23) - 0x7f
        x = Float(bitPattern: (x.bitPattern & ~UInt32(0x7f80_0000)) | Float(0.5).bitPattern)
        var e = Float(imm0) + 1
        let below = x < sqrtHF
        let tmp: Float = below ? x : 0
        x = x - 1
        e = e - (below ? 1 : 0)
        x = x + tmp
        let z = x * x
        var y = fma(logP[0], x, logP[1])
        for k in 2...8 { y = fma(y, x, logP[k]) }
        y = y * x
        y = fma(y, z, e * logQ1)        // y*z + e*q1
        y = fma(-z, 0.5, y)             // y - z*0.5
        x = x + y
        x = fma(e, logQ2, x)            // x + e*q2
        return invalid ? Float(bitPattern: 0xFFFF_FFFF) : x
    }

    /// `sincos256_ps` for one lane (Cephes range reduction by π/4 in three parts, two polynomials).
    @inline(__always)
    static func sincos(_ input: Float) -> (sin: Float, cos: Float) {
        var x = Float(bitPattern: input.bitPattern & 0x7fff_ffff)
        var signSin = input.bitPattern & 0x8000_0000
        let scaled = x * fourOverPi
        // _mm256_cvttps_epi32 truncates; out-of-range lanes give INT32_MIN (never reached for θ ∈ [0, 2π)).
        var j: Int32 = scaled.isFinite && abs(scaled) < 2_147_483_648 ? Int32(scaled) : Int32.min
        j = (j &+ 1) & ~1
        let y = Float(j)
        signSin ^= UInt32(bitPattern: (j & 4) << 29)
        let polyMask = (j & 2) == 0
        x = fma(y, minusDP1, x)
        x = fma(y, minusDP2, x)
        x = fma(y, minusDP3, x)
        let signCos = UInt32(bitPattern: (~(j &- 2) & 4) << 29)
        let z = x * x
        let tmp = z * 0.5
        var yc = fma(cosP0, z, cosP1)
        yc = fma(yc, z, cosP2)
        yc = yc * z
        yc = fma(z, yc, -tmp)           // (y*z)*z - z*0.5
        yc = yc + 1
        var ys = fma(sinP0, z, sinP1)
        ys = fma(ys, z, sinP2)
        ys = ys * z
        ys = fma(x, ys, x)              // (y2*z)*x + x
        let ysin2: Float = polyMask ? ys : 0
        let ysin1: Float = polyMask ? 0 : yc
        let s = ysin1 + ysin2
        let c = (ys - ysin2) + (yc - ysin1)
        return (Float(bitPattern: s.bitPattern ^ signSin), Float(bitPattern: c.bitPattern ^ signCos))
    }
}
