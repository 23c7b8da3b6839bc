// The queue's operations on PostgreSQL, one statement (or transaction) each: jobs are claimed with
// `FOR UPDATE SKIP LOCKED` (PostgreSQL's documented way for many consumers of one queue table), held by leases that
// their worker renews, and announced on one LISTEN/NOTIFY channel (payload "<event> <job id>"); the tables poll as a
// fallback whenever a notification is missed.
import Foundation
import ImagesServer
import Logging
import PostgresNIO

/// A notification on the queue's channel.
struct QueueEvent: Sendable, Equatable {
    enum Kind: String, Sendable { case queued, done, preview, cancel }
    let kind: Kind
    let job: UUID

    init?(payload: String) {
        let parts = payload.split(separator: " ")
        guard parts.count == 2, let kind = Kind(rawValue: String(parts[0])), let job = UUID(uuidString: String(parts[1])) else { return nil }
        self.kind = kind; self.job = job
    }
}

/// A job as a worker claims it.
struct ClaimedJob: Sendable {
    let id: UUID
    let model: String
    let body: Data
    let contentType: String?
    let operation: String
    let attempt: Int
    let maxAttempts: Int
    /// The lease had expired under another worker (a lost lease being taken over).
    let takenOver: Bool
    /// Seconds between submission and this claim.
    let waited: Double
}

/// Where a job is, as its API node sees it.
enum JobState: Sendable, Equatable {
    case waiting
    case done
    case failed(status: Int, message: String)
    case cancelled
    case gone
}

/// The SQL of the queue.
struct JobTable: Sendable {
    static let channel = "unclip_jobs"
    let client: PostgresClient
    let logger: Logger

    // MARK: API nodes

    /// Adds a job and wakes the workers.
    func enqueue(id: UUID, model: String, operation: String, count: Int, body: Data, contentType: String?, maxAttempts: Int) async throws {
        let note = "queued \(id.uuidString)"
        try await client.query("""
            WITH job AS (
                INSERT INTO unclip_jobs (id, model, operation, image_count, body, content_type, max_attempts)
                VALUES (\(id), \(model), \(operation), \(count), \(body), \(contentType), \(maxAttempts)) RETURNING id)
            SELECT pg_notify(\(Self.channel), \(note)) FROM job
            """, logger: logger)
    }

    /// Where job `id` is.
    func state(_ id: UUID) async throws -> JobState {
        for try await (state, status, message) in try await client.query(
            "SELECT state, error_status, error_message FROM unclip_jobs WHERE id = \(id)", logger: logger).decode((String, Int?, String?).self) {
            switch state {
            case "done": return .done
            case "failed": return .failed(status: status ?? 500, message: message ?? "the job failed")
            case "cancelled": return .cancelled
            default: return .waiting
            }
        }
        return .gone
    }

    /// A finished job's pictures, in order: (id, seed, PNG).
    func images(_ id: UUID) async throws -> [(id: String, seed: UInt64, png: Data)] {
        var out: [(String, UInt64, Data)] = []
        for try await (file, seed, png) in try await client.query(
            "SELECT id, seed, png FROM unclip_images WHERE job_id = \(id) ORDER BY position", logger: logger).decode((String, Int64, Data).self) {
            out.append((file, UInt64(bitPattern: seed), png))
        }
        return out
    }

    /// Streaming previews of job `id` after position `after`.
    func previews(_ id: UUID, after: Int) async throws -> [(position: Int, png: Data)] {
        var out: [(Int, Data)] = []
        for try await row in try await client.query(
            "SELECT position, png FROM unclip_previews WHERE job_id = \(id) AND position > \(after) ORDER BY position",
            logger: logger).decode((Int, Data).self) { out.append(row) }
        return out
    }

