// Mirrors RePaint (Lugmayr et al. 2022, Algorithm 1; diffusers RePaintScheduler.step's `prev_known_part`) and SDEdit's
// start from the forward-noised source: the pixels a denoising loop must keep, and how they are put back at each step.
import Foundation
import Random
import Schedulers
import TensorCore

/// The known part of an edit at one stage's resolution: after every step the known pixels are replaced by the source
/// forward-noised to the sample's noise level, so the model fills the rest in agreement with them.
struct KnownRegion {
    /// `[1, C, S, S]` in [−1, 1]: the source at the stage's resolution.
    let source: Tensor
    /// `S·S` weights, 1 = keep the source, 0 = generate.
    let known: [Float]
    /// The walk: plain steps or RePaint's resampling jumps, from ``start`` on.
    let moves: [RePaintPlan.Move]
    /// The first schedule index run (SDEdit: a strength below 1 skips the noisiest steps).
    let start: Int

    /// - Parameters:
    ///   - steps: the stage's schedule length; `strength` ∈ (0, 1] keeps the last ⌈strength·steps⌉ of them.
    init(source: Tensor, known: [Float], steps: Int, strength: Float, jumpLength: Int, resamples: Int) throws {
        precondition(source.rank == 4 && source.shape[0] == 1 && known.count == source.shape[2] * source.shape[3])
        self.source = source
        self.known = known
        let first = steps - max(1, min(steps, Int((strength * Float(steps)).rounded(.up))))
        let plan = try RePaintPlan(steps: steps, jumpLength: max(1, min(jumpLength, steps)), resamples: resamples)
        start = first
        moves = plan.moves.filter {
            switch $0 { case .denoise(let i), .renoise(let i): return i >= first }
        }
    }

    /// `x` with the known pixels (all of them when `everywhere`) set to √ᾱ·source + √(1−ᾱ)·noise.
    func noised(_ x: Tensor, alphaCumprod ab: Float, noise: Tensor, everywhere: Bool = false) -> Tensor {
        let y = x.copy()
        let b = x.shape[0], c = x.shape[1], plane = known.count
        let sa = ab.squareRoot(), sn = (1 - ab).squareRoot()
        for n in 0..<b {
            for ch in 0..<c {
                let base = (n * c + ch) * plane, src = source.data + ch * plane
                for p in 0..<plane {
                    let m = everywhere ? 1 : known[p]
                    if m == 0 { continue }
                    let v = sa * src[p] + sn * noise.data[base + p]
                    y.data[base + p] = m * v + (1 - m) * x.data[base + p]
                }
            }
        }
        return y
    }

    /// After a step that produced a sample at ᾱ: the known pixels from q(x | source) with a fresh draw (the source
    /// itself at ᾱ = 1, the end of the chain, with no draw).
    func replaced<R: RandomSource>(_ x: Tensor, alphaCumprod ab: Float, random: inout R) -> Tensor {
        if ab >= 1 { return noised(x, alphaCumprod: 1, noise: x) }
        return noised(x, alphaCumprod: ab, noise: random.randn(x.shape))
    }
}
