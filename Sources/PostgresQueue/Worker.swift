// `unclip-run worker`: claims jobs from the shared queue, renews its lease while it computes, stores previews and
// pictures, and answers `/health` and `/metrics` on a port of its own. A worker that dies loses its lease and another
// reruns the job from its seed (the same pixels: runs are deterministic); a worker that loses its lease or the
// caller's interest stops computing within one step.
import Foundation
import Hummingbird
import ImageIO
import ImagesServer
import Logging
import NIOCore
import Pipeline
import PostgresNIO
import ServiceLifecycle

/// A worker process.
public final class Worker: @unchecked Sendable {
    public let engine: UnCLIPEngine
    public let configuration: QueueConfiguration
    public let name: String
    public let maxConcurrent: Int
    public let metrics: ServerMetrics
    let client: PostgresClient
    let table: JobTable
    let wakeups = Wakeups()
    let logger: Logger
    /// Wakes the claim loops when a job is queued.
    static let newWork = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
    private let lock = NSLock()
    private var running: [UUID: RunControl] = [:]
    private var migrated = false
    private var busy = 0

    public init(engine: UnCLIPEngine, configuration: QueueConfiguration, name: String, maxConcurrent: Int, logger: Logger) {
        self.engine = engine; self.configuration = configuration; self.name = name
        self.maxConcurrent = max(1, maxConcurrent); self.logger = logger
        metrics = ServerMetrics()
        client = PostgresClient(configuration: configuration.client, backgroundLogger: logger)
        table = JobTable(client: client, logger: logger)
        wakeups.watch(Self.newWork)
    }

    /// The pool, the listener, migrations and purges, and one claim loop per slot.
    public var services: [any Service] {
        [PoolService(client: client),
         QueueListener(client: client, logger: logger) { [weak self] event in self?.handle(event) },
         Maintenance(table: table, configuration: configuration, logger: logger) { [weak self] in self?.lock.withLock { self?.migrated = true } },
         ClaimLoops(worker: self)]
    }

    private func handle(_ event: QueueEvent?) {
        guard let event else { wakeups.notifyAll(); return }
        switch event.kind {
        case .queued: wakeups.notify(Self.newWork)
        case .cancel: lock.withLock { running[event.job] }?.cancel()
        case .done, .preview: break
        }
    }

