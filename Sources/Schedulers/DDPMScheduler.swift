// Mirrors diffusers schedulers/scheduling_ddpm.py (DDPMScheduler @ 0.42.1, with the learned_range fix of
// diffusers PR #2090): Ho et al., "Denoising Diffusion Probabilistic Models", formulas (6), (7), (15).
import Foundation
import Random
import TensorCore

/// Ancestral DDPM sampling (diffusers `DDPMScheduler`), on any subset of the training chain.
///
/// Notation: t' is the previous timestep (the next schedule entry, −1 after the last), `abT` ᾱ_t,
/// `abPrev` ᾱ_{t'} (1 for t' < 0), `curBeta` β = 1 − ᾱ_t/ᾱ_{t'}, `x0` x̂₀. The posterior mean is
/// μ = √ᾱ_{t'}·β/(1−ᾱ_t)·x̂₀ + √(1−β)·(1−ᾱ_{t'})/(1−ᾱ_t)·x_t (formula (7)), plus σ·z for t > 0 with
/// β̃ = max((1−ᾱ_{t'})/(1−ᾱ_t)·β, 1e-20) and σ per `variance_type`.
///
/// With `setTimesteps(custom:)` and `variance_type = learned_range`, `squaredcos_cap_v2`, this reproduces
/// ``UnCLIPScheduler`` on unCLIP's timesteps (to Float rounding: β is always recomputed from ᾱ here).
public struct DDPMScheduler: ConfigurableScheduler, ChainScheduler {
    /// `scheduler_config.json` of a `DDPMScheduler`.
    public struct Configuration: Codable, Equatable, Sendable {
        public var numTrainTimesteps = 1000
        public var betaStart = 0.0001
        public var betaEnd = 0.02
        public var betaSchedule = BetaSchedule.linear
        public var trainedBetas: [Double]?
        /// `fixed_small`, `fixed_small_log`, `fixed_large`, `learned` or `learned_range` (`fixed_large_log` is rejected).
        public var varianceType = VarianceType.fixedSmall
        public var clipSample = true
        public var predictionType = PredictionType.epsilon
        /// Dynamic thresholding: not implemented, `true` is rejected.
        public var thresholding = false
        public var clipSampleRange = 1.0
        public var timestepSpacing = TimestepSpacing.leading
        public var stepsOffset = 0
        /// Not implemented, `true` is rejected.
        public var rescaleBetasZeroSnr = false

        enum CodingKeys: String, CodingKey {
            case numTrainTimesteps = "num_train_timesteps", betaStart = "beta_start", betaEnd = "beta_end"
            case betaSchedule = "beta_schedule", trainedBetas = "trained_betas", varianceType = "variance_type"
            case clipSample = "clip_sample", predictionType = "prediction_type", thresholding
            case clipSampleRange = "clip_sample_range", timestepSpacing = "timestep_spacing", stepsOffset = "steps_offset"
            case rescaleBetasZeroSnr = "rescale_betas_zero_snr"
        }