    /// Withdraws a job: a waiting one is cancelled at once, a running one's worker is told.
    func cancel(_ id: UUID) async throws {
        let note = "cancel \(id.uuidString)"
        try await client.query("""
            WITH job AS (
                UPDATE unclip_jobs SET cancel_requested = true,
                    state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
                    finished_at = CASE WHEN state = 'queued' THEN now() ELSE finished_at END
                WHERE id = \(id) AND state IN ('queued', 'running') RETURNING id)
            SELECT pg_notify(\(Self.channel), \(note)) FROM job
            """, logger: logger)
    }

    /// A stored picture that has not expired.
    func file(_ id: String) async throws -> Data? {
        for try await png in try await client.query("SELECT png FROM unclip_images WHERE id = \(id) AND expires_at > now()",
                                                    logger: logger).decode(Data.self) { return png }
        return nil
    }

    /// Jobs by state (all states, zeros included).
    func counts() async throws -> [String: Int] {
        var counts = ["queued": 0, "running": 0, "done": 0, "failed": 0, "cancelled": 0]
        for try await (state, n) in try await client.query("SELECT state, count(*)::integer FROM unclip_jobs GROUP BY state",
                                                           logger: logger).decode((String, Int).self) { counts[state] = n }
        return counts
    }

    // MARK: Workers

    /// Ends jobs whose lease expired on their last allowed attempt (failed) or whose caller withdrew them (cancelled).
    func reap() async throws -> Int {
        var n = 0
        for try await _ in try await client.query("""
            WITH dead AS (
                UPDATE unclip_jobs SET
                    state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'failed' END, finished_at = now(), error_status = 500,
                    error_message = 'the job was tried ' || attempts || ' times and its worker stopped each time (lease expired)'
                WHERE state = 'running' AND lease_expires_at < now() AND (attempts >= max_attempts OR cancel_requested)
                RETURNING id)
            SELECT pg_notify(\(Self.channel), 'done ' || id::text) FROM dead
            """, logger: logger) { n += 1 }
        return n
    }

    /// Claims the oldest waiting job (or one whose lease expired) for `worker`, or nil.
    func claim(worker: String, model: String, leaseSeconds: Double) async throws -> ClaimedJob? {
        let rows = try await client.query("""
            WITH next AS (
                SELECT id, state = 'running' AS taken_over FROM unclip_jobs
                WHERE model = \(model) AND NOT cancel_requested
                  AND (state = 'queued' OR (state = 'running' AND lease_expires_at < now() AND attempts < max_attempts))
                ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1)
            UPDATE unclip_jobs j SET state = 'running', worker = \(worker), attempts = j.attempts + 1,
                lease_expires_at = now() + make_interval(secs => \(leaseSeconds)), started_at = now()
            FROM next WHERE j.id = next.id
            RETURNING j.id, j.model, j.body, j.content_type, j.operation, j.attempts, j.max_attempts, next.taken_over,
                extract(epoch FROM now() - j.created_at)::float8
            """, logger: logger)
        for try await (id, model, body, type, op, attempt, maxAttempts, takenOver, waited) in rows.decode(
            (UUID, String, Data, String?, String, Int, Int, Bool, Double).self) {
            return ClaimedJob(id: id, model: model, body: body, contentType: type, operation: op, attempt: attempt,
                              maxAttempts: maxAttempts, takenOver: takenOver, waited: waited)
        }
        return nil
    }

    /// A lease at renewal.
    enum Lease: Sendable { case held, withdrawn, lost }

    /// Renews the lease: held, withdrawn by its caller (still this worker's to end), or lost (taken over or ended).
    func renew(_ job: ClaimedJob, worker: String, leaseSeconds: Double) async throws -> Lease {
        for try await (held, withdrawn) in try await client.query("""
            WITH mine AS (
                SELECT id, cancel_requested FROM unclip_jobs
                WHERE id = \(job.id) AND worker = \(worker) AND attempts = \(job.attempt) AND state = 'running'),
            renewed AS (
                UPDATE unclip_jobs j SET lease_expires_at = now() + make_interval(secs => \(leaseSeconds))
                FROM mine WHERE j.id = mine.id AND NOT mine.cancel_requested
                  AND j.worker = \(worker) AND j.attempts = \(job.attempt) AND j.state = 'running'   -- rechecked on the row as updated
                RETURNING j.id)
            SELECT EXISTS (SELECT 1 FROM renewed), EXISTS (SELECT 1 FROM mine WHERE cancel_requested)
            """, logger: logger).decode((Bool, Bool).self) {
            return held ? .held : withdrawn ? .withdrawn : .lost
        }
        return .lost
    }

