// A long-lived engine over one weights file, as a diffusers pipeline object kept in memory by a server (one
// `UnCLIPPipeline.from_pretrained` serving many `__call__`s), with a thread budget split between concurrent runs.
import Foundation
import TensorCore

/// One weights file kept ready for many requests: the networks stay built (``Residency``), and each run computes in
/// its own ``TensorCore/ComputeContext`` with its share of the thread budget, so runs may overlap.
///
/// ```swift
/// let engine = try UnCLIPEngine(path: "karlo.safetensors", configuration: .init(threads: 8, maxConcurrentRuns: 2))
/// try engine.weights.preload()
/// let result = try engine.generate(TextToImageRequest(prompt: "a red circle", noise: .perImage(seed: 1)))
/// ```
///
/// At most ``Configuration/maxConcurrentRuns`` runs compute at once, each with ``threadsPerRun`` threads, so
/// together they never use more than ``Configuration/threads``; further calls wait for a slot (a cancelled one
/// stops waiting). Results do not depend on how many runs overlap: the same request and seed give the same bytes.
/// When the last running run ends, the memory its activations used goes back to the system (idle RSS is the
/// resident weights).
public final class UnCLIPEngine: @unchecked Sendable {
    public struct Configuration: Sendable, Equatable {
        /// The thread budget of the whole engine (default: `UNCLIP_THREADS` or all cores).
        public var threads: Int
        /// Runs computing at once (1…``threads``); each gets `threads / maxConcurrentRuns` threads.
        public var maxConcurrentRuns: Int
        /// How networks are kept between requests (default: resident within half the physical memory).
        public var residency: Residency
        /// The networks' matmul precision (default fp32, the parity path).
        public var precision: MatmulPrecision

        public init(threads: Int = Threading.defaultCount(), maxConcurrentRuns: Int = 1,
                    residency: Residency = .residentDefault, precision: MatmulPrecision = .fp32) {
            self.threads = max(1, threads)
            self.maxConcurrentRuns = min(max(1, maxConcurrentRuns), self.threads)
            self.residency = residency
            self.precision = precision
        }
    }

    /// The weights, with the configuration's residency.
    public let weights: UnCLIPWeights
    public let configuration: Configuration
    private let slots: DispatchSemaphore
    /// Engine threads in use now and at most so far (each run counts its own thread plus its parallel workers).
    public let threadGauge = ThreadGauge()

    /// Opens `path` with the configuration's residency (nothing is built until ``UnCLIPWeights/preload()`` or the
    /// first request).
    public convenience init(path: String, configuration: Configuration = Configuration()) throws {
        try self.init(weights: UnCLIPWeights(path: path, residency: configuration.residency, precision: configuration.precision), configuration: configuration)
    }

    public init(weights: UnCLIPWeights, configuration: Configuration = Configuration()) {
        self.weights = weights
        self.configuration = configuration
        slots = DispatchSemaphore(value: configuration.maxConcurrentRuns)
    }

    /// Threads each run gets: the budget split evenly between the runs that may overlap.
    public var threadsPerRun: Int { max(1, configuration.threads / configuration.maxConcurrentRuns) }

    /// Text-to-image (``UnCLIPPipeline``) in a compute context of its own.
    public func generate(_ request: TextToImageRequest, control: RunControl? = nil,
                         hooks: PipelineHooks = PipelineHooks()) throws -> GenerationResult {
        let pipeline = try UnCLIPPipeline(weights: weights)
        return try inSlot(control) { try pipeline.generate(request, hooks: $0(hooks)) }
    }

    /// Image variations (``UnCLIPImageVariationPipeline``) in a compute context of its own.
    public func variations(_ request: VariationRequest, control: RunControl? = nil,
                           hooks: PipelineHooks = PipelineHooks()) throws -> GenerationResult {
        let pipeline = try UnCLIPImageVariationPipeline(weights: weights)
        return try inSlot(control) { try pipeline.generate(request, hooks: $0(hooks)) }
    }

    /// An edit (``UnCLIPInpaintPipeline``) in a compute context of its own.
    public func edit(_ request: EditRequest, control: RunControl? = nil,
                     hooks: PipelineHooks = PipelineHooks()) throws -> GenerationResult {
        let pipeline = try UnCLIPInpaintPipeline(weights: weights)
        return try inSlot(control) { try pipeline.edit(request, hooks: $0(hooks)) }
    }

    /// Waits for a run slot (giving up when `control` is cancelled), then runs `body` in a fresh context.
    private func inSlot<R>(_ control: RunControl?, _ body: ((PipelineHooks) -> PipelineHooks) throws -> R) throws -> R {
        while slots.wait(timeout: .now() + .milliseconds(20)) == .timedOut {
            if control?.isCancelled == true { throw PipelineError.cancelled }
        }
        defer { slots.signal() }
        let context = ComputeContext(threads: threadsPerRun, gauge: threadGauge)
        threadGauge.enter()
        defer {
            threadGauge.leave()
            if threadGauge.current == 0 { Memory.returnFreedToSystem() }
        }
        return try context.run { try body { control?.attach(to: $0) ?? $0 } }
    }
}
