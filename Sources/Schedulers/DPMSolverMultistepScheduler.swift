// Mirrors diffusers schedulers/scheduling_dpmsolver_multistep.py (DPMSolverMultistepScheduler @ 0.42.1):
// Lu et al., "DPM-Solver++" (2022), multistep data-prediction solvers of order 1–3, optional SDE variant.
import Foundation
import Random
import TensorCore

/// DPM-Solver++ multistep sampling (diffusers `DPMSolverMultistepScheduler`); "dpmpp-2m" is order 2, midpoint.
///
/// Notation: σ_i (Karras / VE sigma) → α_t = 1/√(σ²+1), σ_t = σ·α_t, λ = log α_t − log σ_t; h = λ_next − λ_cur;
/// m₀, m₁, m₂ are the last data predictions x̂₀ (newest first), r₀ = h₀/h with h₀ = λ_cur − λ_prev.
/// Order 1: x = (σ_next/σ_cur)·x_t − α_next(e^{−h} − 1)·m₀. Order 2 (midpoint):
/// x = (σ_next/σ_cur)·x_t − α_next(e^{−h} − 1)·D₀ − ½·α_next(e^{−h} − 1)·D₁, D₁ = (m₀ − m₁)/r₀.
///
/// The solver keeps the last `solver_order` predictions: this value is stateful, one instance per
/// generation (``setTimesteps(_:)`` resets it). Steps must be taken in schedule order.
/// `sde-dpmsolver++` draws sample-shaped noise at every step.
public struct DPMSolverMultistepScheduler: ConfigurableScheduler {
    public enum AlgorithmType: String, Codable, Sendable, CaseIterable {
        case dpmsolverPlusPlus = "dpmsolver++", sdeDpmsolverPlusPlus = "sde-dpmsolver++"
        /// Deprecated in diffusers; rejected here.
        case dpmsolver, sdeDpmsolver = "sde-dpmsolver"
    }

    public enum SolverType: String, Codable, Sendable, CaseIterable { case midpoint, heun }

    public enum FinalSigmasType: String, Codable, Sendable, CaseIterable {
        /// σ = 0 after the last step (a final denoise to x̂₀).
        case zero
        /// σ = σ₀ of the training chain after the last step.
        case sigmaMin = "sigma_min"
    }

    /// `scheduler_config.json` of a `DPMSolverMultistepScheduler`.
    public struct Configuration: Codable, Equatable, Sendable {
        public var numTrainTimesteps = 1000
        public var betaStart = 0.0001
        public var betaEnd = 0.02
        public var betaSchedule = BetaSchedule.linear
        public var trainedBetas: [Double]?
        /// 1, 2 or 3.
        public var solverOrder = 2
        public var predictionType = PredictionType.epsilon
        /// Not implemented, `true` is rejected.
        public var thresholding = false
        public var algorithmType = AlgorithmType.dpmsolverPlusPlus
        public var solverType = SolverType.midpoint
        /// Use lower orders for the last steps when there are fewer than 15.
        public var lowerOrderFinal = true
        public var eulerAtFinal = false
        /// Karras et al. σ spacing (ρ = 7) between the training chain's σ_min and σ_max.
        public var useKarrasSigmas = false
        /// Not implemented, `true` is rejected (as are `use_beta_sigmas`, `use_lu_lambdas`, `use_flow_sigmas`).
        public var useExponentialSigmas = false
        public var useBetaSigmas = false
        public var useLuLambdas = false
        public var useFlowSigmas = false
        public var finalSigmasType = FinalSigmasType.zero
        /// Truncates the chain where λ falls below this value (−∞: never).
        public var lambdaMinClipped = -Double.infinity
        /// `learned` / `learned_range`: the model output carries extra variance channels, which are dropped
        /// (any model output with twice the sample's channels is split, whatever this says).
        public var varianceType: VarianceType?
        public var timestepSpacing = TimestepSpacing.linspace
        public var stepsOffset = 0
        /// Not implemented, `true` is rejected.
        public var rescaleBetasZeroSnr = false