    /// Stores a preview (a rerun's repeats of positions already stored are dropped) and tells the API nodes.
    func addPreview(_ job: ClaimedJob, position: Int, png: Data) async throws {
        let note = "preview \(job.id.uuidString)"
        try await client.query("""
            WITH p AS (INSERT INTO unclip_previews (job_id, position, png) VALUES (\(job.id), \(position), \(png))
                       ON CONFLICT DO NOTHING RETURNING job_id)
            SELECT pg_notify(\(Self.channel), \(note)) FROM p
            """, logger: logger)
    }

    /// Stores the pictures and marks the job done, if this worker still holds it (else false: nothing is written).
    func complete(_ job: ClaimedJob, worker: String, images: [(seed: UInt64, png: Data)], lifetime: TimeInterval) async throws -> Bool {
        let note = "done \(job.id.uuidString)"
        return try await client.withTransaction(logger: logger) { connection in
            var held = false
            for try await _ in try await connection.query("""
                UPDATE unclip_jobs SET state = 'done', finished_at = now(), lease_expires_at = NULL, error_status = NULL, error_message = NULL
                WHERE id = \(job.id) AND worker = \(worker) AND attempts = \(job.attempt) AND state = 'running' RETURNING id
                """, logger: logger) { held = true }
            guard held else { return false }
            for (position, image) in images.enumerated() {
                let seed = Int64(bitPattern: image.seed)
                try await connection.query("""
                    INSERT INTO unclip_images (id, job_id, position, seed, png, expires_at)
                    VALUES (\(ImageStore.newID()), \(job.id), \(position), \(seed), \(image.png), now() + make_interval(secs => \(lifetime)))
                    """, logger: logger)
            }
            try await connection.query("SELECT pg_notify(\(Self.channel), \(note))", logger: logger)
            return true
        }
    }

    /// Ends a job that raised an error: back to the queue while attempts remain and the error may pass (`retry`),
    /// else failed with `status` and `message`; withdrawn jobs end as cancelled.
    func fail(_ job: ClaimedJob, worker: String, status: Int, message: String, retry: Bool) async throws {
        let requeue = retry && job.attempt < job.maxAttempts
        try await client.query("""
            WITH j AS (
                UPDATE unclip_jobs SET
                    state = CASE WHEN cancel_requested THEN 'cancelled' WHEN \(requeue) THEN 'queued' ELSE 'failed' END,
                    finished_at = CASE WHEN \(requeue) AND NOT cancel_requested THEN NULL ELSE now() END,
                    lease_expires_at = NULL, worker = NULL, error_status = \(status), error_message = \(message)
                WHERE id = \(job.id) AND worker = \(worker) AND attempts = \(job.attempt) AND state = 'running'
                RETURNING state)
            SELECT pg_notify(\(Self.channel), CASE WHEN state = 'queued' THEN 'queued ' ELSE 'done ' END || \(job.id.uuidString))
            FROM j
            """, logger: logger)
    }

    /// Deletes finished jobs (their pictures and previews with them) older than `lifetime`, and expired pictures.
    func purge(lifetime: TimeInterval) async throws {
        try await client.query("DELETE FROM unclip_images WHERE expires_at < now()", logger: logger)
        try await client.query("DELETE FROM unclip_jobs WHERE finished_at < now() - make_interval(secs => \(lifetime))", logger: logger)
    }
}
