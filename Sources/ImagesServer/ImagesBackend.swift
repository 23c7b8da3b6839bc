// Where the images API's jobs run: in this process (``LocalBackend``: the FIFO ``JobQueue`` in front of the resident
// engine, pictures kept in memory) or on workers behind a shared queue (the PostgresQueue target). The routes check
// and answer requests; a backend admits, runs or hands off, and keeps the pictures behind `url` answers.
import Foundation
import ImageIO
import Pipeline

/// A checked request, as the routes hand it to a backend.
public struct ImagesJob: Sendable {
    public let operation: ImagesOperation
    public let count: Int
    /// The delivered side.
    public let side: Int
    public let stream: Bool
    public let partialImages: Int
    /// The request as received (JSON or multipart body and its content type), for a backend that hands the job to
    /// another process, which decodes and checks it again with the same code.
    public let body: Data
    public let contentType: String?
    /// The checked call, for a backend that runs it here.
    let prepared: Handoff<PreparedImagesCall>

    init(_ prepared: PreparedImagesCall, body: Data, contentType: String?) {
        operation = prepared.operation; count = prepared.count; side = prepared.side
        stream = prepared.stream; partialImages = prepared.partialImages
        self.body = body; self.contentType = contentType
        self.prepared = Handoff(value: prepared)
    }
}

/// A finished picture: its PNG file and seed, and its id in the backend's picture store when it was stored there.
public struct JobImage: Sendable {
    public let png: Data
    public let seed: UInt64
    public let fileID: String?
    public init(png: Data, seed: UInt64, fileID: String? = nil) { self.png = png; self.seed = seed; self.fileID = fileID }
}

/// A streaming preview: its 0-based index and PNG.
public typealias PartialPNG = @Sendable (_ index: Int, _ png: Data) -> Void

/// A job a backend took: ``images(partial:)`` waits for its pictures.
public protocol SubmittedJob: Sendable {
    /// Runs or waits for the job; previews go to `partial`. Throws ``PipelineError/cancelled`` when its control was
    /// cancelled, an ``APIError`` for failures the caller should see as such.
    func images(partial: PartialPNG?) async throws -> [JobImage]
}

/// Runs the API's jobs and keeps its pictures.
public protocol ImagesBackend: Sendable {
    /// Takes `job`, or throws before any answer starts: 429 when the queue is full, 503 when the queue is unreachable
    /// or shutting down. Cancelling `control` withdraws the job, waiting or running.
    func submit(_ job: ImagesJob, control: RunControl) async throws -> any SubmittedJob
    /// The id under which `image` is served at `/v1/images/files/<id>.png` (storing it if it is not stored yet).
    func publish(_ image: JobImage) async throws -> String
    /// A stored picture, nil when unknown or expired.
    func file(_ id: String) async throws -> Data?
    /// `/health` fields: jobs running and queued and the backend's own.
    func health() async -> (ok: Bool, fields: [String: Any])
    /// SIGTERM: stop taking jobs (the in-process queue also drops the waiting ones; a shared queue keeps them).
    func shutDown()
}

/// The in-process backend: ``JobQueue`` admission, the engine on a thread of its own, ``ImageStore`` for URLs.
public final class LocalBackend: ImagesBackend {
    public let engine: UnCLIPEngine
    public let queue: JobQueue
    public let store: ImageStore
    public let metrics: ServerMetrics

    public init(engine: UnCLIPEngine, queue: JobQueue, store: ImageStore, metrics: ServerMetrics) {
        self.engine = engine; self.queue = queue; self.store = store; self.metrics = metrics
    }

    struct Submitted: SubmittedJob {
        let backend: LocalBackend
        let slot: JobQueue.Slot
        let job: ImagesJob
        let control: RunControl
        let waited: Duration

        func images(partial: PartialPNG?) async throws -> [JobImage] {
            let engine = backend.engine, metrics = backend.metrics, job = self.job, control = self.control
            metrics.waitSeconds.record(waited)
            metrics.running.increment()
            let start = ContinuousClock.now
            defer { metrics.running.decrement(); metrics.jobSeconds.record(ContinuousClock.now - start) }
            do {
                let images = try await backend.queue.execute(slot) { () throws -> [JobImage] in
                    let hooks = metrics.timingStages(PipelineHooks())
                    let delivered = try engine.run(job.prepared.value, control: control, hooks: hooks, partial: partial.map { send in
                        { p in if let png = try? PNG.encode(p.image) { send(p.index, png) } }
                    })
                    return try delivered.map { JobImage(png: try $0.png(), seed: $0.seed) }
                }
                if control.isCancelled { throw PipelineError.cancelled }
                metrics.images.increment(by: Int64(images.count))
                metrics.ended(.completed)
                return images
            } catch {
                metrics.ended(control.isCancelled ? .cancelled : .failed)
                throw error
            }
        }
    }

    public func submit(_ job: ImagesJob, control: RunControl) async throws -> any SubmittedJob {
        let start = ContinuousClock.now
        metrics.queueDepth.increment()
        defer { metrics.queueDepth.decrement() }
        do {
            let slot = try await queue.admit(control)
            return Submitted(backend: self, slot: slot, job: job, control: control, waited: ContinuousClock.now - start)
        } catch {
            metrics.ended(control.isCancelled ? .cancelled : .rejected)
            throw error
        }
    }

    public func publish(_ image: JobImage) async throws -> String { image.fileID ?? store.put(image.png) }

    public func file(_ id: String) async throws -> Data? { store.get(id) }

    public func health() async -> (ok: Bool, fields: [String: Any]) {
        let (running, waiting) = queue.load
        return (true, ["running": running, "queued": waiting])
    }

    public func shutDown() { queue.shutDown() }
}
