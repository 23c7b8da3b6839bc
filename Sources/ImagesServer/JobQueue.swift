// A bounded FIFO in front of the engine, as a web server's worker pool with a listen backlog: at most `maxConcurrent`
// jobs compute (each on a thread of its own, outside Swift's cooperative pool, which the blocking engine would stall),
// at most `maxQueue` wait; past that the caller gets 429 with Retry-After, as OpenAI's rate limiter answers.
import Foundation
import Hummingbird
import Pipeline

/// Admission, order and cancellation of engine jobs.
public final class JobQueue: @unchecked Sendable {
    public let maxConcurrent: Int
    public let maxQueue: Int
    private let lock = NSLock()
    private var running = 0
    private var waiting: [Ticket] = []
    private var accepting = true
    /// Mean seconds of the last jobs (for Retry-After).
    private var meanSeconds = 10.0

    /// A waiting job; both fields change under the queue's lock.
    final class Ticket: @unchecked Sendable {
        /// true: admitted; false: dropped (cancelled or shutting down); nil: still waiting.
        var outcome: Bool?
        var resume: ((Bool) -> Void)?
    }

    public init(maxConcurrent: Int, maxQueue: Int) {
        self.maxConcurrent = max(1, maxConcurrent)
        self.maxQueue = max(0, maxQueue)
    }

    /// Jobs computing and waiting now.
    public var load: (running: Int, waiting: Int) { lock.lock(); defer { lock.unlock() }; return (running, waiting.count) }

    /// A slot held by one job; given back by ``execute(_:_:)`` (or when it is dropped unused).
    public final class Slot: @unchecked Sendable {
        private weak var queue: JobQueue?
        private var released = false
        private let lock = NSLock()
        init(_ queue: JobQueue) { self.queue = queue }
        func release(seconds: Double?) {
            lock.lock(); defer { lock.unlock() }
            guard !released else { return }
            released = true
            queue?.finish(seconds: seconds)
        }
        deinit { release(seconds: nil) }
    }

    /// Waits for a slot, in arrival order. Throws 429 when the queue is full, 503 when the server is shutting down,
    /// ``PipelineError/cancelled`` when `control` is cancelled while waiting.
    public func admit(_ control: RunControl) async throws -> Slot {
        try await wait(control)
        return Slot(self)
    }

    /// Runs `body` on a thread of its own in `slot`, then frees the slot for the next job.
    public func execute<T: Sendable>(_ slot: Slot, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        let start = Date()
        defer { slot.release(seconds: Date().timeIntervalSince(start)) }
        return try await Self.onThread(body)
    }

    /// Runs `body` on a new thread (16 MiB stack), outside Swift's cooperative pool, which a blocking engine run
    /// would stall.
    public static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.stackSize = 16 << 20
            thread.start()
        }
    }

    /// ``admit(_:)`` then ``execute(_:_:)``.
    public func run<T: Sendable>(control: RunControl, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await execute(try await admit(control), body)
    }

    /// Stops admitting jobs and cancels the waiting ones (SIGTERM); running jobs finish.
    public func shutDown() {
        lock.lock()
        accepting = false
        let dropped = waiting
        waiting = []
        for t in dropped { t.outcome = false }
        lock.unlock()
        for t in dropped { t.resume?(false) }
    }

    private func wait(_ control: RunControl) async throws {
        let ticket = Ticket()
        let immediate: Bool = try {
            lock.lock(); defer { lock.unlock() }
            guard accepting else { throw Self.shuttingDown }
            if running < maxConcurrent && waiting.isEmpty { running += 1; return true }
            guard waiting.count < maxQueue else {
                var e = APIError(.tooManyRequests, "The server is busy (\(running) running, \(waiting.count) queued). Please retry after a short wait.",
                                 code: "rate_limit_exceeded")
                e.headers[.retryAfter] = "\(retryAfter())"
                throw e
            }
            waiting.append(ticket)
            return false
        }()
        if immediate { return }
        let admitted: Bool = await withCheckedContinuation { continuation in
            lock.lock()
            if let outcome = ticket.outcome {                      // admitted or dropped between the two locks
                lock.unlock()
                continuation.resume(returning: outcome)
                return
            }
            ticket.resume = { continuation.resume(returning: $0) }
            lock.unlock()
            control.whenCancelled { [weak self] in self?.drop(ticket) }
        }
        if !admitted {
            if control.isCancelled { throw PipelineError.cancelled }
            throw Self.shuttingDown
        }
    }

    /// Removes a waiting ticket whose client went away.
    private func drop(_ ticket: Ticket) {
        lock.lock()
        guard let i = waiting.firstIndex(where: { $0 === ticket }) else { lock.unlock(); return }
        waiting.remove(at: i)
        ticket.outcome = false
        let resume = ticket.resume
        lock.unlock()
        resume?(false)
    }

    private func finish(seconds: Double?) {
        lock.lock()
        if let seconds { meanSeconds = 0.8 * meanSeconds + 0.2 * seconds }
        var resume: ((Bool) -> Void)?
        if accepting, !waiting.isEmpty {                          // the slot passes to the next in line
            let next = waiting.removeFirst()
            next.outcome = true
            resume = next.resume
        } else {
            running -= 1
        }
        lock.unlock()
        resume?(true)
    }

    /// Seconds until a slot is likely free: the queue ahead, at the recent mean job time (1…120, as openai-python
    /// honours Retry-After only up to 120 s).
    private func retryAfter() -> Int {
        let ahead = Double(running + waiting.count) / Double(maxConcurrent)
        return min(120, max(1, Int((ahead * meanSeconds).rounded(.up))))
    }

    static let shuttingDown = APIError(.serviceUnavailable, "The server is shutting down.")
}
