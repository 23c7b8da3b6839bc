// Mirrors diffusers schedulers/scheduling_unclip.py (UnCLIPScheduler @ 0.42.1), i.e. guided-diffusion's
// `p_sample` on a respaced chain as Karlo samples its prior, decoder and super-resolution stages.
import Foundation
import Random
import TensorCore

/// The ancestral sampler of all three Karlo stages (diffusers `UnCLIPScheduler`).
///
/// Notation (code name → symbol): `abT` ᾱ_t, `abPrev` ᾱ_{t'} (t' the previous timestep of the *respaced*
/// schedule, ᾱ_{−1} = 1), `bpT` 1 − ᾱ_t, `bpPrev` 1 − ᾱ_{t'}, `beta` β = 1 − ᾱ_t/ᾱ_{t'} (the table's β_t when
/// t' = t − 1), `x0` x̂₀. The step computes the posterior mean
/// μ = √ᾱ_{t'}·β/(1−ᾱ_t) · x̂₀ + √(1−β)·(1−ᾱ_{t'})/(1−ᾱ_t) · x_t and adds σ·z for t > 0 with
/// σ² = β̃ = (1−ᾱ_{t'})/(1−ᾱ_t)·β (`fixed_small_log`) or exp(frac·log β + (1−frac)·log β̃), frac = (v+1)/2
/// (`learned_range`, v from the model's extra channels).
public struct UnCLIPScheduler: ConfigurableScheduler, ChainScheduler {
    /// `scheduler_config.json` of an `UnCLIPScheduler` (Karlo's three stage configs use these keys).
    public struct Configuration: Codable, Equatable, Sendable {
        public var numTrainTimesteps = 1000
        /// `fixed_small_log` (prior, super-res) or `learned_range` (decoder).
        public var varianceType = VarianceType.fixedSmallLog
        public var clipSample = true
        public var clipSampleRange = 1.0
        /// `epsilon` (decoder, super-res) or `sample` (prior).
        public var predictionType = PredictionType.epsilon
        /// Only `squaredcos_cap_v2` (as diffusers).
        public var betaSchedule = BetaSchedule.squaredcosCapV2

        enum CodingKeys: String, CodingKey {
            case numTrainTimesteps = "num_train_timesteps", varianceType = "variance_type", clipSample = "clip_sample"
            case clipSampleRange = "clip_sample_range", predictionType = "prediction_type", betaSchedule = "beta_schedule"
        }

