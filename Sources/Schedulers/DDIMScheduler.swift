// Mirrors diffusers schedulers/scheduling_ddim.py (DDIMScheduler @ 0.42.1): Song et al., "Denoising Diffusion
// Implicit Models", formulas (12) and (16).
import Foundation
import Random
import TensorCore

/// Deterministic (η = 0) or partly stochastic DDIM sampling (diffusers `DDIMScheduler`).
///
/// Notation: `abT` ᾱ_t, `abPrev` ᾱ_{t−Δ} (Δ = T // N; `final_alpha_cumprod` below 0), `bpT` 1 − ᾱ_t,
/// `x0` x̂₀, `eps` ε̂, `std` σ_t = η·√((1−ᾱ_{t−Δ})/(1−ᾱ_t) · (1 − ᾱ_t/ᾱ_{t−Δ})).
/// x_{t−Δ} = √ᾱ_{t−Δ}·x̂₀ + √(1 − ᾱ_{t−Δ} − σ_t²)·ε̂ + σ_t·z.
///
/// As in diffusers, the previous timestep is always t − T // N, whatever `timestep_spacing` laid out
/// (diffusers issue #2165): with `linspace` spacing it is not the next schedule entry.
/// Learned-variance model outputs (twice the sample's channels) are accepted: the extra channels are
/// dropped, as Karlo's `ddim_sample` does.
public struct DDIMScheduler: ConfigurableScheduler, ChainScheduler {
    /// `scheduler_config.json` of a `DDIMScheduler`, plus two engine keys: `eta` and
    /// `use_clipped_model_output` (diffusers passes them to `step`; here they are part of the configuration).
    public struct Configuration: Codable, Equatable, Sendable {
        public var numTrainTimesteps = 1000
        public var betaStart = 0.0001
        public var betaEnd = 0.02
        public var betaSchedule = BetaSchedule.linear
        public var trainedBetas: [Double]?
        public var clipSample = true
        public var setAlphaToOne = true
        public var stepsOffset = 0
        public var predictionType = PredictionType.epsilon
        /// Dynamic thresholding: not implemented, `true` is rejected.
        public var thresholding = false
        public var clipSampleRange = 1.0
        public var timestepSpacing = TimestepSpacing.leading
        /// Not implemented, `true` is rejected.
        public var rescaleBetasZeroSnr = false
        /// η: 0 is deterministic DDIM, 1 is DDPM-like ancestral sampling.
        public var eta = 0.0
        /// Re-derive ε̂ from the clipped x̂₀ (Karlo's `ddim_sample` always does).
        public var useClippedModelOutput = false

        enum CodingKeys: String, CodingKey {
            case numTrainTimesteps = "num_train_timesteps", betaStart = "beta_start", betaEnd = "beta_end"
            case betaSchedule = "beta_schedule", trainedBetas = "trained_betas", clipSample = "clip_sample"
            case setAlphaToOne = "set_alpha_to_one", stepsOffset = "steps_offset", predictionType = "prediction_type"
            case thresholding, clipSampleRange = "clip_sample_range", timestepSpacing = "timestep_spacing"
            case rescaleBetasZeroSnr = "rescale_betas_zero_snr", eta, useClippedModelOutput = "use_clipped_model_output"
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
            clipSample = try c.value(.clipSample, default: clipSample)
            setAlphaToOne = try c.value(.setAlphaToOne, default: setAlphaToOne)
            stepsOffset = try c.value(.stepsOffset, default: stepsOffset)
            predictionType = try c.choice(.predictionType, default: predictionType)
            thresholding = try c.value(.thresholding, default: thresholding)
            clipSampleRange = try c.value(.clipSampleRange, default: clipSampleRange)
            timestepSpacing = try c.choice(.timestepSpacing, default: timestepSpacing)
            rescaleBetasZeroSnr = try c.value(.rescaleBetasZeroSnr, default: rescaleBetasZeroSnr)
            eta = try c.value(.eta, default: eta)
            useClippedModelOutput = try c.value(.useClippedModelOutput, default: useClippedModelOutput)
        }
    }

    public static let className = "DDIMScheduler"
    public let configuration: Configuration
    public let schedule: NoiseSchedule
    public private(set) var timesteps: [Int]
    public var trainTimestepCount: Int { configuration.numTrainTimesteps }
    /// ᾱ used when t − Δ < 0: 1 with `set_alpha_to_one`, else ᾱ₀.
    public let finalAlphaCumprod: Float
    private var inferenceStepCount: Int?

