// Multi-head scaled-dot-product attention as torch.nn.functional.scaled_dot_product_attention
// (float additive mask, optional causal mask), on token-major [B, T, heads·D] tensors.
import Foundation

/// Where an attention operand lives: `[B, T, ·]` rows of `rowStride` floats, this operand starting at
/// column `offset` (lets Q, K and V share one fused projection output).
public struct AttentionOperand {
    /// Keeps the tensor alive while the operand is used (operands are often temporaries).
    public let tensor: Tensor
    public let data: UnsafePointer<Float>
    public let tokens: Int
    public let rowStride: Int
    public let batchStride: Int
    public init(_ t: Tensor, offset: Int = 0) {
        precondition(t.rank == 3, "attention operand must be [B, T, C], got \(t.shape)")
        tensor = t
        data = UnsafePointer(t.data + offset); tokens = t.shape[1]; rowStride = t.shape[2]
        batchStride = t.shape[1] * t.shape[2]
    }
}

/// An additive attention mask.
public enum AttentionMask {
    /// `[B, Tk]`: one bias per key, broadcast over heads and queries.
    case perKey(Tensor)
    /// `[B, Tq, Tk]`: one bias per query and key, broadcast over heads.
    case perQuery(Tensor)
}

extension Ops {
    /// `out[b, q, h·D + d] = Σ_k softmax_k(scale·Q·Kᵀ + mask (+ causal))[q, k] · V[k, d]` per head.
    /// - Parameters:
    ///   - heads: number of heads; each head has `D = width / heads` channels.
    ///   - causal: masks key `k > q` (as CLIP's text tower does).
    ///   - out: `[B, Tq, heads·D]`.
    public static func attention(q: AttentionOperand, k: AttentionOperand, v: AttentionOperand, batch: Int,
                                 heads: Int, headDim: Int, mask: AttentionMask? = nil, causal: Bool = false,
                                 scale: Float? = nil, into out: Tensor) {
        let tq = q.tokens, tk = k.tokens, width = heads * headDim
        precondition(v.tokens == tk && out.shape == [batch, tq, width], "attention: shapes disagree")
        let scl = scale ?? 1 / Float(headDim).squareRoot()
        // Work items: (batch, head, query block); query blocks only when there are fewer heads than threads.
        let context = ComputeContext.current, threads = context.threads
        let qBlocks = batch * heads >= threads ? 1 : min(tq, (threads + batch * heads - 1) / (batch * heads))
        let items = batch * heads * qBlocks
        let parts = min(threads, items)
        context.scratch.withLock { scratch in
            Threading.forEach(parts) { p in
                let scores = scratch.buffer(thread: p, slot: 2, count: ((tq + qBlocks - 1) / qBlocks) * tk)
                var item = p
                while item < items {
                    let b = item / (heads * qBlocks), h = (item / qBlocks) % heads, qb = item % qBlocks
                    let q0 = tq * qb / qBlocks, q1 = tq * (qb + 1) / qBlocks, rows = q1 - q0
                    let qp = q.data + b * q.batchStride + q0 * q.rowStride + h * headDim
                    let kp = k.data + b * k.batchStride + h * headDim
                    let vp = v.data + b * v.batchStride + h * headDim
                    GEMM.sgemm(transB: true, m: rows, n: tk, k: headDim, alpha: scl, a: qp, lda: q.rowStride,
                               b: kp, ldb: k.rowStride, c: scores, ldc: tk)
                    for r in 0..<rows {
                        let row = scores + r * tk, qi = q0 + r
                        switch mask {
                        case .perKey(let m)?: addRow(row, m.data + b * tk, tk)
                        case .perQuery(let m)?: addRow(row, m.data + (b * tq + qi) * tk, tk)
                        case nil: break
                        }
                        if causal && qi + 1 < tk { (row + qi + 1).update(repeating: -.infinity, count: tk - qi - 1) }
                        softmaxRow(row, tk)
                    }
                    GEMM.sgemm(m: rows, n: headDim, k: tk, a: scores, lda: tk, b: vp, ldb: v.rowStride,
                               c: out.data + (b * tq + q0) * width + h * headDim, ldc: width)
                    item += parts
                }
            }
        }
    }

    @inline(__always)
    static func addRow(_ row: UnsafeMutablePointer<Float>, _ m: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n { store16(load16(row + i) + load16(m + i), row + i); i += 16 }
        while i < n { row[i] += m[i]; i += 1 }
    }
}

extension Reference {
    /// Attention in Double: q `[B, Tq, H·D]`, k/v `[B, Tk, H·D]`, mask `[B, Tk]` or `[B, Tq, Tk]`.
    public static func attention(q: [Float], k: [Float], v: [Float], batch: Int, tq: Int, tk: Int, heads: Int,
                                 headDim: Int, mask: [Float]?, maskPerQuery: Bool, causal: Bool) -> [Float] {
        let width = heads * headDim, scale = 1 / Double(headDim).squareRoot()
        var out = [Float](repeating: 0, count: batch * tq * width)
        for b in 0..<batch { for h in 0..<heads { for i in 0..<tq {
            var s = [Double](repeating: 0, count: tk)
            for j in 0..<tk {
                var acc = 0.0
                for d in 0..<headDim {
                    acc += Double(q[(b * tq + i) * width + h * headDim + d]) * Double(k[(b * tk + j) * width + h * headDim + d])
                }
                s[j] = acc * scale
                if let mask { s[j] += Double(maskPerQuery ? mask[(b * tq + i) * tk + j] : mask[b * tk + j]) }
                if causal && j > i { s[j] = -.infinity }
            }
            let m = s.max()!
            let e = s.map { Foundation.exp($0 - m) }
            let z = e.reduce(0, +)
            for d in 0..<headDim {
                var acc = 0.0
                for j in 0..<tk { acc += e[j] / z * Double(v[(b * tk + j) * width + h * headDim + d]) }
                out[(b * tq + i) * width + h * headDim + d] = Float(acc)
            }
        } } }
        return out
    }
}
