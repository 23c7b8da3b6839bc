// LISTEN on the queue's channel on a connection of its own, for as long as the process runs: postgres-nio's
// `PostgresConnection.listen(on:consume:)`, re-established after the database goes away (backing off up to 5 s).
// Waiters wait for a notification about their job or a poll interval, whichever comes first, so a missed
// notification (while the database was away) costs at most one poll.
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Wakes the tasks waiting on a job.
final class Wakeups: @unchecked Sendable {
    private let lock = NSLock()
    private var waiters: [UUID: [CheckedContinuation<Void, Never>]] = [:]
    /// Jobs someone watches, with a notification that came while nobody was waiting.
    private var watched: [UUID: Bool] = [:]

    /// Starts recording notifications for `id` (so one that comes between two waits is not lost).
    func watch(_ id: UUID) { lock.withLock { watched[id] = watched[id] ?? false } }
    func unwatch(_ id: UUID) {
        let pending: [CheckedContinuation<Void, Never>] = lock.withLock {
            watched[id] = nil
            return waiters.removeValue(forKey: id) ?? []
        }
        for c in pending { c.resume() }
    }

    /// Wakes the waiters of `id` (or marks it so the next wait returns at once).
    func notify(_ id: UUID) {
        let pending: [CheckedContinuation<Void, Never>] = lock.withLock {
            if watched[id] != nil && waiters[id] == nil { watched[id] = true }
            return waiters.removeValue(forKey: id) ?? []
        }
        for c in pending { c.resume() }
    }

    /// Wakes every waiter (after a reconnection, when notifications may have been missed).
    func notifyAll() {
        let pending: [CheckedContinuation<Void, Never>] = lock.withLock {
            defer { waiters = [:] }
            for id in watched.keys { watched[id] = true }
            return waiters.values.flatMap { $0 }
        }
        for c in pending { c.resume() }
    }

    /// Returns at the next notification of `id`, or after `seconds`.
    func wait(_ id: UUID, seconds: Double) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now: Bool = lock.withLock {
                if watched[id] == true { watched[id] = false; return true }
                waiters[id, default: []].append(c)
                return false
            }
            if now { c.resume(); return }
            Task { [weak self] in                       // the poll (it may wake a later wait early: one more poll)
                try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                self?.notify(id)
            }
        }
    }
}

/// The process's listener: hands every queue event to `handle`.
struct QueueListener: Service {
    let client: PostgresClient
    let logger: Logger
    /// Called with each event; after a reconnection with nil (events may have been missed).
    let handle: @Sendable (QueueEvent?) -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var backoff = 0.25
            while !Task.isCancelled {
                let start = ContinuousClock.now
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: JobTable.channel) { notifications in
                            handle(nil)
                            for try await n in notifications {
                                if let event = QueueEvent(payload: n.payload) { handle(event) }
                            }
                        }
                    }
                } catch {
                    if Task.isCancelled { break }
                    logger.warning("job queue notifications lost; reconnecting in \(backoff) s", metadata: ["error": "\(String(describing: error).prefix(200))"])
                }
                if ContinuousClock.now - start > .seconds(10) { backoff = 0.25 }   // it had been listening: start over
                try? await Task.sleep(for: .milliseconds(Int(backoff * 1000)))
                backoff = min(5, backoff * 2)
            }
        }
    }
}