        enum CodingKeys: String, CodingKey {
            case numTrainTimesteps = "num_train_timesteps", betaStart = "beta_start", betaEnd = "beta_end"
            case betaSchedule = "beta_schedule", trainedBetas = "trained_betas", solverOrder = "solver_order"
            case predictionType = "prediction_type", thresholding, algorithmType = "algorithm_type"
            case solverType = "solver_type", lowerOrderFinal = "lower_order_final", eulerAtFinal = "euler_at_final"
            case useKarrasSigmas = "use_karras_sigmas", useExponentialSigmas = "use_exponential_sigmas"
            case useBetaSigmas = "use_beta_sigmas", useLuLambdas = "use_lu_lambdas", useFlowSigmas = "use_flow_sigmas"
            case finalSigmasType = "final_sigmas_type", lambdaMinClipped = "lambda_min_clipped"
            case varianceType = "variance_type", timestepSpacing = "timestep_spacing", stepsOffset = "steps_offset"
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
            solverOrder = try c.value(.solverOrder, default: solverOrder)
            predictionType = try c.choice(.predictionType, default: predictionType)
            thresholding = try c.value(.thresholding, default: thresholding)
            algorithmType = try c.choice(.algorithmType, default: algorithmType)
            solverType = try c.choice(.solverType, default: solverType)
            lowerOrderFinal = try c.value(.lowerOrderFinal, default: lowerOrderFinal)
            eulerAtFinal = try c.value(.eulerAtFinal, default: eulerAtFinal)
            useKarrasSigmas = try c.value(.useKarrasSigmas, default: useKarrasSigmas)
            useExponentialSigmas = try c.value(.useExponentialSigmas, default: useExponentialSigmas)
            useBetaSigmas = try c.value(.useBetaSigmas, default: useBetaSigmas)
            useLuLambdas = try c.value(.useLuLambdas, default: useLuLambdas)
            useFlowSigmas = try c.value(.useFlowSigmas, default: useFlowSigmas)
            finalSigmasType = try c.choice(.finalSigmasType, default: finalSigmasType)
            lambdaMinClipped = try c.value(.lambdaMinClipped, default: lambdaMinClipped)
            varianceType = try c.optionalChoice(.varianceType)
            timestepSpacing = try c.choice(.timestepSpacing, default: timestepSpacing)
            stepsOffset = try c.value(.stepsOffset, default: stepsOffset)
            rescaleBetasZeroSnr = try c.value(.rescaleBetasZeroSnr, default: rescaleBetasZeroSnr)
        }
    }

    public static let className = "DPMSolverMultistepScheduler"
    public let configuration: Configuration
    public let schedule: NoiseSchedule
    /// σ_t = √((1−ᾱ_t)/ᾱ_t) of the training chain (Float).
    public let trainSigmas: [Float]
    /// σ at each schedule entry, then the final σ.
    public private(set) var sigmas: [Float] = []
    public private(set) var timesteps: [Int]
    public var trainTimestepCount: Int { configuration.numTrainTimesteps }
    private var modelOutputs: [Tensor?]
    private var lowerOrderNums = 0
    private var stepIndex: Int?
    private var hasSchedule = false

    public init(configuration c: Configuration) throws {
        let name = Self.className
        try SchedulerConfigDecoding.checkTraining(name, trainTimesteps: c.numTrainTimesteps, trainedBetas: c.trainedBetas)
        guard (1...3).contains(c.solverOrder) else {
            throw SchedulerError.invalidValue(key: "solver_order", value: String(c.solverOrder), expected: "1, 2 or 3")
        }
        try SchedulerConfigDecoding.reject(c.thresholding, name, "thresholding")
        try SchedulerConfigDecoding.reject([.dpmsolver, .sdeDpmsolver].contains(c.algorithmType), name,
                                           "algorithm_type \"\(c.algorithmType.rawValue)\" (deprecated; use dpmsolver++ or sde-dpmsolver++)")
        try SchedulerConfigDecoding.reject(c.useExponentialSigmas || c.useBetaSigmas || c.useLuLambdas || c.useFlowSigmas, name,
                                           "use_exponential_sigmas / use_beta_sigmas / use_lu_lambdas / use_flow_sigmas")
        try SchedulerConfigDecoding.reject(c.rescaleBetasZeroSnr, name, "rescale_betas_zero_snr")
        configuration = c
        schedule = NoiseSchedule(count: c.numTrainTimesteps, schedule: c.betaSchedule, betaStart: c.betaStart,
                                 betaEnd: c.betaEnd, trainedBetas: c.trainedBetas)
        trainSigmas = schedule.alphasCumprod.map { ((1 - $0) / $0).squareRoot() }
        timesteps = Array((0..<c.numTrainTimesteps).reversed())
        modelOutputs = Array(repeating: nil, count: c.solverOrder)
    }

