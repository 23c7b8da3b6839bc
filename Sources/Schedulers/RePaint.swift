// Mirrors diffusers schedulers/scheduling_repaint.py (RePaintScheduler @ 0.42.1: `set_timesteps(jump_length,
// jump_n_sample)` and `undo_step`) and RePaint (Lugmayr et al. 2022, Algorithm 1), generalised to respaced schedules.
import Foundation
import Random
import TensorCore

/// A scheduler on the variance-preserving chain x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε whose steps go from one entry of its
/// schedule to the next, so it can also go *back up* one step (RePaint's resampling): UnCLIP, DDPM and DDIM.
/// Multistep and σ-parameterised samplers (DPM-Solver++, Euler) carry history or state that a jump would invalidate,
/// and do not conform.
public protocol ChainScheduler: Scheduler {
    /// β, α, ᾱ of the training chain.
    var schedule: NoiseSchedule { get }

    /// ᾱ of the sample that the step from `timesteps[index]` produces: the next entry's ᾱ, or, after the last entry,
    /// the chain's end as this scheduler's `step` uses it (1, or DDIM's `final_alpha_cumprod`).
    func alphaCumprodAfterStep(_ index: Int) -> Float
}

extension ChainScheduler {
    /// q(x_t | x₀) for each batch element's timestep: √ᾱ_t · x₀ + √(1 − ᾱ_t) · noise (diffusers' `add_noise`).
    public func addNoise(original: Tensor, noise: Tensor, timesteps: [Int]) -> Tensor {
        let batch = original.shape.first ?? 1
        let ac = schedule.alphasCumprod
        return SchedulerMath.addNoise(original, noise,
                                      a: SchedulerMath.perBatch(timesteps, batch: batch) { ac[$0].squareRoot() },
                                      c: SchedulerMath.perBatch(timesteps, batch: batch) { (1 - ac[$0]).squareRoot() })
    }

    /// The ratio r = ᾱ_t / ᾱ_prev of the step from `timesteps[index]` (t) to what it produces (prev).
    public func jumpRatio(overStep index: Int) -> Float {
        schedule.alphasCumprod[timesteps[index]] / alphaCumprodAfterStep(index)
    }

    /// Undoes the step from `timesteps[index]`: q(x_t | x_prev) = N(√r · x_prev, (1 − r)·I), r = ᾱ_t / ᾱ_prev, with
    /// `noise` ~ N(0, I). On a chain of single training steps (r = α_t = 1 − β_t) this is diffusers'
    /// `RePaintScheduler.undo_step`; on a respaced schedule it is the same variance-preserving jump over the whole
    /// stretch with one draw (diffusers loops over T // N table βs drawing each time, starting at the wrong β).
    public func jumpForward(_ sample: Tensor, overStep index: Int, noise: Tensor) -> Tensor {
        let r = jumpRatio(overStep: index)
        let a = r.squareRoot(), c = (1 - r).squareRoot()
        return SchedulerMath.zip(sample, noise) { x, z in a * x + c * z }
    }

    /// ``jumpForward(_:overStep:noise:)`` with the noise drawn from `random` (one sample-shaped draw).
    public func jumpForward<R: RandomSource>(_ sample: Tensor, overStep index: Int, random: inout R) -> Tensor {
        jumpForward(sample, overStep: index, noise: random.randn(sample.shape))
    }
}

/// RePaint's walk over a schedule of `N` steps: down one step at a time, and every `jumpLength` steps (below the
/// top) back up `jumpLength` steps and down again, `resamples − 1` extra times — diffusers' `set_timesteps(N,
/// jump_length, jump_n_sample)`. Each level is then denoised `resamples` times (except the top `jumpLength`), so a
/// run costs about `resamples`× the model calls of a plain one.
public struct RePaintPlan: Sendable, Equatable {
    /// One move of the walk over the indices of a scheduler's `timesteps`.
    public enum Move: Sendable, Equatable {
        /// The model step from `timesteps[i]` to what follows it.
        case denoise(Int)
        /// Back up over the step from `timesteps[i]`: from what it produced to `timesteps[i]` (``ChainScheduler/jumpForward(_:overStep:noise:)``).
        case renoise(Int)
    }

    public let steps: Int, jumpLength: Int, resamples: Int
    public let moves: [Move]

    /// - Parameters:
    ///   - steps: the schedule's length N (≥ 1).
    ///   - jumpLength: steps to go back up per jump (RePaint's j, ≥ 1).
    ///   - resamples: times each stretch is denoised (RePaint's r, ≥ 1; 1 = no resampling, a plain walk).
    public init(steps: Int, jumpLength: Int = 10, resamples: Int = 10) throws {
        guard steps >= 1 else { throw SchedulerError.invalidStepCount(scheduler: "RePaint", count: steps, reason: "needs ≥ 1") }
        guard jumpLength >= 1, resamples >= 1 else {
            throw SchedulerError.unsupported(scheduler: "RePaint", option: "jump length \(jumpLength) / resample count \(resamples) (both must be ≥ 1)")
        }
        self.steps = steps; self.jumpLength = jumpLength; self.resamples = resamples
        let levels = Self.levels(steps: steps, jumpLength: jumpLength, resamples: resamples)
        // Level L is timesteps[N − 1 − L]; diffusers' loop denoises at L when it goes down to L from above, and
        // undoes the step at L − 1… i.e. moves back up from level L − 1 to L, when it goes up.
        var moves: [Move] = []
        var last = steps
        for level in levels {
            moves.append(level < last ? .denoise(steps - 1 - level) : .renoise(steps - 1 - last))
            last = level
        }
        self.moves = moves
    }

    /// diffusers `RePaintScheduler.set_timesteps` before its `* (T // N)`: the sequence of levels N − 1 … 0 with jumps.
    public static func levels(steps n: Int, jumpLength: Int, resamples: Int) -> [Int] {
        var jumps: [Int: Int] = [:]
        for j in stride(from: 0, to: n - jumpLength, by: jumpLength) { jumps[j] = resamples - 1 }
        var out: [Int] = []
        var t = n
        while t >= 1 {
            t -= 1
            out.append(t)
            if let left = jumps[t], left > 0 {
                jumps[t] = left - 1
                for _ in 0..<jumpLength { t += 1; out.append(t) }
            }
        }
        return out
    }

    /// Model calls of the walk.
    public var denoiseCount: Int { moves.filter { if case .denoise = $0 { return true } else { return false } }.count }
}

extension SchedulerError {
    /// The error for a scheduler that cannot go back up its chain.
    static func noRePaint(_ scheduler: any Scheduler) -> SchedulerError {
        .unsupported(scheduler: "\(type(of: scheduler))",
                     option: "RePaint resampling (it needs a sampler that steps along the ᾱ chain: unclip, ddpm or ddim)")
    }
}

extension Scheduler {
    /// This scheduler as a ``ChainScheduler``, or an error naming it when it cannot jump back up its chain.
    public func chainScheduler() throws -> any ChainScheduler {
        guard let c = self as? any ChainScheduler else { throw SchedulerError.noRePaint(self) }
        return c
    }
}
