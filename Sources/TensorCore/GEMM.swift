// unclip GEMM: the only file that calls cblas_sgemm (OpenBLAS), after ggml-blas's RowMajor/NoTrans/Trans use.
import CBLAS
import Foundation

/// Row-major single-precision matrix multiply, `C = alpha·op(A)·op(B) + beta·C`.
///
/// `op(A)` is `[m, k]`, `op(B)` is `[k, n]`, `C` is `[m, n]`. With `transB`, B is stored `[n, k]`: this
/// is how a PyTorch Linear weight `[out, in]` is used without a transpose.
public enum GEMM {
    /// Below this many multiply-adds a GEMM is not split across threads.
    public static let parallelThreshold = 1 << 21

    /// One OpenBLAS call on the current thread, counted in the current context's ``ComputeCounters``.
    @inline(__always)
    public static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        ComputeContext.current.counters.addFlops(Int64(2 * m * n * k))
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The same product split across the engine threads: by columns of C when `n ≥ m`, else by rows.
    /// Each part is one single-threaded OpenBLAS call on its own engine thread.
    public static func parallel(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                                b: UnsafePointer<Float>, ldb: Int,
                                beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let threads = Threading.count
        if threads == 1 || m * n * k < parallelThreshold {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                  b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        if n >= m {
            // Column blocks rounded to 16 (the AVX-512 kernel width).
            let parts = min(threads, max(1, n / 16))
            Threading.forEach(parts) { p in
                let lo = (n * p / parts) & ~15, hi = p == parts - 1 ? n : (n * (p + 1) / parts) & ~15
                guard hi > lo else { return }
                let bOff = transB ? lo * ldb : lo
                sgemm(transA: transA, transB: transB, m: m, n: hi - lo, k: k, alpha: alpha, a: a, lda: lda,
                      b: b + bOff, ldb: ldb, beta: beta, c: c + lo, ldc: ldc)
            }
        } else {
            let parts = min(threads, max(1, m / 8))
            Threading.forEach(parts) { p in
                let lo = m * p / parts, hi = m * (p + 1) / parts
                guard hi > lo else { return }
                let aOff = transA ? lo : lo * lda
                sgemm(transA: transA, transB: transB, m: hi - lo, n: n, k: k, alpha: alpha, a: a + aOff, lda: lda,
                      b: b, ldb: ldb, beta: beta, c: c + lo * ldc, ldc: ldc)
            }
        }
    }

    /// Naive reference: triple loop with Double accumulation. For tests only.
    public static func naive(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var acc = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    acc += Double(av) * Double(bv)
                }
                let prior = beta == 0 ? 0 : beta * c[i * ldc + j]
                c[i * ldc + j] = alpha * Float(acc) + prior
            }
        }
    }

    /// Batched product: for each `i` in `0..<batch`, `C_i = alpha·op(A_i)·op(B_i) + beta·C_i`, with element
    /// strides between consecutive matrices (a stride of 0 broadcasts one matrix to all).
    public static func batched(batch: Int, transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                               alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, strideA: Int,
                               b: UnsafePointer<Float>, ldb: Int, strideB: Int,
                               beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int) {
        let threads = Threading.count
        if batch >= threads && threads > 1 && batch * m * n * k >= parallelThreshold {
            Threading.parallelRanges(batch) { r in
                for i in r {
                    sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                          a: a + i * strideA, lda: lda, b: b + i * strideB, ldb: ldb,
                          beta: beta, c: c + i * strideC, ldc: ldc)
                }
            }
        } else {
            for i in 0..<batch {
                parallel(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                         a: a + i * strideA, lda: lda, b: b + i * strideB, ldb: ldb,
                         beta: beta, c: c + i * strideC, ldc: ldc)
            }
        }
    }
}

extension Ops {
    /// `y = x·Wᵀ + b` over the last dimension: x `[…, in]`, weight `[out, in]` (PyTorch layout), bias `[out]`.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, into y: Tensor) {
        let inF = weight.shape[1], outF = weight.shape[0]
        precondition(x.shape.last == inF, "linear: input \(x.shape) does not end in \(inF)")
        let rows = x.count / inF
        precondition(y.count == rows * outF, "linear: output \(y.shape) is not [\(rows), \(outF)]")
        if let bias {
            // Pre-fill C with the bias, then accumulate (beta = 1): one pass fewer than adding afterwards.
            for r in 0..<rows { (y.data + r * outF).update(from: bias.data, count: outF) }
        }
        GEMM.parallel(transA: false, transB: true, m: rows, n: outF, k: inF, a: x.data, lda: inF,
                      b: weight.data, ldb: inF, beta: bias == nil ? 0 : 1, c: y.data, ldc: outF)
    }

    /// Allocating form of `linear(_:weight:bias:into:)`.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [weight.shape[0]])
        linear(x, weight: weight, bias: bias, into: y)
        return y
    }
}

/// Namespace for tensor operations. Each fast path has a naive reference in `Reference`.
public enum Ops {}

/// Naive reference kernels: straightforward loops, used by tests to check the fast paths.
public enum Reference {}