        /// diffusers' defaults.
        public init() {}

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            numTrainTimesteps = try c.value(.numTrainTimesteps, default: numTrainTimesteps)
            varianceType = try c.choice(.varianceType, default: varianceType)
            clipSample = try c.value(.clipSample, default: clipSample)
            clipSampleRange = try c.value(.clipSampleRange, default: clipSampleRange)
            predictionType = try c.choice(.predictionType, default: predictionType)
            betaSchedule = try c.choice(.betaSchedule, default: betaSchedule)
        }
    }

    public static let className = "UnCLIPScheduler"
    public let configuration: Configuration
    /// β, α, ᾱ of the training chain.
    public let schedule: NoiseSchedule
    public private(set) var timesteps: [Int]
    public var trainTimestepCount: Int { configuration.numTrainTimesteps }

    public init(configuration: Configuration) throws {
        let name = Self.className
        try SchedulerConfigDecoding.checkTraining(name, trainTimesteps: configuration.numTrainTimesteps, trainedBetas: nil)
        try SchedulerConfigDecoding.reject(configuration.betaSchedule != .squaredcosCapV2, name,
                                           "beta_schedule \"\(configuration.betaSchedule.rawValue)\" (only squaredcos_cap_v2)")
        try SchedulerConfigDecoding.reject(![.fixedSmallLog, .learnedRange].contains(configuration.varianceType), name,
                                           "variance_type \"\(configuration.varianceType.rawValue)\" (fixed_small_log or learned_range)")
        try SchedulerConfigDecoding.reject(configuration.predictionType == .vPrediction, name,
                                           "prediction_type \"v_prediction\" (epsilon or sample)")
        self.configuration = configuration
        schedule = NoiseSchedule(count: configuration.numTrainTimesteps, schedule: .squaredcosCapV2, betaStart: 0, betaEnd: 0)
        timesteps = Array((0..<configuration.numTrainTimesteps).reversed())
    }

    /// `round(arange(N) · (T−1)/(N−1))` reversed, rounding half to even (N = 25: 999, 957, 916, …, 42, 0;
    /// N = 7: 999, 832, 666, 500, 333, 166, 0). The same layout as Karlo's `space_timesteps(T, "N")`.
    public mutating func setTimesteps(_ count: Int) throws {
        let train = configuration.numTrainTimesteps
        guard count >= 2, count <= train else {
            throw SchedulerError.invalidStepCount(scheduler: Self.className, count: count, reason: "needs 2…\(train)")
        }
        let ratio = Double(train - 1) / Double(count - 1)
        timesteps = (0..<count).reversed().map { Int(NumPy.round(Double($0) * ratio)) }
    }

    /// The step the pipeline takes: the previous timestep is the next entry of ``timesteps``
    /// (diffusers' unCLIP pipeline passes `prev_timestep=timesteps[i + 1]`), or t − 1 after the last entry.
    public mutating func step<R: RandomSource>(modelOutput: Tensor, timestep: Int, sample: Tensor,
                                               random: inout R) -> SchedulerStepOutput {
        var prev: Int?
        if let i = timesteps.firstIndex(of: timestep), i + 1 < timesteps.count { prev = timesteps[i + 1] }
        return step(modelOutput: modelOutput, timestep: timestep, prevTimestep: prev, sample: sample, random: &random)
    }

    /// One step from `timestep` to `prevTimestep` (`nil`: t − 1), as `UnCLIPScheduler.step(..., prev_timestep=)`.
    ///
    /// `modelOutput` may carry twice the sample's channels (ε first, then v); `learned_range` requires them.
    /// The noise (sample-shaped, one draw) is drawn only when t > 0.
    public func step<R: RandomSource>(modelOutput: Tensor, timestep t: Int, prevTimestep: Int?, sample: Tensor,
                                      random: inout R) -> SchedulerStepOutput {
        // Extra channels are split off (diffusers does so only for learned_range; here fixed_small_log
        // simply ignores them, so a learned-variance model also runs with it).
        let (output, predictedVariance) = SchedulerMath.splitLearnedVariance(modelOutput, like: sample)
        precondition(output.shape == sample.shape, "model output \(modelOutput.shape) does not match sample \(sample.shape)")
        let ac = schedule.alphasCumprod
        // 1. ᾱ and β of the respaced step.
        let prev = prevTimestep ?? t - 1
        let abT = ac[t], abPrev: Float = prev >= 0 ? ac[prev] : 1
        let bpT = 1 - abT, bpPrev = 1 - abPrev
        let beta: Float, alpha: Float
        if prev == t - 1 {
            beta = schedule.betas[t]; alpha = schedule.alphas[t]
        } else {
            beta = 1 - abT / abPrev; alpha = 1 - beta
        }
        // 2. x̂₀ from the prediction, then clipping.
        var x0: Tensor
        switch configuration.predictionType {
        case .epsilon:
            let sb = bpT.squareRoot(), sa = abT.squareRoot()
            x0 = SchedulerMath.zip(sample, output) { x, e in (x - sb * e) / sa }
        case .sample, .vPrediction:
            x0 = output.copy()
        }
        if configuration.clipSample { x0 = SchedulerMath.clamp(x0, Float(configuration.clipSampleRange)) }
        // 3. Posterior mean μ(x_t, x̂₀).
        let x0Coeff = (abPrev.squareRoot() * beta) / bpT
        let sampleCoeff = alpha.squareRoot() * bpPrev / bpT
        var prevSample = SchedulerMath.zip(x0, sample) { a, b in x0Coeff * a + sampleCoeff * b }
        // 4. Noise, for t > 0 only.
        if t > 0 {
            let noise = random.randn(output.shape)
            let variance = bpPrev / bpT * beta
            if configuration.varianceType == .learnedRange {
                guard let v = predictedVariance else {
                    preconditionFailure("learned_range needs a model output with \(2 * sample.shape[1]) channels, got \(modelOutput.shape)")
                }
                let minLog = Foundation.log(variance), maxLog = Foundation.log(beta)
                let std = SchedulerMath.map(v) { p in
                    let frac = (p + 1) / 2
                    return Foundation.exp(0.5 * (frac * maxLog + (1 - frac) * minLog))
                }
                prevSample = SchedulerMath.zip3(prevSample, std, noise) { m, s, z in m + s * z }
            } else {
                let std = Foundation.exp(0.5 * Foundation.log(max(variance, Float(1e-20))))
                prevSample = SchedulerMath.zip(prevSample, noise) { m, z in m + std * z }
            }
        }
        return SchedulerStepOutput(prevSample: prevSample, predOriginalSample: x0)
    }

    /// ᾱ of what the step from `timesteps[index]` produces: the next entry's, or ᾱ_{t−1} (1 below t = 0) after the last.
    public func alphaCumprodAfterStep(_ index: Int) -> Float {
        let prev = index + 1 < timesteps.count ? timesteps[index + 1] : timesteps[index] - 1
        return prev >= 0 ? schedule.alphasCumprod[prev] : 1
    }
}
