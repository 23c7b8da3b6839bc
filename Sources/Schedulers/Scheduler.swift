// Mirrors the diffusers scheduler interface (schedulers/scheduling_utils.py: SchedulerMixin, SchedulerOutput),
// typed after candle's scheduler trait and apple/ml-stable-diffusion's `Scheduler` protocol.
import Foundation
import Random
import TensorCore

/// What one denoising step returns (diffusers' `SchedulerOutput`).
public struct SchedulerStepOutput {
    /// x_{t−1}: the sample to feed to the next step.
    public let prevSample: Tensor
    /// x̂₀: the model's estimate of the clean sample at this step (after clipping, where the scheduler clips).
    public let predOriginalSample: Tensor?

    public init(prevSample: Tensor, predOriginalSample: Tensor?) {
        self.prevSample = prevSample
        self.predOriginalSample = predOriginalSample
    }
}

/// A diffusion sampler in the diffusers shape. One value drives one generation:
///
/// ```swift
/// var rng = TorchRandomSource(seed: 0)
/// var scheduler = try SchedulerRegistry.standard.make(name: "ddim", config: json)
/// try scheduler.setTimesteps(25)
/// var x = rng.randn(shape)                  // × scheduler.initNoiseSigma (1 except for Euler)
/// for (i, t) in scheduler.timesteps.enumerated() {
///     let input = scheduler.scaleModelInput(x, timestep: t)
///     let out = model(input, scheduler.modelTimesteps[i])
///     x = scheduler.step(modelOutput: out, timestep: t, sample: x, random: &rng).prevSample
/// }
/// ```
///
/// Stochastic steps draw their noise inside ``step(modelOutput:timestep:sample:random:)`` from `random`,
/// in diffusers' order and shape (the sample's shape, after any learned-variance channels are split off),
/// so a ``TorchRandomSource`` seeded like the Python generator reproduces diffusers' numbers.
/// Each step goes to the next entry of ``timesteps`` (``UnCLIPScheduler`` looks it up, as diffusers' unCLIP
/// pipeline passes `prev_timestep=timesteps[i + 1]`; DDIM keeps diffusers' fixed stride T // N).
/// Multistep schedulers keep history: use one instance per generation (``setTimesteps(_:)`` resets it).
public protocol Scheduler {
    /// `num_train_timesteps`: the length of the training chain (1000 for Karlo).
    var trainTimestepCount: Int { get }

    /// The inference schedule, descending, set by ``setTimesteps(_:)``: loop over these.
    var timesteps: [Int] { get }

    /// The timestep value to give the model for each entry of ``timesteps``. Equal to `timesteps` except
    /// for schedulers that interpolate between training steps (Euler with linspace spacing).
    var modelTimesteps: [Float] { get }

    /// The standard deviation of the initial noise: x_T = randn · initNoiseSigma.
    var initNoiseSigma: Float { get }

    /// Chooses `count` inference steps. Throws for a count the scheduler cannot lay out.
    mutating func setTimesteps(_ count: Int) throws

    /// The model input for `sample` at `timestep` (identity except for the Euler family, which divides by √(σ²+1)).
    func scaleModelInput(_ sample: Tensor, timestep: Int) -> Tensor

    /// One reverse step from `timestep` to the next entry of the schedule.
    ///
    /// - Parameters:
    ///   - modelOutput: the model's prediction, shaped like `sample`; schedulers that use (or ignore)
    ///     learned variance also accept twice the channels (dimension 1) and split them off.
    ///   - timestep: the current entry of ``timesteps``.
    ///   - sample: x_t.
    ///   - random: the noise source; only stochastic steps draw from it.
    mutating func step<R: RandomSource>(modelOutput: Tensor, timestep: Int, sample: Tensor,
                                        random: inout R) -> SchedulerStepOutput

    /// The forward process q(x_t | x_0): `original` noised to each batch element's timestep
    /// (`timesteps` has one entry per batch element, or a single entry for all).
    func addNoise(original: Tensor, noise: Tensor, timesteps: [Int]) -> Tensor
}

extension Scheduler {
    public var modelTimesteps: [Float] { timesteps.map { Float($0) } }
    public var initNoiseSigma: Float { 1 }
    public func scaleModelInput(_ sample: Tensor, timestep: Int) -> Tensor { sample }
}

/// A scheduler built from a diffusers `scheduler_config.json` (see ``SchedulerRegistry``).
public protocol ConfigurableScheduler: Scheduler {
    /// The `Codable` configuration; its coding keys are diffusers' JSON keys, with diffusers' defaults.
    associatedtype Configuration: Codable, Equatable, Sendable

    /// diffusers' class name, the `_class_name` of its JSON config (e.g. `"DDIMScheduler"`).
    static var className: String { get }

    /// The configuration this scheduler was built from.
    var configuration: Configuration { get }

    /// Builds the scheduler, throwing ``SchedulerError`` for values it does not support.
    init(configuration: Configuration) throws
}

/// Problems with a scheduler configuration or its use.
public enum SchedulerError: Error, CustomStringConvertible, Equatable {
    /// A config key has a value outside the supported set.
    case invalidValue(key: String, value: String, expected: String)
    /// A config combination or option the scheduler does not implement (diffusers may, this engine does not).
    case unsupported(scheduler: String, option: String)
    /// The JSON is not a scheduler config (not an object, wrong types…).
    case malformedConfig(String)
    /// `_class_name` (or a registry name) is not registered.
    case unknownScheduler(name: String, known: [String])
    /// `setTimesteps` with a step count the schedule cannot lay out.
    case invalidStepCount(scheduler: String, count: Int, reason: String)

    public var description: String {
        switch self {
        case let .invalidValue(key, value, expected):
            return "scheduler config: \(key) = \(value) is not supported (expected \(expected))"
        case let .unsupported(scheduler, option):
            return "\(scheduler): \(option) is not supported"
        case let .malformedConfig(reason):
            return "scheduler config: \(reason)"
        case let .unknownScheduler(name, known):
            return "unknown scheduler '\(name)' (known: \(known.joined(separator: ", ")))"
        case let .invalidStepCount(scheduler, count, reason):
            return "\(scheduler): cannot use \(count) inference steps (\(reason))"
        }
    }
}

/// Tensor-shaped draws.
extension RandomSource {
    /// A tensor of N(0, 1) values from one draw, as `torch.randn(shape, generator=g)`.
    public mutating func randn(_ shape: [Int]) -> Tensor {
        let t = Tensor(uninitialized: shape)
        fillNormal(t.data, count: t.count)
        return t
    }
}
