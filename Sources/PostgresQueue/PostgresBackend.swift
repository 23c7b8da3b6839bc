// An API node of a scaled-out deployment (`unclip-run serve --queue postgres://…`): it checks each request with its
// own engine (the same code as a single server, so bad requests get their 400 at once), enqueues the request as
// received in PostgreSQL, waits for the result (notification, with a poll as the fallback) and answers from
// PostgreSQL, so any node can answer any request or picture URL.
import Foundation
import Hummingbird
import ImagesServer
import Logging
import Pipeline
import PostgresNIO
import ServiceLifecycle

/// The images API's jobs in a shared PostgreSQL queue, run by `unclip-run worker`s.
public final class PostgresBackend: ImagesBackend, @unchecked Sendable {
    public let configuration: QueueConfiguration
    let client: PostgresClient
    let table: JobTable
    let wakeups = Wakeups()
    let metrics: ServerMetrics
    let model: String
    let maxQueue: Int
    let logger: Logger
    private let lock = NSLock()
    private var accepting = true
    private var migrated = false

    /// A backend for the model `model`; `maxQueue` bounds the jobs waiting in PostgreSQL (beyond: 429).
    public init(configuration: QueueConfiguration, model: String, maxQueue: Int, metrics: ServerMetrics, logger: Logger) {
        self.configuration = configuration
        client = PostgresClient(configuration: configuration.client, backgroundLogger: logger)
        table = JobTable(client: client, logger: logger)
        self.model = model; self.maxQueue = maxQueue; self.metrics = metrics; self.logger = logger
    }

    /// What runs beside the HTTP server: the connection pool, the notification listener, schema migration (retried
    /// until the database answers) and the purge of expired pictures.
    public var services: [any Service] {
        [PoolService(client: client),
         QueueListener(client: client, logger: logger) { [wakeups] event in
             guard let event else { wakeups.notifyAll(); return }
             if event.kind == .done || event.kind == .preview { wakeups.notify(event.job) }
         },
         Maintenance(table: table, configuration: configuration, logger: logger) { [weak self] in self?.setMigrated() }]
    }

    private func setMigrated() { lock.withLock { migrated = true } }
    private var state: (accepting: Bool, migrated: Bool) { lock.withLock { (accepting, migrated) } }

    struct Submitted: SubmittedJob {
        let backend: PostgresBackend
        let id: UUID
        let control: RunControl

        func images(partial: PartialPNG?) async throws -> [JobImage] {
            let b = backend, id = self.id
            b.wakeups.watch(id)
            defer { b.wakeups.unwatch(id) }
            control.whenCancelled {
                Task { do { try await b.call("cancel") { try await b.table.cancel(id) } } catch { b.logger.warning("cannot withdraw job \(id): \(error)") } }
                b.wakeups.notify(id)
            }
            var sent = -1, unavailableSince: ContinuousClock.Instant?, stopping: ContinuousClock.Instant?
            while true {
                if control.isCancelled { b.metrics.ended(.cancelled); throw PipelineError.cancelled }
                // SIGTERM: keep waiting for the job up to the drain time, then withdraw it and answer 503 (to retry).
                if stopping == nil && Task.isShuttingDownGracefully { stopping = .now }
                if let stopping, ContinuousClock.now - stopping > .milliseconds(Int(b.configuration.drainSeconds * 1000)) {
                    _ = try? await b.call("withdraw") { try await b.table.cancel(id) }
                    b.metrics.ended(.cancelled)
                    throw APIError(.serviceUnavailable, "The server is shutting down and the job had not finished; it was withdrawn. Please retry.")
                }
                do {
                    if let partial {
                        let after = sent
                        for p in try await b.call("previews", { try await b.table.previews(id, after: after) }) { partial(p.position, p.png); sent = p.position }
                    }
                    let state = try await b.call("job state") { try await b.table.state(id) }
                    if unavailableSince != nil { b.logger.notice("job queue reachable again"); unavailableSince = nil }
                    switch state {
                    case .waiting: break
                    case .done:
                        if let partial {                          // previews stored just before the pictures
                            let after = sent
                            for p in try await b.call("previews", { try await b.table.previews(id, after: after) }) { partial(p.position, p.png) }
                        }
                        let images = try await b.call("pictures") { try await b.table.images(id) }
                        b.metrics.images.increment(by: Int64(images.count))
                        b.metrics.ended(.completed)
                        return images.map { JobImage(png: $0.png, seed: $0.seed, fileID: $0.id) }
                    case .failed(let status, let message):
                        b.metrics.ended(.failed)
                        throw APIError(HTTPResponse.Status(code: status), message)
                    case .cancelled:
                        b.metrics.ended(.cancelled)
                        throw PipelineError.cancelled
                    case .gone:
                        b.metrics.ended(.failed)
                        throw APIError(.internalServerError, "The job \(id) is no longer in the queue.")
                    }
                } catch let e as QueueError {
                    // The database is away: the job is safe in it; keep waiting (the client's timeout bounds this).
                    if unavailableSince == nil { b.logger.warning("waiting for job \(id): \(e)"); unavailableSince = .now }
                }
                await b.wakeups.wait(id, seconds: b.configuration.pollSeconds)
            }
        }
    }