    /// `/health` and `/metrics` of the worker.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/health") { _, _ -> Response in
            let (ready, jobs) = self.lock.withLock { (self.migrated, self.busy) }
            var ok = ready
            var fields: [String: Any] = ["worker": self.name, "model": self.engine.modelName, "queue": self.configuration.displayName,
                                         "running": jobs, "slots": self.maxConcurrent]
            do { _ = try await withDeadline(2, "health") { try await self.table.counts() } } catch { ok = false; fields["error"] = "\(error)" }
            fields["status"] = ok ? "ok" : "unavailable"
            let body = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
            return Response(status: ok ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: self.metrics.exposition())))
        }
        return router
    }

    /// Claims and runs jobs until shutdown; returns after the job in hand is done.
    func claimLoop(slot: Int) async {
        var backoff = 0.5
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            guard lock.withLock({ migrated }) else { try? await Task.sleep(for: .milliseconds(200)); continue }
            let job: ClaimedJob?
            do {
                _ = try await withDeadline(configuration.requestTimeoutSeconds, "reap") { try await self.table.reap() }
                job = try await withDeadline(configuration.requestTimeoutSeconds, "claim") {
                    try await self.table.claim(worker: self.name, model: self.engine.modelName, leaseSeconds: self.configuration.leaseSeconds)
                }
                backoff = 0.5
            } catch {
                logger.warning("cannot claim jobs; retrying in \(backoff) s: \(error)")
                try? await Task.sleep(for: .milliseconds(Int(backoff * 1000)))
                backoff = min(5, backoff * 2)
                continue
            }
            guard let job else { await wakeups.wait(Self.newWork, seconds: configuration.pollSeconds); continue }
            wakeups.notify(Self.newWork)               // another slot may take the next one
            await run(job)
        }
    }

    /// Runs one claimed job to its end (stored, failed, requeued, or dropped when the lease was lost).
    func run(_ job: ClaimedJob) async {
        var log = logger
        log[metadataKey: "job"] = "\(job.id)"
        log[metadataKey: "attempt"] = "\(job.attempt)"
        if job.takenOver { metrics.leasesLost.increment(); log.notice("taking over a job whose worker's lease expired") }
        metrics.waitSeconds.record(.milliseconds(Int(job.waited * 1000)))
        let control = RunControl()
        lock.withLock { running[job.id] = control; busy += 1 }
        metrics.running.increment()
        let start = ContinuousClock.now
        defer {
            lock.withLock { running[job.id] = nil; busy -= 1 }
            metrics.running.decrement()
        }
        let lease = LeaseKeeper(worker: self, job: job, control: control, log: log)
        let keeper = Task { await lease.keep() }
        defer { keeper.cancel() }

        let outcome: Result<[DeliveredImage], any Error>
        do { outcome = .success(try await compute(job, control: control)) } catch { outcome = .failure(error) }
        metrics.jobSeconds.record(ContinuousClock.now - start)
        do {
            switch outcome {
            case .success(let images):
                let files = try images.map { (seed: $0.seed, png: try $0.png()) }
                let stored = try await persist(log, "store pictures") {
                    try await self.table.complete(job, worker: self.name, images: files, lifetime: self.configuration.imageLifetime)
                }
                if stored {
                    metrics.images.increment(by: Int64(files.count)); metrics.ended(.completed)
                    log.info("job done images=\(files.count) seconds=\(String(format: "%.2f", (ContinuousClock.now - start).seconds))")
                } else {
                    metrics.leasesLost.increment(); log.warning("lease lost before the pictures were stored; another worker has the job")
                }
            case .failure(let error):
                if lease.lost {
                    metrics.leasesLost.increment(); log.warning("lease lost; stopped")
                    return
                }
                let api = APIError.from(error, method: .post, path: "")
                let cancelled = control.isCancelled
                let retry = !cancelled && api.status.code >= 500
                let reason = api.status.code >= 500 ? "\(error)" : api.message
                let message = cancelled ? "The request was cancelled before it completed."
                    : retry ? "The job failed on attempt \(job.attempt) of \(job.maxAttempts): \(reason)" : reason
                try await persist(log, "record the failure") {
                    try await self.table.fail(job, worker: self.name, status: cancelled ? 499 : api.status.code, message: message, retry: retry)
                }
                if cancelled { metrics.ended(.cancelled) } else if !(retry && job.attempt < job.maxAttempts) { metrics.ended(.failed) }
                log.notice(cancelled ? "job cancelled by its caller" : "job failed: \(message)")
            }
        } catch {
            log.error("cannot record the job's end: \(error)")
        }
    }

    /// Decodes and checks the request as its API node did, then runs it on a thread of its own; previews are stored
    /// as they come.
    func compute(_ job: ClaimedJob, control: RunControl) async throws -> [DeliveredImage] {
        guard let operation = ImagesOperation(rawValue: job.operation) else {
            throw APIError(.internalServerError, "unknown operation '\(job.operation)'")
        }
        let call = try ImagesCall.decode(operation, body: [UInt8](job.body), contentType: job.contentType)
        let prepared = Handoff(try engine.prepare(call))
        let engine = self.engine, table = self.table, metrics = self.metrics
        // Previews are stored in order by one task, and all of them before the job's pictures.
        let (previews, sink) = AsyncStream<(Int, Data)>.makeStream()
        let storer = Task {
            for await (position, png) in previews {
                _ = try? await withDeadline(5, "preview") { try await table.addPreview(job, position: position, png: png) }
            }
        }
        defer { sink.finish() }
        let images = try await JobQueue.onThread {
            try engine.run(prepared.value, control: control, hooks: metrics.timingStages(PipelineHooks())) { p in
                if let png = try? PNG.encode(p.image) { sink.yield((p.index, png)) }
            }
        }
        sink.finish()
        await storer.value
        return images
    }

    /// Retries a final write while the database is away and the lease may still hold (up to one lease).
    func persist<T: Sendable>(_ log: Logger, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + .milliseconds(Int(configuration.leaseSeconds * 1000))
        while true {
            do { return try await withDeadline(configuration.requestTimeoutSeconds, what, body) } catch {
                guard ContinuousClock.now < deadline else { throw error }
                log.warning("cannot \(what) yet: \(error)")
                try await Task.sleep(for: .seconds(1))
            }
        }
    }
}

/// Renews a job's lease every third of its length; cancels the run when the lease is lost (taken over, withdrawn,
/// or not renewable for a whole lease because the database is away).
final class LeaseKeeper: @unchecked Sendable {
    let worker: Worker, job: ClaimedJob, control: RunControl, log: Logger
    private let lock = NSLock()
    private var _lost = false
    var lost: Bool { lock.withLock { _lost } }

    init(worker: Worker, job: ClaimedJob, control: RunControl, log: Logger) {
        self.worker = worker; self.job = job; self.control = control; self.log = log
    }

    func keep() async {
        let c = worker.configuration
        var renewed = ContinuousClock.now
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Int(c.leaseSeconds * 1000 / 3)))
            if Task.isCancelled { return }
            do {
                let lease = try await withDeadline(c.requestTimeoutSeconds, "renew lease") {
                    try await self.worker.table.renew(self.job, worker: self.worker.name, leaseSeconds: c.leaseSeconds)
                }
                switch lease {
                case .held: renewed = .now; continue
                case .withdrawn: control.cancel()             // its caller went away: recorded as cancelled
                case .lost: lock.withLock { _lost = true }; control.cancel()
                }
                return
            } catch {
                if ContinuousClock.now - renewed > .milliseconds(Int(c.leaseSeconds * 1000)) {
                    log.warning("lease could not be renewed for a whole lease: stopping the job")
                    lock.withLock { _lost = true }
                    control.cancel()
                    return
                }
            }
        }
    }
}

/// The slots' claim loops as one service, so that all of them see a graceful shutdown at once (it is a task-local
/// their child tasks inherit) and stop claiming while the jobs in hand finish.
struct ClaimLoops: Service {
    let worker: Worker
    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            for slot in 0..<worker.maxConcurrent { group.addTask { await worker.claimLoop(slot: slot) } }
        }
    }
}

/// A value handed to a job thread; the job is its only user from then on.
struct Handoff<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