        /// diffusers' defaults.
        public init() {}

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            numTrainTimesteps = try c.value(.numTrainTimesteps, default: numTrainTimesteps)
            betaStart = try c.value(.betaStart, default: betaStart)
            betaEnd = try c.value(.betaEnd, default: betaEnd)
            betaSchedule = try c.choice(.betaSchedule, default: betaSchedule)
            trainedBetas = try c.value(.trainedBetas, default: trainedBetas)
            varianceType = try c.choice(.varianceType, default: varianceType)
            clipSample = try c.value(.clipSample, default: clipSample)
            predictionType = try c.choice(.predictionType, default: predictionType)
            thresholding = try c.value(.thresholding, default: thresholding)
            clipSampleRange = try c.value(.clipSampleRange, default: clipSampleRange)
            timestepSpacing = try c.choice(.timestepSpacing, default: timestepSpacing)
            stepsOffset = try c.value(.stepsOffset, default: stepsOffset)
            rescaleBetasZeroSnr = try c.value(.rescaleBetasZeroSnr, default: rescaleBetasZeroSnr)
        }
    }

    public static let className = "DDPMScheduler"
    public let configuration: Configuration
    public let schedule: NoiseSchedule
    public private(set) var timesteps: [Int]
    public var trainTimestepCount: Int { configuration.numTrainTimesteps }
    /// Whether `setTimesteps` ran (diffusers' `num_inference_steps or custom_timesteps`): then the previous
    /// timestep is looked up in ``timesteps``; before, it is t − 1 (the full chain).
    private var hasSchedule = false

    public init(configuration: Configuration) throws {
        let name = Self.className
        try SchedulerConfigDecoding.checkTraining(name, trainTimesteps: configuration.numTrainTimesteps,
                                                  trainedBetas: configuration.trainedBetas)
        try SchedulerConfigDecoding.reject(configuration.thresholding, name, "thresholding")
        try SchedulerConfigDecoding.reject(configuration.rescaleBetasZeroSnr, name, "rescale_betas_zero_snr")
        try SchedulerConfigDecoding.reject(configuration.varianceType == .fixedLargeLog, name,
                                           "variance_type \"fixed_large_log\" (diffusers takes √ of a log variance)")
        self.configuration = configuration
        schedule = NoiseSchedule(count: configuration.numTrainTimesteps, schedule: configuration.betaSchedule,
                                 betaStart: configuration.betaStart, betaEnd: configuration.betaEnd,
                                 trainedBetas: configuration.trainedBetas)
        timesteps = Array((0..<configuration.numTrainTimesteps).reversed())
    }

    /// Lays out `count` steps with `timestep_spacing` (see ``TimestepSpacing``).
    public mutating func setTimesteps(_ count: Int) throws {
        let train = configuration.numTrainTimesteps
        guard count >= 1, count <= train else {
            throw SchedulerError.invalidStepCount(scheduler: Self.className, count: count, reason: "needs 1…\(train)")
        }
        timesteps = TimestepLayout.values(configuration.timestepSpacing, count: count, train: train,
                                          stepsOffset: configuration.stepsOffset).map { Int($0) }
        hasSchedule = true
    }

    /// Uses exactly `custom` (strictly descending, below `num_train_timesteps`), e.g. unCLIP's
    /// `[999, 957, …, 42, 0]`; each step then goes to the next entry.
    public mutating func setTimesteps(custom: [Int]) throws {
        let train = configuration.numTrainTimesteps
        guard let first = custom.first, first < train, custom.last! >= 0,
              zip(custom, custom.dropFirst()).allSatisfy({ $0 > $1 }) else {
            throw SchedulerError.invalidStepCount(scheduler: Self.className, count: custom.count,
                                                  reason: "custom timesteps must be strictly descending within 0…\(train - 1)")
        }
        timesteps = custom
        hasSchedule = true
    }

    /// diffusers `previous_timestep`: the next schedule entry, −1 after the last.
    public func previousTimestep(_ t: Int) -> Int {
        guard hasSchedule else { return t - 1 }
        guard let i = timesteps.firstIndex(of: t) else {
            preconditionFailure("DDPMScheduler: timestep \(t) is not in the schedule")
        }
        return i + 1 < timesteps.count ? timesteps[i + 1] : -1
    }

    public mutating func step<R: RandomSource>(modelOutput: Tensor, timestep t: Int, sample: Tensor,
                                               random: inout R) -> SchedulerStepOutput {
        let prev = previousTimestep(t)
        let (output, predictedVariance) = SchedulerMath.splitLearnedVariance(modelOutput, like: sample)
        precondition(output.shape == sample.shape, "model output \(modelOutput.shape) does not match sample \(sample.shape)")
        let ac = schedule.alphasCumprod
        // 1. ᾱ_t, ᾱ_{t'}, and the step's α, β.
        let abT = ac[t], abPrev: Float = prev >= 0 ? ac[prev] : 1
        let bpT = 1 - abT, bpPrev = 1 - abPrev
        let curAlpha = abT / abPrev
        let curBeta = 1 - curAlpha
        // 2. x̂₀ (formula (15)).
        let sa = abT.squareRoot(), sb = bpT.squareRoot()
        var x0: Tensor
        switch configuration.predictionType {
        case .epsilon: x0 = SchedulerMath.zip(sample, output) { x, e in (x - sb * e) / sa }
        case .sample: x0 = output.copy()
        case .vPrediction: x0 = SchedulerMath.zip(sample, output) { x, v in sa * x - sb * v }
        }
        // 3. Clip x̂₀.
        if configuration.clipSample { x0 = SchedulerMath.clamp(x0, Float(configuration.clipSampleRange)) }
        // 4. Posterior mean μ̃_t (formula (7)).
        let x0Coeff = (abPrev.squareRoot() * curBeta) / bpT
        let sampleCoeff = curAlpha.squareRoot() * bpPrev / bpT
        var prevSample = SchedulerMath.zip(x0, sample) { a, b in x0Coeff * a + sampleCoeff * b }
        // 5. Noise for t > 0.
        if t > 0 {
            let noise = random.randn(output.shape)
            let variance = max(bpPrev / bpT * curBeta, Float(1e-20))
            let std: Tensor
            switch configuration.varianceType {
            case .fixedSmall:
                let s = variance.squareRoot()
                std = SchedulerMath.map(noise) { _ in s }
            case .fixedSmallLog:
                let s = Foundation.exp(0.5 * Foundation.log(variance))
                std = SchedulerMath.map(noise) { _ in s }
            case .fixedLarge, .fixedLargeLog:
                let s = curBeta.squareRoot()
                std = SchedulerMath.map(noise) { _ in s }
            case .learned:
                guard let v = predictedVariance else { preconditionFailure("learned variance needs \(2 * sample.shape[1]) channels") }
                std = SchedulerMath.map(v) { $0.squareRoot() }
            case .learnedRange:
                guard let v = predictedVariance else { preconditionFailure("learned_range needs \(2 * sample.shape[1]) channels") }
                let minLog = Foundation.log(variance), maxLog = Foundation.log(curBeta)
                std = SchedulerMath.map(v) { p in
                    let frac = (p + 1) / 2
                    return Foundation.exp(0.5 * (frac * maxLog + (1 - frac) * minLog))
                }
            }
            prevSample = SchedulerMath.zip3(prevSample, std, noise) { m, s, z in m + s * z }
        }
        return SchedulerStepOutput(prevSample: prevSample, predOriginalSample: x0)
    }

    /// ᾱ of what the step from `timesteps[index]` produces (``previousTimestep(_:)``; 1 below t = 0, as `self.one`).
    public func alphaCumprodAfterStep(_ index: Int) -> Float {
        let prev = previousTimestep(timesteps[index])
        return prev >= 0 ? schedule.alphasCumprod[prev] : 1
    }
}