    /// Runs a database call with the request deadline; failures become ``QueueError/unavailable(_:)``.
    func call<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withDeadline(configuration.requestTimeoutSeconds, what, body)
    }

    static func unavailable(_ error: any Error) -> APIError {
        APIError(.serviceUnavailable, "The job queue is unavailable: \(error). Please retry after a short wait.")
    }

    public func submit(_ job: ImagesJob, control: RunControl) async throws -> any SubmittedJob {
        let (accepting, migrated) = state
        guard accepting else { metrics.ended(.rejected); throw APIError(.serviceUnavailable, "The server is shutting down.") }
        guard migrated else { metrics.ended(.rejected); throw Self.unavailable(QueueError.unavailable("not connected yet (\(configuration.displayName))")) }
        let id = UUID()
        do {
            let queued = try await call("queue depth") { try await self.table.counts()["queued"] ?? 0 }
            if queued >= maxQueue {
                metrics.ended(.rejected)
                var e = APIError(.tooManyRequests, "The server is busy (\(queued) jobs queued). Please retry after a short wait.", code: "rate_limit_exceeded")
                e.headers[.retryAfter] = "\(min(120, max(1, queued * 2)))"
                throw e
            }
            try await call("enqueue") {
                try await self.table.enqueue(id: id, model: self.model, operation: job.operation.rawValue, count: job.count, body: job.body,
                                             contentType: job.contentType, maxAttempts: self.configuration.maxAttempts)
            }
        } catch let e as QueueError {
            metrics.ended(.rejected)
            // The insert may still commit after the deadline: withdraw it, best effort, so it is not computed for nobody.
            let table = self.table
            Task { _ = try? await withDeadline(30, "withdraw") { try await table.cancel(id) } }
            throw Self.unavailable(e)
        }
        return Submitted(backend: self, id: id, control: control)
    }

    public func publish(_ image: JobImage) async throws -> String {
        guard let id = image.fileID else { throw APIError.internalError }
        return id
    }

    public func file(_ id: String) async throws -> Data? {
        do { return try await call("picture") { try await self.table.file(id) } } catch let e as QueueError { throw Self.unavailable(e) }
    }

    public func health() async -> (ok: Bool, fields: [String: Any]) {
        do {
            let counts = try await call("health") { try await self.table.counts() }
            metrics.setJobs(counts)
            return (state.migrated, ["queue": configuration.displayName, "queued": counts["queued"] ?? 0, "running": counts["running"] ?? 0])
        } catch {
            return (false, ["queue": configuration.displayName, "error": "\(error)"])
        }
    }

    /// Stops taking jobs; the waiting requests keep waiting (their jobs are safe in PostgreSQL) and are answered.
    public func shutDown() { lock.withLock { accepting = false } }
}

/// Runs a `PostgresClient`'s connection pool as a service.
struct PoolService: Service {
    let client: PostgresClient
    func run() async throws { await client.run() }
}

/// Migrates the schema (retrying until the database answers), then purges expired pictures and jobs every minute.
struct Maintenance: Service {
    let table: JobTable
    let configuration: QueueConfiguration
    let logger: Logger
    let migrated: @Sendable () -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var delay = 0.5
            while !Task.isCancelled {
                do {
                    try await withDeadline(30, "schema migration") { try await Schema.migrate(table.client, logger: logger) }
                    migrated()
                    break
                } catch let e as QueueError where { if case .schema = e { return true } else { return false } }() {
                    logger.critical("\(e)")
                    return
                } catch {
                    logger.warning("job queue not reachable (\(configuration.displayName)); retrying in \(delay) s: \(error)")
                    try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                    delay = min(5, delay * 2)
                }
            }
            while !Task.isCancelled {
                do { try await withDeadline(30, "purge") { try await table.purge(lifetime: configuration.imageLifetime) } } catch {
                    logger.debug("purge skipped: \(error)")
                }
                try? await Task.sleep(for: .milliseconds(Int(min(60, configuration.imageLifetime) * 1000)))
            }
        }
    }
}