    /// Lays out `count` steps (default `linspace`: `round(linspace(0, T−1, N+1))` reversed without its last
    /// entry), or Karras σs mapped back to (fractional, then truncated) timesteps; resets the solver history.
    public mutating func setTimesteps(_ count: Int) throws {
        let c = configuration, train = c.numTrainTimesteps
        guard count >= 1, count <= train else {
            throw SchedulerError.invalidStepCount(scheduler: Self.className, count: count, reason: "needs 1…\(train)")
        }
        // λ_t in Float as torch: log(√ᾱ) − log(√(1−ᾱ)); the chain ends where λ (ascending when flipped) reaches the clip.
        let lambdas = schedule.alphasCumprod.map { Foundation.log($0.squareRoot()) - Foundation.log((1 - $0).squareRoot()) }
        let clippedIndex = lambdas.reversed().firstIndex { Double($0) >= c.lambdaMinClipped } ?? lambdas.count
        let last = train - clippedIndex
        var ts: [Double]
        switch c.timestepSpacing {
        case .linspace:
            ts = Array(NumPy.linspace(0, Double(last - 1), count + 1).map(NumPy.round).reversed().dropLast())
        case .leading:
            let ratio = last / (count + 1)
            ts = (1...count).reversed().map { Double($0 * ratio + c.stepsOffset) }
        case .trailing:
            ts = NumPy.arange(Double(last), 0, -(Double(train) / Double(count))).map { NumPy.round($0) - 1 }
        }
        var sig: [Double]
        if c.useKarrasSigmas {
            let logSigmas = trainSigmas.map { Foundation.log($0) }
            sig = Self.karrasSigmas(min: Double(trainSigmas[0]), max: Double(trainSigmas[train - 1]), count: count)
            ts = sig.map { Self.sigmaToT($0, logSigmas) }
            if c.betaSchedule != .squaredcosCapV2 { ts = ts.map(NumPy.round) }
        } else {
            sig = ts.map { Double(trainSigmas[Int($0)]) }
        }
        let a0 = schedule.alphasCumprod[0]
        let sigmaLast: Float = c.finalSigmasType == .zero ? 0 : ((1 - a0) / a0).squareRoot()
        sigmas = sig.map { Float($0) } + [sigmaLast]
        timesteps = ts.map { Int($0) }   // torch `.to(int64)`: truncation
        modelOutputs = Array(repeating: nil, count: c.solverOrder)
        lowerOrderNums = 0
        stepIndex = nil
        hasSchedule = true
    }

    /// `_convert_to_karras`: (σ_max^{1/ρ} + ramp·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, ρ = 7, in double.
    static func karrasSigmas(min sigmaMin: Double, max sigmaMax: Double, count: Int) -> [Double] {
        let rho = 7.0
        let minInv = pow(sigmaMin, 1 / rho), maxInv = pow(sigmaMax, 1 / rho)
        return NumPy.linspace(0, 1, count).map { pow(maxInv + $0 * (minInv - maxInv), rho) }
    }

    /// `_sigma_to_t`: the fractional training timestep whose log σ interpolates `sigma` (numpy dtype rules:
    /// log σ in double, the table in Float, `low − high` in Float).
    static func sigmaToT(_ sigma: Double, _ logSigmas: [Float]) -> Double {
        let logSigma = Foundation.log(max(sigma, 1e-10))
        var count = 0, best = -1, lowIdx = 0
        for (j, l) in logSigmas.enumerated() {
            if logSigma - Double(l) >= 0 { count += 1 }
            if count > best { best = count; lowIdx = j }
        }
        lowIdx = min(lowIdx, logSigmas.count - 2)
        let low = logSigmas[lowIdx], high = logSigmas[lowIdx + 1]
        let w = min(max((Double(low) - logSigma) / Double(low - high), 0), 1)
        return (1 - w) * Double(lowIdx) + w * Double(lowIdx + 1)
    }

    /// Where the first ``step`` starts: entry 0 for the schedule's first timestep (diffusers'
    /// `set_begin_index(0)`), otherwise diffusers' `index_for_timestep`.
    ///
    /// diffusers alone would take the *second* match of a repeated first timestep (meant for img2img), which
    /// breaks Karras σs on the cosine chain (timesteps 998, 998, …): its loop runs past the end.
    func startIndex(for t: Int) -> Int { timesteps.first == t ? 0 : index(for: t) }

    /// diffusers `index_for_timestep`: the second match if the timestep occurs twice, the last entry if absent.
    func index(for t: Int) -> Int {
        let matches = timesteps.indices.filter { timesteps[$0] == t }
        if matches.isEmpty { return timesteps.count - 1 }
        return matches.count > 1 ? matches[1] : matches[0]
    }

