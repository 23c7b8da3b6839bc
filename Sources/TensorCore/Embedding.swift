// Sinusoidal timestep embedding as diffusers.models.embeddings.get_timestep_embedding.
import Foundation

extension Ops {
    /// diffusers' `get_timestep_embedding(timesteps, dim, flip_sin_to_cos, downscale_freq_shift)` in float32:
    /// `freq_i = exp(−ln(max_period)·i/(half − shift))`, `arg = t·freq_i`, output `[sin | cos]`, or
    /// `[cos | sin]` with `flipSinToCos`; an odd `dim` is zero-padded.
    public static func timestepEmbedding(_ timesteps: [Float], dim: Int, flipSinToCos: Bool,
                                         downscaleFreqShift: Float, scale: Float = 1,
                                         maxPeriod: Float = 10000) -> Tensor {
        let half = dim / 2
        let out = Tensor(zeros: [timesteps.count, dim])
        let lnp = Float(-log(Double(maxPeriod)))
        var freqs = [Float](repeating: 0, count: half)
        for i in 0..<half { freqs[i] = expf(lnp * Float(i) / (Float(half) - downscaleFreqShift)) }
        for (b, t) in timesteps.enumerated() {
            let row = out.data + b * dim
            for i in 0..<half {
                let arg = scale * (t * freqs[i])
                let s = sinf(arg), c = cosf(arg)
                if flipSinToCos { row[i] = c; row[half + i] = s } else { row[i] = s; row[half + i] = c }
            }
        }
        return out
    }

    /// Rows of `table` `[V, C]` gathered by `ids` → `[ids.count, C]`.
    public static func embeddingLookup(_ table: Tensor, ids: [Int]) -> Tensor {
        let c = table.shape[1]
        let out = Tensor(uninitialized: [ids.count, c])
        for (i, id) in ids.enumerated() {
            precondition(id >= 0 && id < table.shape[0], "token id \(id) outside the vocabulary of \(table.shape[0])")
            (out.data + i * c).update(from: table.data + id * c, count: c)
        }
        return out
    }
}
