// Vectorised float math for SIMD16<Float>: Cephes expf range reduction, Eigen's rational erf.
// These replace per-element libm calls in SiLU / GELU / softmax, which would dominate those loops.

/// Sixteen Float32 lanes (one AVX-512 register, two AVX2 ones).
public typealias F32x16 = SIMD16<Float>

// Note: SIMD `rounded(_:)`, `clamped(lowerBound:upperBound:)` and `SIMD16<Int32>(_:rounding:)` are
// scalarised by the Swift standard library (≈40× slower here); these kernels use only lane-wise
// arithmetic, comparisons with `replacing(with:where:)`, and bit casts.

/// Lane-wise clamp that compiles to vector min/max.
@inlinable @inline(__always)
public func simdClamp(_ v: F32x16, _ lo: Float, _ hi: Float) -> F32x16 {
    let l = F32x16(repeating: lo), h = F32x16(repeating: hi)
    return v.replacing(with: l, where: v .< l).replacing(with: h, where: v .> h)
}

/// Lane-wise maximum that compiles to vector max.
@inlinable @inline(__always)
public func simdMax(_ a: F32x16, _ b: F32x16) -> F32x16 { a.replacing(with: b, where: b .> a) }

/// e^x for 16 lanes (Cephes expf: x = n·ln2 + r, degree-6 polynomial in r; max relative error 7e-8 on
/// [-87, 88]). n is rounded to nearest with the 1.5·2²³ trick, whose low mantissa bits then hold n.
@inlinable @inline(__always)
public func simdExp(_ v: F32x16) -> F32x16 {
    var x = simdClamp(v, -87.3, 88.3)
    let magic = F32x16(repeating: 12582912.0)
    let t = x * 1.44269504088896341 + magic
    let fx = t - magic
    x = x - fx * 0.693359375
    x = x - fx * -2.12194440e-4
    let z = x * x
    var y = F32x16(repeating: 1.9875691500e-4)
    y = y * x + 1.3981999507e-3
    y = y * x + 8.3334519073e-3
    y = y * x + 4.1665795894e-2
    y = y * x + 1.6666665459e-1
    y = y * x + 5.0000001201e-1
    y = y * z + x + 1
    let n = unsafeBitCast(t, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
    return y * unsafeBitCast((n &+ 127) &<< 23, to: F32x16.self)
}

/// Logistic sigmoid 1/(1+e^-x) for 16 lanes.
@inlinable @inline(__always)
public func simdSigmoid(_ x: F32x16) -> F32x16 {
    1 / (1 + simdExp(-x))
}

/// erf(x) for 16 lanes (Eigen's odd/even rational approximation on [-4, 4]; ±1 beyond).
@inlinable @inline(__always)
public func simdErf(_ v: F32x16) -> F32x16 {
    let x = simdClamp(v, -4, 4)
    let x2 = x * x
    var p = x2 * -2.72614225801306e-10 + 2.77068142495902e-08
    p = x2 * p + -2.10102402082508e-06
    p = x2 * p + -5.69250639462346e-05
    p = x2 * p + -7.34990630326855e-04
    p = x2 * p + -2.95459980854025e-03
    p = x2 * p + -1.60960333262415e-02
    p = x * p
    var q = x2 * -1.45660718464996e-05 + -2.13374055278905e-04
    q = x2 * q + -1.68282697438203e-03
    q = x2 * q + -7.37332916720468e-03
    q = x2 * q + -1.42647390514189e-02
    return p / q
}

/// Loads up to 16 floats (zero-filled past `n`).
@inlinable @inline(__always)
func loadPartial(_ p: UnsafePointer<Float>, _ n: Int) -> F32x16 {
    var v = F32x16()
    for i in 0..<n { v[i] = p[i] }
    return v
}

/// Stores the first `n` lanes.
@inlinable @inline(__always)
func storePartial(_ v: F32x16, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n { p[i] = v[i] }
}

@inlinable @inline(__always)
func load16(_ p: UnsafePointer<Float>) -> F32x16 {
    UnsafeRawPointer(p).loadUnaligned(as: F32x16.self)
}

@inlinable @inline(__always)
func store16(_ v: F32x16, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F32x16.self)
}

/// Applies `f` to `n` floats from `src` into `dst` (which may equal `src`), 16 lanes at a time.
@inlinable @inline(__always)
func mapSIMD(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, _ f: (F32x16) -> F32x16) {
    var i = 0
    while i + 16 <= n {
        store16(f(load16(src + i)), dst + i)
        i += 16
    }
    if i < n { storePartial(f(loadPartial(src + i, n - i)), dst + i, n - i) }
}