    /// (α_t, σ_t) for a VE σ: α = 1/√(σ²+1), σ_t = σ·α.
    @inline(__always)
    static func alphaSigma(_ sigma: Float) -> (alpha: Float, sigma: Float) {
        let alpha = 1 / (sigma * sigma + 1).squareRoot()
        return (alpha, sigma * alpha)
    }

    @inline(__always)
    static func lambda(_ alphaSigma: (alpha: Float, sigma: Float)) -> Float {
        Foundation.log(alphaSigma.alpha) - Foundation.log(alphaSigma.sigma)
    }

    public mutating func step<R: RandomSource>(modelOutput: Tensor, timestep: Int, sample: Tensor,
                                               random: inout R) -> SchedulerStepOutput {
        precondition(hasSchedule, "DPMSolverMultistepScheduler: call setTimesteps before step")
        let c = configuration
        let i = stepIndex ?? startIndex(for: timestep)
        let n = timesteps.count
        let lowerOrderFinal = i == n - 1 && (c.eulerAtFinal || (c.lowerOrderFinal && n < 15) || c.finalSigmasType == .zero)
        let lowerOrderSecond = i == n - 2 && c.lowerOrderFinal && n < 15
        // 1. The data prediction x̂₀ (convert_model_output).
        let (output, _) = SchedulerMath.splitLearnedVariance(modelOutput, like: sample)
        precondition(output.shape == sample.shape, "model output \(modelOutput.shape) does not match sample \(sample.shape)")
        let x0: Tensor
        switch c.predictionType {
        case .epsilon:
            let (a, s) = Self.alphaSigma(sigmas[i])
            x0 = SchedulerMath.zip(sample, output) { x, e in (x - s * e) / a }
        case .sample:
            x0 = output.copy()
        case .vPrediction:
            let (a, s) = Self.alphaSigma(sigmas[i])
            x0 = SchedulerMath.zip(sample, output) { x, v in a * x - s * v }
        }
        modelOutputs.removeFirst()
        modelOutputs.append(x0)
        let noise: Tensor? = c.algorithmType == .sdeDpmsolverPlusPlus ? random.randn(x0.shape) : nil
        // 2. The update of the order the history allows.
        let prev: Tensor
        if c.solverOrder == 1 || lowerOrderNums < 1 || lowerOrderFinal {
            prev = firstOrderUpdate(x0, sample: sample, index: i, noise: noise)
        } else if c.solverOrder == 2 || lowerOrderNums < 2 || lowerOrderSecond {
            prev = secondOrderUpdate(sample: sample, index: i, noise: noise)
        } else {
            prev = thirdOrderUpdate(sample: sample, index: i, noise: noise)
        }
        if lowerOrderNums < c.solverOrder { lowerOrderNums += 1 }
        stepIndex = i + 1
        return SchedulerStepOutput(prevSample: prev, predOriginalSample: x0)
    }

    private func firstOrderUpdate(_ m: Tensor, sample: Tensor, index i: Int, noise: Tensor?) -> Tensor {
        let t = Self.alphaSigma(sigmas[i + 1]), s = Self.alphaSigma(sigmas[i])
        let h = Self.lambda(t) - Self.lambda(s)
        if let z = noise {
            let a = t.sigma / s.sigma * Foundation.exp(-h), b = t.alpha * (1 - Foundation.exp(-2.0 * h))
            let cz = t.sigma * (1.0 - Foundation.exp(-2 * h)).squareRoot()
            return SchedulerMath.zip3(sample, m, z) { x, d, n in (a * x + b * d) + cz * n }
        }
        let a = t.sigma / s.sigma, b = t.alpha * (Foundation.exp(-h) - 1.0)
        return SchedulerMath.zip(sample, m) { x, d in a * x - b * d }
    }