    public init(configuration: Configuration) throws {
        let name = Self.className
        try SchedulerConfigDecoding.checkTraining(name, trainTimesteps: configuration.numTrainTimesteps,
                                                  trainedBetas: configuration.trainedBetas)
        try SchedulerConfigDecoding.reject(configuration.thresholding, name, "thresholding")
        try SchedulerConfigDecoding.reject(configuration.rescaleBetasZeroSnr, name, "rescale_betas_zero_snr")
        if !(configuration.eta >= 0) {
            throw SchedulerError.invalidValue(key: "eta", value: String(configuration.eta), expected: "a number ≥ 0")
        }
        self.configuration = configuration
        schedule = NoiseSchedule(count: configuration.numTrainTimesteps, schedule: configuration.betaSchedule,
                                 betaStart: configuration.betaStart, betaEnd: configuration.betaEnd,
                                 trainedBetas: configuration.trainedBetas)
        finalAlphaCumprod = configuration.setAlphaToOne ? 1 : schedule.alphasCumprod[0]
        timesteps = Array((0..<configuration.numTrainTimesteps).reversed())
    }

    /// Lays out `count` steps with `timestep_spacing` (see ``TimestepSpacing``).
    public mutating func setTimesteps(_ count: Int) throws {
        let train = configuration.numTrainTimesteps
        guard count >= 1, count <= train else {
            throw SchedulerError.invalidStepCount(scheduler: Self.className, count: count, reason: "needs 1…\(train)")
        }
        inferenceStepCount = count
        timesteps = TimestepLayout.values(configuration.timestepSpacing, count: count, train: train,
                                          stepsOffset: configuration.stepsOffset).map { Int($0) }
    }

    public mutating func step<R: RandomSource>(modelOutput: Tensor, timestep t: Int, sample: Tensor,
                                               random: inout R) -> SchedulerStepOutput {
        guard let count = inferenceStepCount else { preconditionFailure("DDIMScheduler: call setTimesteps before step") }
        let (output, _) = SchedulerMath.splitLearnedVariance(modelOutput, like: sample)
        precondition(output.shape == sample.shape, "model output \(modelOutput.shape) does not match sample \(sample.shape)")
        let ac = schedule.alphasCumprod
        // 1. The previous step value, t − Δ.
        let prev = t - configuration.numTrainTimesteps / count
        // 2. ᾱ_t, ᾱ_{t−Δ}.
        let abT = ac[t], abPrev = prev >= 0 ? ac[prev] : finalAlphaCumprod
        let bpT = 1 - abT
        // 3. x̂₀ and ε̂ from the prediction (formula (12), "predicted x_0").
        let sa = abT.squareRoot(), sb = bpT.squareRoot()
        var x0: Tensor, eps: Tensor
        switch configuration.predictionType {
        case .epsilon:
            x0 = SchedulerMath.zip(sample, output) { x, e in (x - sb * e) / sa }
            eps = output
        case .sample:
            x0 = output.copy()
            eps = SchedulerMath.zip(sample, output) { x, p in (x - sa * p) / sb }
        case .vPrediction:
            x0 = SchedulerMath.zip(sample, output) { x, v in sa * x - sb * v }
            eps = SchedulerMath.zip(output, sample) { v, x in sa * v + sb * x }
        }
        // 4. Clip x̂₀.
        if configuration.clipSample { x0 = SchedulerMath.clamp(x0, Float(configuration.clipSampleRange)) }
        // 5. σ_t (formula (16)).
        let bpPrev = 1 - abPrev
        let variance = (bpPrev / bpT) * (1 - abT / abPrev)
        let std = Float(configuration.eta) * variance.squareRoot()
        if configuration.useClippedModelOutput {
            eps = SchedulerMath.zip(sample, x0) { x, p in (x - sa * p) / sb }
        }
        // 6. "Direction pointing to x_t" and x_{t−Δ} without noise (formula (12)).
        let dirCoeff = (1 - abPrev - std * std).squareRoot()
        let sap = abPrev.squareRoot()
        var prevSample = SchedulerMath.zip(x0, eps) { p, e in sap * p + dirCoeff * e }
        // 7. σ_t·z when η > 0.
        if configuration.eta > 0 {
            let noise = random.randn(output.shape)
            prevSample = SchedulerMath.zip(prevSample, noise) { m, z in m + std * z }
        }
        return SchedulerStepOutput(prevSample: prevSample, predOriginalSample: x0)
    }

    /// ᾱ of what the step from `timesteps[index]` produces: ᾱ_{t − T // N}, or `final_alpha_cumprod` below 0.
    public func alphaCumprodAfterStep(_ index: Int) -> Float {
        guard let count = inferenceStepCount else { preconditionFailure("DDIMScheduler: call setTimesteps first") }
        let prev = timesteps[index] - configuration.numTrainTimesteps / count
        return prev >= 0 ? schedule.alphasCumprod[prev] : finalAlphaCumprod
    }
}
