// Fast paths against the naive reference kernels beside them (shapes that hit every branch).
import TensorCore
import XCTest

final class FastPathTests: XCTestCase {
    /// Every test computes in a 2-thread context.
    override func invokeTest() { ComputeContext(threads: 2).run { super.invokeTest() } }

    func testGEMMAllTransposes() {
        for (m, n, k) in [(1, 1, 1), (7, 300, 33), (300, 7, 129), (130, 140, 150)] {
            for ta in [false, true] {
                for tb in [false, true] {
                    let a = pseudoRandom(ta ? [k, m] : [m, k], seed: 1), b = pseudoRandom(tb ? [n, k] : [k, n], seed: 2)
                    let c0 = pseudoRandom([m, n], seed: 3), c1 = c0.copy()
                    GEMM.parallel(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.5, a: a.data, lda: ta ? m : k,
                                  b: b.data, ldb: tb ? k : n, beta: 0.25, c: c0.data, ldc: n)
                    GEMM.naive(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.5, a: a.data, lda: ta ? m : k,
                               b: b.data, ldb: tb ? k : n, beta: 0.25, c: c1.data, ldc: n)
                    assertClose(c0.scalars, c1.scalars, relTol: 1e-5, "gemm \(m)×\(n)×\(k) tA \(ta) tB \(tb)")
                }
            }
        }
    }

    func testBatchedGEMMBroadcast() {
        let a = pseudoRandom([3, 20, 30], seed: 4), b = pseudoRandom([30, 25], seed: 5)
        let c = Tensor(zeros: [3, 20, 25])
        GEMM.batched(batch: 3, m: 20, n: 25, k: 30, a: a.data, lda: 30, strideA: 600, b: b.data, ldb: 25, strideB: 0,
                     c: c.data, ldc: 25, strideC: 500)
        for i in 0..<3 {
            let r = Tensor(zeros: [20, 25])
            GEMM.naive(m: 20, n: 25, k: 30, a: a.data + i * 600, lda: 30, b: b.data, ldb: 25, c: r.data, ldc: 25)
            assertClose(Array(c.scalars[(i * 500)..<((i + 1) * 500)]), r.scalars, relTol: 1e-5, "batched \(i)")
        }
    }

    func testConvBranches() {
        // Small-plane batched path, large-plane chunked path (with a chunk smaller than the plane), 1×1, stride 2.
        ComputeContext(threads: 2, convChunkFloats: 5000).run {
        for (n, cin, cout, h, w, k, s, p) in [(3, 5, 7, 6, 5, 3, 1, 1), (2, 3, 4, 40, 33, 3, 1, 1), (1, 6, 5, 9, 11, 1, 1, 0),
                                              (2, 4, 3, 11, 9, 3, 2, 1), (1, 2, 3, 35, 40, 5, 1, 2)] {
            let x = pseudoRandom([n, cin, h, w], seed: 6), wt = pseudoRandom([cout, cin, k, k], seed: 7)
            let b = pseudoRandom([cout], seed: 8)
            let g = ConvGeometry(kernel: k, stride: s, padding: p)
            let y = Ops.conv2d(x, weight: wt, bias: b, geometry: g)
            let r = Reference.conv2d(x.scalars, n: n, cin: cin, h: h, w: w, weight: wt.scalars, cout: cout, bias: b.scalars, geometry: g)
            assertClose(y.scalars, r, relTol: 1e-5, "conv n\(n) \(cin)→\(cout) \(h)×\(w) k\(k) s\(s) p\(p)")
        }
        }
    }

    func testNormsAndActivationsAgainstReference() {
        let x = pseudoRandom([2, 64, 33], seed: 9, scale: 3)
        let y = Tensor(uninitialized: x.shape)
        Ops.groupNorm(x, groups: 8, eps: 1e-5, weight: nil, bias: nil, activation: .gelu, into: y)
        assertClose(y.scalars, Reference.groupNorm(x.scalars, n: 2, c: 64, groups: 8, eps: 1e-5, weight: nil, bias: nil, activation: .gelu),
                    relTol: 1e-5, "groupnorm+gelu")
        Ops.layerNorm(x, weight: nil, bias: nil, eps: 1e-5, into: y)
        assertClose(y.scalars, Reference.layerNorm(x.scalars, cols: 33, weight: nil, bias: nil, eps: 1e-5), relTol: 1e-5, "layernorm")
        for f in [Activation.silu, .quickGELU, .gelu] {
            Ops.activation(f, x, into: y)
            assertClose(y.scalars, Reference.activation(f, x.scalars), relTol: 1e-6, absTol: 2e-7, "\(f)")
        }
    }

    func testAttentionQueryBlocksAndFusedOperands() {
        // One batch × one head forces query blocks; Q, K, V read from one fused [B, T, 3C] projection.
        let qkv = pseudoRandom([1, 37, 3 * 16], seed: 10)
        let out = Tensor(uninitialized: [1, 37, 16])
        Ops.attention(q: AttentionOperand(qkv, offset: 0), k: AttentionOperand(qkv, offset: 16), v: AttentionOperand(qkv, offset: 32),
                      batch: 1, heads: 1, headDim: 16, causal: true, into: out)
        var q = [Float](), k = [Float](), v = [Float]()
        for t in 0..<37 {
            for c in 0..<16 { q.append(qkv.data[t * 48 + c]); k.append(qkv.data[t * 48 + 16 + c]); v.append(qkv.data[t * 48 + 32 + c]) }
        }
        let r = Reference.attention(q: q, k: k, v: v, batch: 1, tq: 37, tk: 37, heads: 1, headDim: 16, mask: nil, maskPerQuery: false, causal: true)
        assertClose(out.scalars, r, relTol: 1e-5, "fused causal attention")
    }

    func testThreadCountsAgree() {
        let x = pseudoRandom([2, 32, 20, 20], seed: 11), w = pseudoRandom([16, 32, 3, 3], seed: 12)
        let one = ComputeContext(threads: 1).run { Ops.conv2d(x, weight: w, bias: nil, geometry: ConvGeometry(kernel: 3, padding: 1)).scalars }
        let three = ComputeContext(threads: 3).run { Ops.conv2d(x, weight: w, bias: nil, geometry: ConvGeometry(kernel: 3, padding: 1)).scalars }
        assertClose(three, one, relTol: 1e-6, "1 vs 3 threads")
    }
}