    private func secondOrderUpdate(sample: Tensor, index i: Int, noise: Tensor?) -> Tensor {
        let t = Self.alphaSigma(sigmas[i + 1]), s0 = Self.alphaSigma(sigmas[i]), s1 = Self.alphaSigma(sigmas[i - 1])
        let lt = Self.lambda(t), l0 = Self.lambda(s0), l1 = Self.lambda(s1)
        let m0 = modelOutputs[modelOutputs.count - 1]!, m1 = modelOutputs[modelOutputs.count - 2]!
        let h = lt - l0, h0 = l0 - l1
        let r0 = h0 / h
        let invR0 = 1.0 / r0
        let d1 = SchedulerMath.zip(m0, m1) { a, b in invR0 * (a - b) }
        let heun = configuration.solverType == .heun
        if let z = noise {
            let e2 = Foundation.exp(-2.0 * h)
            let a = t.sigma / s0.sigma * Foundation.exp(-h), b = t.alpha * (1 - e2)
            let c1 = heun ? t.alpha * ((1.0 - e2) / (-2.0 * h) + 1.0) : 0.5 * (t.alpha * (1 - e2))
            let cz = t.sigma * (1.0 - Foundation.exp(-2 * h)).squareRoot()
            let partial = SchedulerMath.zip3(sample, m0, d1) { x, d0, dd in (a * x + b * d0) + c1 * dd }
            return SchedulerMath.zip(partial, z) { p, n in p + cz * n }
        }
        let a = t.sigma / s0.sigma, b = t.alpha * (Foundation.exp(-h) - 1.0)
        if heun {
            let c1 = t.alpha * ((Foundation.exp(-h) - 1.0) / h + 1.0)
            return SchedulerMath.zip3(sample, m0, d1) { x, d0, dd in (a * x - b * d0) + c1 * dd }
        }
        let c1 = 0.5 * (t.alpha * (Foundation.exp(-h) - 1.0))
        return SchedulerMath.zip3(sample, m0, d1) { x, d0, dd in (a * x - b * d0) - c1 * dd }
    }

    private func thirdOrderUpdate(sample: Tensor, index i: Int, noise: Tensor?) -> Tensor {
        let t = Self.alphaSigma(sigmas[i + 1]), s0 = Self.alphaSigma(sigmas[i])
        let s1 = Self.alphaSigma(sigmas[i - 1]), s2 = Self.alphaSigma(sigmas[i - 2])
        let lt = Self.lambda(t), l0 = Self.lambda(s0), l1 = Self.lambda(s1), l2 = Self.lambda(s2)
        let k = modelOutputs.count
        let m0 = modelOutputs[k - 1]!, m1 = modelOutputs[k - 2]!, m2 = modelOutputs[k - 3]!
        let h = lt - l0, h0 = l0 - l1, h1 = l1 - l2
        let r0 = h0 / h, r1 = h1 / h
        let i0 = 1.0 / r0, i1 = 1.0 / r1, w = r0 / (r0 + r1), i01 = 1.0 / (r0 + r1)
        let d10 = SchedulerMath.zip(m0, m1) { a, b in i0 * (a - b) }
        let d11 = SchedulerMath.zip(m1, m2) { a, b in i1 * (a - b) }
        let d1 = SchedulerMath.zip(d10, d11) { a, b in a + w * (a - b) }
        let d2 = SchedulerMath.zip(d10, d11) { a, b in i01 * (a - b) }
        let partial: Tensor
        if noise != nil {
            let e2 = Foundation.exp(-2.0 * h)
            let a = t.sigma / s0.sigma * Foundation.exp(-h), b = t.alpha * (1.0 - e2)
            let c1 = t.alpha * ((1.0 - e2) / (-2.0 * h) + 1.0)
            let twoH = 2.0 * h
            let c2 = t.alpha * ((1.0 - e2 - 2.0 * h) / (twoH * twoH) - 0.5)
            partial = SchedulerMath.zip3(sample, m0, d1) { x, d0, dd in (a * x + b * d0) + c1 * dd }
            let withD2 = SchedulerMath.zip(partial, d2) { p, dd in p + c2 * dd }
            let cz = t.sigma * (1.0 - Foundation.exp(-2 * h)).squareRoot()
            return SchedulerMath.zip(withD2, noise!) { p, n in p + cz * n }
        }
        let em = Foundation.exp(-h) - 1.0
        let a = t.sigma / s0.sigma, b = t.alpha * em
        let c1 = t.alpha * (em / h + 1.0)
        let c2 = t.alpha * ((Foundation.exp(-h) - 1.0 + h) / (h * h) - 0.5)
        partial = SchedulerMath.zip3(sample, m0, d1) { x, d0, dd in (a * x - b * d0) + c1 * dd }
        return SchedulerMath.zip(partial, d2) { p, dd in p - c2 * dd }
    }

    /// α_t · x₀ + σ_t · noise with (α_t, σ_t) from σ at each batch element's schedule entry.
    public func addNoise(original: Tensor, noise: Tensor, timesteps ts: [Int]) -> Tensor {
        let batch = original.shape.first ?? 1
        let sigma = SchedulerMath.perBatch(ts, batch: batch) { t in hasSchedule ? sigmas[index(for: t)] : trainSigmas[t] }
        return SchedulerMath.addNoise(original, noise, a: sigma.map { Self.alphaSigma($0).alpha },
                                      c: sigma.map { Self.alphaSigma($0).sigma })
    }
}
