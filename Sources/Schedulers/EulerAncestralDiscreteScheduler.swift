// Mirrors diffusers schedulers/scheduling_euler_ancestral_discrete.py (EulerAncestralDiscreteScheduler @ 0.42.1),
// k-diffusion's `sample_euler_ancestral` (Karras et al. 2022, Algorithm 2 with ancestral noise, η = 1).
import Foundation
import Random
import TensorCore

/// Euler ancestral sampling in σ-space (diffusers `EulerAncestralDiscreteScheduler`).
///
/// Notation: σ = √((1−ᾱ)/ᾱ) at the current entry, σ_to at the next (0 after the last); the model sees
/// x/√(σ²+1) (``scaleModelInput(_:timestep:)``). x̂₀ = x − σ·ε; σ_up = √(σ_to²·(σ² − σ_to²)/σ²),
/// σ_down = √(σ_to² − σ_up²); x_next = x + (x − x̂₀)/σ · (σ_down − σ) + σ_up·z.
/// Noise is drawn at **every** step, including the last (where σ_up = 0), as diffusers does. One deviation:
/// σ_down² is clamped at 0 (diffusers returns NaN when it rounds negative, e.g. 4 steps on `squaredcos_cap_v2`).
///
/// With `linspace` spacing the timesteps are fractional (999, 957.375, …): ``modelTimesteps`` holds them
/// for the model, ``timesteps`` their half-to-even roundings (used only to identify the entry).
public struct EulerAncestralDiscreteScheduler: ConfigurableScheduler {
    /// `scheduler_config.json` of an `EulerAncestralDiscreteScheduler`.
    public struct Configuration: Codable, Equatable, Sendable {
        public var numTrainTimesteps = 1000
        public var betaStart = 0.0001
        public var betaEnd = 0.02
        public var betaSchedule = BetaSchedule.linear
        public var trainedBetas: [Double]?
        /// `epsilon` or `v_prediction` (`sample` is not implemented in diffusers either).
        public var predictionType = PredictionType.epsilon
        public var timestepSpacing = TimestepSpacing.linspace
        public var stepsOffset = 0
        /// Not implemented, `true` is rejected.
        public var rescaleBetasZeroSnr = false

        enum CodingKeys: String, CodingKey {
            case numTrainTimesteps = "num_train_timesteps", betaStart = "beta_start", betaEnd = "beta_end"
            case betaSchedule = "beta_schedule", trainedBetas = "trained_betas", predictionType = "prediction_type"
            case timestepSpacing = "timestep_spacing", stepsOffset = "steps_offset", rescaleBetasZeroSnr = "rescale_betas_zero_snr"
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
            predictionType = try c.choice(.predictionType, default: predictionType)
            timestepSpacing = try c.choice(.timestepSpacing, default: timestepSpacing)
            stepsOffset = try c.value(.stepsOffset, default: stepsOffset)
            rescaleBetasZeroSnr = try c.value(.rescaleBetasZeroSnr, default: rescaleBetasZeroSnr)
        }
    }

    public static let className = "EulerAncestralDiscreteScheduler"
    public let configuration: Configuration
    public let schedule: NoiseSchedule
    /// σ_t = √((1−ᾱ_t)/ᾱ_t) for every training step (Float, as torch computes it).
    public let trainSigmas: [Float]
    /// σ at each schedule entry, then 0.
    public private(set) var sigmas: [Float]
    public private(set) var modelTimesteps: [Float]
    public private(set) var timesteps: [Int]
    public var trainTimestepCount: Int { configuration.numTrainTimesteps }
    private var stepIndex: Int?

    public init(configuration: Configuration) throws {
        let name = Self.className
        try SchedulerConfigDecoding.checkTraining(name, trainTimesteps: configuration.numTrainTimesteps,
                                                  trainedBetas: configuration.trainedBetas)
        try SchedulerConfigDecoding.reject(configuration.predictionType == .sample, name, "prediction_type \"sample\"")
        try SchedulerConfigDecoding.reject(configuration.rescaleBetasZeroSnr, name, "rescale_betas_zero_snr")
        self.configuration = configuration
        schedule = NoiseSchedule(count: configuration.numTrainTimesteps, schedule: configuration.betaSchedule,
                                 betaStart: configuration.betaStart, betaEnd: configuration.betaEnd,
                                 trainedBetas: configuration.trainedBetas)
        trainSigmas = schedule.alphasCumprod.map { ((1 - $0) / $0).squareRoot() }
        sigmas = trainSigmas.reversed() + [0]
        let count = configuration.numTrainTimesteps
        modelTimesteps = NumPy.linspace(0, Double(count - 1), count).reversed().map { Float($0) }
        timesteps = modelTimesteps.map { Int($0.rounded(.toNearestOrEven)) }
    }

    /// max σ for `linspace`/`trailing` spacing, √(max σ² + 1) for `leading` (diffusers' `init_noise_sigma`).
    public var initNoiseSigma: Float {
        let m = sigmas.max() ?? 0
        return configuration.timestepSpacing == .leading ? (m * m + 1).squareRoot() : m
    }

