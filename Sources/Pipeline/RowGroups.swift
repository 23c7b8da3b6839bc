// Mirrors diffusers/utils/torch_utils.py `randn_tensor` with one generator or a list of them, and the batch-dimension
// torch ops the unCLIP pipelines use (`torch.cat`, `repeat_interleave`, `chunk(2)`, classifier-free guidance).
import Foundation
import Random
import TensorCore

/// How a batch is computed: groups of rows that share one generator and go through the networks together.
///
/// - ``NoiseMode/shared(seed:)``: one group holding every row and one generator, as diffusers with a single
///   `torch.Generator`: every draw is batch-shaped and comes from that stream.
/// - ``NoiseMode/perImage(seed:)``: one group per image, image `i` with its own generator seeded `seed + i`,
///   which draws exactly what `randn_tensor` draws for row `i` with a list of generators. Each image also goes
///   through every network call on its own (batch 1, or 2 under guidance), so image `i` of a batch is bit for
///   bit the image a run of that image alone gives; diffusers batches the rows, which agrees to fp32 rounding.
///
/// The groups of a stage advance in lockstep (step `k` of every group before step `k + 1`), so each stage
/// loads its networks once and the super-res stage switches from `super_res_first` to `super_res_last` once.
struct RowGroups {
    /// The batch rows of each group, in order.
    let ranges: [Range<Int>]
    /// Each group's generator; its state carries over from stage to stage.
    var randoms: [TorchRandomSource]

    init(_ mode: NoiseMode, batch: Int) {
        switch mode {
        case .shared(let seed):
            ranges = [0..<batch]
            randoms = [TorchRandomSource(seed: seed)]
        case .perImage(let seed):
            ranges = (0..<batch).map { $0..<($0 + 1) }
            randoms = (0..<batch).map { TorchRandomSource(seed: seed &+ UInt64($0)) }
        }
    }

    var count: Int { ranges.count }
}

extension Tensor {
    /// Copies of batch rows `rows` (dimension 0).
    func rows(_ rows: Range<Int>) -> Tensor {
        slice(outer: rows.lowerBound, count: rows.count).copy()
    }
}

/// Batch-dimension helpers (dimension 0).
enum TensorRows {
    /// `torch.cat([a, b], dim=0)`.
    static func concat(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(Array(a.shape.dropFirst()) == Array(b.shape.dropFirst()), "cat: \(a.shape) and \(b.shape)")
        let y = Tensor(uninitialized: [a.shape[0] + b.shape[0]] + a.shape.dropFirst())
        y.data.update(from: a.data, count: a.count)
        (y.data + a.count).update(from: b.data, count: b.count)
        return y
    }

    /// `torch.cat(parts, dim=0)`.
    static func concat(_ parts: [Tensor]) -> Tensor {
        parts.count == 1 ? parts[0] : parts.dropFirst().reduce(parts[0]) { concat($0, $1) }
    }

    /// `t.repeat_interleave(n, dim=0)`.
    static func repeatInterleave(_ t: Tensor, _ n: Int) -> Tensor {
        if n == 1 { return t }
        let rows = t.shape[0], inner = t.count / max(rows, 1)
        let y = Tensor(uninitialized: [rows * n] + t.shape.dropFirst())
        for r in 0..<rows { for k in 0..<n { (y.data + (r * n + k) * inner).update(from: t.data + r * inner, count: inner) } }
        return y
    }

    /// The uncond/cond halves of a `[2B, …]` batch, as `chunk(2)` (views).
    static func halves(_ t: Tensor) -> (Tensor, Tensor) {
        let b = t.shape[0] / 2
        return (t.slice(outer: 0, count: b), t.slice(outer: b, count: b))
    }

    /// Classifier-free guidance `uncond + scale · (cond − uncond)` on the first `channels` channels of each row
    /// (`[B, C, …]`); the other channels are taken from `cond` (the decoder's predicted variance).
    /// `channels = nil` guides everything (the prior's x̂₀).
    static func guide(_ output: Tensor, scale: Float, channels: Int? = nil) -> Tensor {
        let (u, c) = halves(output)
        let b = u.shape[0], perRow = u.count / max(b, 1)
        let guided = channels.map { $0 * (perRow / u.shape[1]) } ?? perRow
        let y = Tensor(uninitialized: u.shape)
        for r in 0..<b {
            let yu = u.data + r * perRow, yc = c.data + r * perRow, yy = y.data + r * perRow
            for i in 0..<guided { yy[i] = yu[i] + scale * (yc[i] - yu[i]) }          // torch: u + s·(c − u), float32
            if guided < perRow { (yy + guided).update(from: yc + guided, count: perRow - guided) }
        }
        return y
    }
}