    /// Lays out `count` steps: `linspace` keeps the fractional `np.linspace(0, T−1, N)` values;
    /// σ is interpolated linearly between training steps (`np.interp`).
    public mutating func setTimesteps(_ count: Int) throws {
        let train = configuration.numTrainTimesteps
        guard count >= 1, count <= train else {
            throw SchedulerError.invalidStepCount(scheduler: Self.className, count: count, reason: "needs 1…\(train)")
        }
        switch configuration.timestepSpacing {
        case .linspace:
            modelTimesteps = NumPy.linspace(0, Double(train - 1), count).reversed().map { Float($0) }
        case .leading:
            let ratio = train / count
            modelTimesteps = (0..<count).reversed().map { Float($0 * ratio) + Float(configuration.stepsOffset) }
        case .trailing:
            modelTimesteps = NumPy.arange(Double(train), 0, -(Double(train) / Double(count))).map { Float(NumPy.round($0)) - 1 }
        }
        let fp = trainSigmas.map { Double($0) }
        sigmas = modelTimesteps.map { Float(NumPy.interpAtIndices(Double($0), fp)) } + [0]
        timesteps = modelTimesteps.map { Int($0.rounded(.toNearestOrEven)) }
        stepIndex = nil
    }

    /// Where the first step starts: entry 0 for the schedule's first timestep (diffusers' `set_begin_index(0)`),
    /// otherwise diffusers' `index_for_timestep`.
    func startIndex(for t: Int) -> Int { timesteps.first == t ? 0 : index(for: t) }

    /// diffusers `index_for_timestep`: the second match if the timestep occurs twice, else the first.
    func index(for t: Int) -> Int {
        let matches = timesteps.indices.filter { timesteps[$0] == t }
        guard let first = matches.first else { preconditionFailure("\(Self.className): timestep \(t) is not in the schedule") }
        return matches.count > 1 ? matches[1] : first
    }

    /// x / √(σ² + 1) at the current entry.
    public func scaleModelInput(_ sample: Tensor, timestep: Int) -> Tensor {
        let sigma = sigmas[stepIndex ?? startIndex(for: timestep)]
        let d = (sigma * sigma + 1).squareRoot()
        return SchedulerMath.map(sample) { $0 / d }
    }

    public mutating func step<R: RandomSource>(modelOutput: Tensor, timestep: Int, sample: Tensor,
                                               random: inout R) -> SchedulerStepOutput {
        let i = stepIndex ?? startIndex(for: timestep)
        let (output, _) = SchedulerMath.splitLearnedVariance(modelOutput, like: sample)
        precondition(output.shape == sample.shape, "model output \(modelOutput.shape) does not match sample \(sample.shape)")
        let sigma = sigmas[i]
        // 1. x̂₀ from the prediction.
        let x0: Tensor
        switch configuration.predictionType {
        case .epsilon:
            x0 = SchedulerMath.zip(sample, output) { x, e in x - sigma * e }
        case .vPrediction, .sample:
            let c1 = -sigma / (sigma * sigma + 1).squareRoot(), c2 = sigma * sigma + 1
            x0 = SchedulerMath.zip(output, sample) { v, x in v * c1 + x / c2 }
        }
        // 2. The ancestral split of the step to σ_to.
        let sigmaFrom = sigma, sigmaTo = sigmas[i + 1]
        let sigmaUp = ((sigmaTo * sigmaTo) * (sigmaFrom * sigmaFrom - sigmaTo * sigmaTo) / (sigmaFrom * sigmaFrom)).squareRoot()
        // σ_to² − σ_up² = σ_to⁴/σ² can round below zero when σ ≫ σ_to (the first step of the cosine chain,
        // σ ≈ 2·10⁴): diffusers then takes √ of a negative number and the whole sample turns NaN. Clamped here.
        let sigmaDown = max(sigmaTo * sigmaTo - sigmaUp * sigmaUp, 0).squareRoot()
        // 3. Euler step on dx/dσ = (x − x̂₀)/σ, then noise.
        let dt = sigmaDown - sigma
        let noise = random.randn(output.shape)
        let prevSample = SchedulerMath.zip3(sample, x0, noise) { x, p, z in
            let moved = x + ((x - p) / sigma) * dt
            return moved + z * sigmaUp
        }
        stepIndex = i + 1
        return SchedulerStepOutput(prevSample: prevSample, predOriginalSample: x0)
    }

    /// x₀ + σ_t · noise, σ_t at each batch element's schedule entry.
    public func addNoise(original: Tensor, noise: Tensor, timesteps: [Int]) -> Tensor {
        let batch = original.shape.first ?? 1
        let s = SchedulerMath.perBatch(timesteps, batch: batch) { sigmas[index(for: $0)] }
        return SchedulerMath.addNoise(original, noise, a: [Float](repeating: 1, count: batch), c: s)
    }
}
